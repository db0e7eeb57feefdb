import * as z from 'zod';
import ipaddr from 'ipaddr.js';
import { CNI_IDS } from '../cni/index.js';
import { DEFAULT_DISTRO } from '../distros.js';
import { cidrRange, hasHostBits, intToIp, ipToInt, isIPv4Cidr, SPECIAL_RANGES, slash24, specialRangesIn, contains } from '../net.js';
import { DEFAULT_PROVIDER, PROVIDER_IDS, PROVIDER_SECTIONS } from '../providers/index.js';
import { REGISTRY_HOST } from '../oci/reference.js';
import { TOKEN_PATTERN } from '../token.js';
import { MINORS_AHEAD_ACCEPTED, NEWEST_MINOR, NEWEST_PROVEN_MINOR, OLDEST_MINOR } from '../versions.js';
import { BOOLEAN_WORD_LIST, booleanOf } from './boolean.js';
import { parseDuration, ttlProblem } from './duration.js';

export const API_VERSION = 'kubeadm-vagrant/v1alpha1';
export const KIND = 'Cluster';
/** The oldest Kubernetes minor we render for: kubeadm config v1beta4 exists from 1.31 (see src/versions.ts). */
export const MIN_K8S_MINOR = OLDEST_MINOR;

/**
 * kubeadm's preflight minimums for a control-plane node (NumCPU, Mem checks). Mem compares the
 * usable RAM, after the kernel's reservation, with 1700 MB: a 1700 MiB VM fails it, 2048 passes.
 */
export const CONTROL_PLANE_MIN_CPUS = 2;
export const CONTROL_PLANE_MIN_MEMORY_MIB = 2048;
/** The shortest tokenTTL accepted: under software emulation workers may join some minutes after kubeadm init. */
export const MIN_TOKEN_TTL = '10m';
const MIN_TOKEN_TTL_MS = parseDuration(MIN_TOKEN_TTL)!;

/** kube-proxy's modes; ipvs is deprecated upstream (1.35) and not offered. */
export const PROXY_MODES = ['iptables', 'nftables'] as const;
/**
 * containerd 2.x from the artifacts (its official release archives, fetched and verified on the
 * host), or the distro's own package, installed by the guest's package manager from the box's
 * package repositories (containerd 1.x on most distros today: only when asked for).
 */
export const CONTAINERD_SOURCES = ['release', 'distro'] as const;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Why a Kubernetes version is refused, in one sentence, or undefined when it is one this tool can
 * render: `1.N` or `1.N.P` without leading zeros, N from the oldest supported minor to a couple
 * past the newest known (those, and minors past their end of life, get a warning instead).
 */
export function versionProblem(v: string): string | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?$/.exec(v);
  if (/^v\d/i.test(v)) return `"${v}" is not a Kubernetes version: drop the "v" (${v.slice(1)})`;
  if (!m) return `"${v}" is not a Kubernetes version: give a minor such as "${NEWEST_PROVEN_MINOR}" or a patch such as "${NEWEST_PROVEN_MINOR}.2"`;
  const [major, minor, patch] = [m[1]!, m[2]!, m[3]];
  const leadingZero = [major, minor, patch].find((part) => part !== undefined && part.length > 1 && part.startsWith('0'));
  if (leadingZero !== undefined) return `"${v}" has a leading zero (${leadingZero}); write ${[major, minor, patch].filter((x) => x !== undefined).map((x) => String(Number(x))).join('.')}`;
  if (major !== '1') return `Kubernetes ${major}.x does not exist; every release is 1.x (the newest this tool knows is ${NEWEST_PROVEN_MINOR})`;
  const n = Number(minor);
  if (n < OLDEST_MINOR) return `1.${n} is not supported: kubeadm-vagrant needs 1.${OLDEST_MINOR} or newer (kubeadm config v1beta4)`;
  if (n > NEWEST_MINOR + MINORS_AHEAD_ACCEPTED) return `1.${n} is not a Kubernetes release: the newest known minor is 1.${NEWEST_MINOR}`;
  if (patch !== undefined && patch.length > 2) return `"${v}": patch releases are numbered 0 to 99`;
  return undefined;
}

function enumOf<T extends readonly [string, ...string[]]>(values: T, what: string) {
  return z.enum(values, { error: () => `must be one of ${values.join(', ')} (the ${what})` });
}

function count(min: number, max: number, what: string) {
  return z
    .number({ error: () => `must be a whole number (${what})` })
    // Not .int(): it also refuses a huge whole number as "not a fraction"; the bound says what is wrong then.
    .refine(Number.isInteger, { error: () => `must be a whole number, not a fraction (${what})` })
    .min(min, { error: () => `must be at least ${min} (${what})` })
    .max(max, { error: () => `must be at most ${max} (${what})` });
}

const ipv4 = z.string({ error: () => 'must be an IPv4 address such as 192.168.56.10' }).refine(
  (s) => ipaddr.IPv4.isValidFourPartDecimal(s),
  { error: () => 'must be an IPv4 address in dotted form, such as 192.168.56.10' },
);

/** The special range an address lies in, if any. */
function specialRangeOf(ip: string): string | undefined {
  return SPECIAL_RANGES.find((r) => contains(cidrRange(r.cidr)!, ip))?.what;
}

/** A node's address: an IPv4 unicast address that a host-only network can carry. */
const nodeAddress = ipv4.superRefine((s, ctx) => {
  if (!ipaddr.IPv4.isValidFourPartDecimal(s)) return;
  const what = specialRangeOf(s);
  if (what) ctx.addIssue({ code: 'custom', message: `${s} is in ${what}; a node needs a private (or public) unicast address, such as 192.168.56.10` });
});

/** The control plane's address: a node address that is not the .0 or .255 of its /24 (the node network). */
const masterAddress = nodeAddress.superRefine((s, ctx) => {
  if (!ipaddr.IPv4.isValidFourPartDecimal(s) || specialRangeOf(s)) return;
  const host = ipToInt(s) % 256;
  const net = slash24(s);
  if (host === 0 || host === 255) ctx.addIssue({ code: 'custom', message: `${s} is the ${host === 0 ? 'network' : 'broadcast'} address of ${net.cidr}`, params: { hint: `pick a host address such as ${intToIp(net.first + 10)}` } });
});

const cidr = z.string({ error: () => 'must be an IPv4 CIDR such as 10.244.0.0/16' }).refine(
  (s) => isIPv4Cidr(s),
  { error: () => 'must be an IPv4 CIDR in the form a.b.c.d/n, such as 10.244.0.0/16' },
);

/**
 * kubeadm gives every node a /24 of the pod subnet (the controller manager's node-cidr-mask-size),
 * and refuses a node mask more than 16 bits longer than the pod subnet's prefix: a /7 fails at
 * `kubeadm init`.
 */
export const NODE_POD_MASK = 24;
const MAX_NODE_MASK_DIFFERENCE = 16;

/**
 * What makes a subnet unusable on its own, whatever the other fields say: host bits, a special
 * range, a size kubeadm or the API server refuses. The first problem only: one bad value, one error.
 */
function subnetProblem(kind: 'pod' | 'service', s: string): { message: string; hint: string } | undefined {
  const range = cidrRange(s)!;
  const network = `${intToIp(range.first)}/${range.prefix}`;
  if (hasHostBits(s)) return { message: `${s} has host bits set`, hint: `use the network address: ${network}` };
  const special = specialRangesIn(range);
  if (special.length > 0) {
    const more = special.length > 1 ? ` and ${special.length - 1} other special-purpose range${special.length > 2 ? 's' : ''}` : '';
    return { message: `${s} overlaps ${special[0]!.what}${more}: a host-only network cannot carry such addresses`, hint: `use a private range, such as ${kind === 'pod' ? '10.244.0.0/16' : '10.96.0.0/12'}` };
  }
  if (kind === 'pod' && range.prefix > NODE_POD_MASK) return { message: `${s}: /${range.prefix} is smaller than the /${NODE_POD_MASK} that every node gets for its pods`, hint: 'use a /16 such as 10.244.0.0/16' };
  if (kind === 'pod' && NODE_POD_MASK - range.prefix > MAX_NODE_MASK_DIFFERENCE) {
    return {
      message: `${s}: /${range.prefix} is too large: kubeadm init refuses a pod subnet whose node mask (/${NODE_POD_MASK}) is more than ${MAX_NODE_MASK_DIFFERENCE} bits longer than its prefix`,
      hint: `use a /${NODE_POD_MASK - MAX_NODE_MASK_DIFFERENCE} or smaller, such as 10.244.0.0/16`,
    };
  }
  if (kind === 'service' && range.prefix < 12) return { message: `${s}: /${range.prefix} is larger than /12, the largest service range the API server accepts`, hint: 'use a /12 or smaller, such as 10.96.0.0/12' };
  if (kind === 'service' && range.prefix > 28) return { message: `${s}: /${range.prefix} leaves too few service addresses`, hint: 'use a /24 or larger, such as 10.96.0.0/12' };
  return undefined;
}

const subnet = (kind: 'pod' | 'service') =>
  cidr.superRefine((s, ctx) => {
    if (!isIPv4Cidr(s)) return;
    const problem = subnetProblem(kind, s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem.message, params: { hint: problem.hint } });
  });

/** A boolean field: the one rule for booleans (./boolean.ts), as the classic variables and flags have it. */
const booleanField = (value: boolean) =>
  z.preprocess((v) => booleanOf(v) ?? v, z.boolean({ error: () => `must be one of ${BOOLEAN_WORD_LIST} (any case)` })).default(value);

/** An http(s) URL without credentials, query or fragment: a mirror's base. */
export function mirrorUrlProblem(text: string): string | undefined {
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) return `"${text}" is not an http:// or https:// URL`;
  if (url.username || url.password || url.search || url.hash) return `"${text}": a mirror's base URL has no credentials, query or fragment`;
  return undefined;
}

const mirrorUrl = z.string({ error: () => 'must be an http:// or https:// URL (a string)' }).superRefine((s, ctx) => {
  const problem = mirrorUrlProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** `mirrors:`: where `artifacts fetch` downloads from instead of the internet, and pins for manifests the project does not pin. */
const mirrors = z
  .strictObject({
    files: z.union([z.literal(''), mirrorUrl]).default(''),
    registries: z
      .record(
        z.string().regex(REGISTRY_HOST, { error: () => 'a registry host such as registry.k8s.io or localhost:5000 (no scheme, no path)' }),
        mirrorUrl,
        {
          error: (iss) =>
            iss.code === 'invalid_key'
              ? 'is not a registry host such as registry.k8s.io or localhost:5000 (no scheme, no path)'
              : 'must be a mapping of registry host to mirror URL, e.g. {registry.k8s.io: http://10.0.0.2:5000/registry.k8s.io}',
        },
      )
      .default({}),
    manifests: z
      .record(z.string().regex(/^[\w.-]+$/, { error: () => 'a manifest file name such as tigera-operator.yaml' }), z.string().regex(/^[0-9a-fA-F]{64}$/, { error: () => 'must be a sha256: 64 hex digits' }), {
        error: (iss) => (iss.code === 'invalid_key' ? 'is not a manifest file name such as tigera-operator.yaml' : 'must be a mapping of manifest file name to its sha256'),
      })
      .default({}),
  })
  .prefault({});

const boxOverride = z.union(
  [
    z.string(),
    z.strictObject({
      name: z.string().min(1, { error: () => 'box.name must not be empty' }),
      version: z.string().optional(),
    }),
  ],
  { error: () => 'must be a box name (a string) or {name, version}' },
);

export const clusterSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION, { error: () => `must be ${API_VERSION}` }),
  kind: z.literal(KIND, { error: () => `must be ${KIND}` }),
  name: z
    .string({ error: () => 'must be a string' })
    .regex(DNS_LABEL, { error: () => 'must be a DNS label: lowercase letters, digits and "-", 1-63 characters, starting and ending with a letter or digit' })
    .default('demo'),
  provider: enumOf(PROVIDER_IDS, 'Vagrant provider').default(DEFAULT_PROVIDER),
  // One of the catalog's distros: checked against the catalog validation is given (../config/validate.ts), so that the schema reads no file.
  distro: z.string({ error: () => 'must be a string: a distro of the catalog, boxes/catalog.json' }).default(DEFAULT_DISTRO),
  box: boxOverride.default(''),
  // With the catalog's box: use (and build when missing) kubeadm-vagrant/<distro>-k8s-<patch>, this
  // cluster's Kubernetes baked in (`box build --bake`), so that up installs nothing on the machines.
  bake: booleanField(false),
  kubernetes: z
    .strictObject({
      version: z
        .string({ error: () => `must be a quoted string such as "${NEWEST_PROVEN_MINOR}" or "${NEWEST_PROVEN_MINOR}.2"` })
        .superRefine((v, ctx) => {
          const problem = versionProblem(v);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        })
        .default(NEWEST_PROVEN_MINOR),
      cni: enumOf(CNI_IDS, 'pod network add-on').default('flannel'),
      podSubnet: subnet('pod').default('10.244.0.0/16'),
      serviceSubnet: subnet('service').default('10.96.0.0/12'),
      token: z
        .string({ error: () => 'must be a string' })
        .refine((t) => t === '' || TOKEN_PATTERN.test(t), {
          error: () => 'must match [a-z0-9]{6}.[a-z0-9]{16}, or be empty to have one generated',
        })
        .default(''),
      // YAML reads a bare 0 as a number; it gets the same answer as "0".
      tokenTTL: z
        .preprocess(
          (v) => (typeof v === 'number' ? String(v) : v),
          z.string({ error: () => 'must be a duration such as "24h" or "90m"' }).superRefine((s, ctx) => {
            const problem = ttlProblem(s);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
            else if (parseDuration(s)! < MIN_TOKEN_TTL_MS) ctx.addIssue({ code: 'custom', message: `must be at least ${MIN_TOKEN_TTL}: workers join with this token after the control plane is up, and a shorter one expires first` });
          }),
        )
        .default('24h'),
      proxyMode: enumOf(PROXY_MODES, "kube-proxy's mode; ipvs is deprecated upstream").default('iptables'),
    })
    .prefault({}),
  runtime: z
    .strictObject({
      containerd: enumOf(CONTAINERD_SOURCES, 'where containerd comes from').default('release'),
    })
    .prefault({}),
  offline: z
    .strictObject({
      dir: z.string({ error: () => 'must be a directory path (a string), or empty to install from the cache (`kubeadm-vagrant artifacts fetch` fills it)' }).default(''),
    })
    .prefault({}),
  mirrors,
  network: z
    .strictObject({
      masterIP: masterAddress.default('192.168.56.10'),
      workerIPStart: z.union([z.literal(''), nodeAddress]).default(''),
    })
    .prefault({}),
  controlPlane: z
    .strictObject({
      cpus: count(CONTROL_PLANE_MIN_CPUS, 64, `kubeadm's preflight needs ${CONTROL_PLANE_MIN_CPUS} CPUs on the control plane`).default(2),
      memory: count(CONTROL_PLANE_MIN_MEMORY_MIB, 262144, `MiB; kubeadm's preflight needs ${CONTROL_PLANE_MIN_MEMORY_MIB} MiB on the control plane`).default(2048),
    })
    .prefault({}),
  workers: z
    .strictObject({
      count: count(0, 252, 'number of worker machines').default(2),
      cpus: count(1, 64, 'CPUs per worker').default(1),
      memory: count(512, 262144, 'MiB per worker').default(1536),
    })
    .prefault({}),
  addons: z
    .strictObject({
      dashboard: booleanField(false),
    })
    .prefault({}),
  // What `up` sets up: the original project's SETUP_MASTER and SETUP_NODES (both false is refused
  // by `up` and `config validate` only: see setupProblem in ./validate.ts).
  setup: z
    .strictObject({
      controlPlane: booleanField(true),
      workers: booleanField(true),
    })
    .prefault({}),
  // Each provider's own section (`libvirt: {driver}`), from the provider registry.
  ...PROVIDER_SECTIONS,
});

export type ClusterConfig = z.infer<typeof clusterSchema>;

/** The defaults, as a full config. */
export function defaultConfig(): ClusterConfig {
  return clusterSchema.parse({ apiVersion: API_VERSION, kind: KIND });
}
