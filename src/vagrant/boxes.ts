import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import * as z from 'zod';
import { CommandError, OperationError } from '../errors.js';

/**
 * Vagrant's box store, as kubeadm-vagrant sees it: which boxes are added (`vagrant box list
 * --machine-readable`), where Vagrant unpacked each one, and the record a box of ours carries
 * (`kubeadm-vagrant.json`, added to the box archive by `box build`; Vagrant unpacks every member
 * of a box archive into the box's directory). A box without that record is not ours: never
 * replaced, never removed.
 */

/** The file in a box that says kubeadm-vagrant built it, from what, and what is baked into it. */
export const BOX_RECORD_FILE = 'kubeadm-vagrant.json';

const digestText = z.string().regex(/^(sha256|sha512):[0-9a-f]+$/);

/** What `box build --bake` put into a box: checked by `up` against what its plan wants. */
export const bakeRecordSchema = z.object({
  kubernetes: z.string(),
  /** The artifacts the box's installs came from: path in v<patch>/<arch>/ → sha256, exactly those the plan needs. */
  files: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/)),
  /** sha256 over the sorted `<hex>  <path>` lines of `files`: one value to compare, in the guest too. */
  bakeHash: z.string().regex(/^[0-9a-f]{64}$/),
  containerd: z.enum(['artifacts', 'distro']),
  cni: z.string(),
  images: z.array(z.string()),
  /** The plain box it was baked from. */
  base: z.string(),
});
export type BakeRecord = z.infer<typeof bakeRecordSchema>;

export const boxRecordSchema = z.object({
  builtBy: z.literal('kubeadm-vagrant'),
  recordVersion: z.literal(1),
  name: z.string(),
  distro: z.string(),
  provider: z.string(),
  arch: z.enum(['amd64', 'arm64']),
  builtAt: z.string(),
  diskGiB: z.number().int().positive(),
  source: z.object({
    url: z.string(),
    file: z.string(),
    /** The digest the image was checked against (the signed checksum file's, or the catalog's pin). */
    digest: digestText,
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    /** How that digest was trusted, in words: the signing key, or the catalog's pin. */
    verifiedBy: z.string(),
    catalog: z.string(),
  }),
  baked: bakeRecordSchema.optional(),
});
export type BoxRecord = z.infer<typeof boxRecordSchema>;

export interface VagrantBox {
  name: string;
  provider: string;
  version: string;
  architecture?: string;
}

/** A Vagrant box with where Vagrant keeps it and, for ours, its record. */
export interface StoredBox extends VagrantBox {
  dir?: string;
  record?: BoxRecord;
  /** Set when the box has a record file that cannot be read: treated as not ours. */
  recordProblem?: string;
}

export const VAGRANT_ENV = { VAGRANT_CHECKPOINT_DISABLE: '1', VAGRANT_BOX_UPDATE_CHECK_DISABLE: '1' } as const;

export function vagrantHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.VAGRANT_HOME?.trim() || join(env.HOME?.trim() || homedir(), '.vagrant.d');
}

/** Vagrant's escape of a box name in its directory name (`a/b` → `a-VAGRANTSLASH-b`). */
export function boxDirName(name: string): string {
  return name.replaceAll('/', '-VAGRANTSLASH-');
}

/** Where Vagrant unpacked a box: `boxes/<name>/<version>/[<arch>/]<provider>/` (the architecture level from 2.4 on). */
export function boxDirectory(home: string, box: VagrantBox): string | undefined {
  const base = join(home, 'boxes', boxDirName(box.name), box.version);
  const candidates = [...(box.architecture ? [join(base, box.architecture, box.provider)] : []), join(base, box.provider)];
  return candidates.find((d) => existsSync(join(d, 'metadata.json')));
}

/** `vagrant box list --machine-readable`: box-name, then its box-provider, box-version (and box-architecture from 2.4). */
export function parseBoxList(output: string): VagrantBox[] {
  const boxes: VagrantBox[] = [];
  let current: Partial<VagrantBox> | undefined;
  const flush = () => {
    if (current?.name && current.provider && current.version) boxes.push(current as VagrantBox);
    current = undefined;
  };
  for (const line of output.split('\n')) {
    const m = /^\d+,[^,]*,(box-[a-z]+),(.*)$/.exec(line.trim());
    if (!m) continue;
    const value = m[2]!.replaceAll('%!(VAGRANT_COMMA)', ',');
    if (m[1] === 'box-name') {
      flush();
      current = { name: value };
    } else if (current && m[1] === 'box-provider') current.provider = value;
    else if (current && m[1] === 'box-version') current.version = value;
    else if (current && m[1] === 'box-architecture' && value !== '') current.architecture = value;
  }
  flush();
  return boxes;
}

/** A box's record, when it has one. */
export function readBoxRecord(dir: string): { record?: BoxRecord; problem?: string } {
  const file = join(dir, BOX_RECORD_FILE);
  if (!existsSync(file)) return {};
  try {
    const parsed = boxRecordSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    return parsed.success ? { record: parsed.data } : { problem: `${file} is not a kubeadm-vagrant box record (${parsed.error.issues[0]?.message ?? 'invalid'})` };
  } catch (err) {
    return { problem: `${file} cannot be read (${err instanceof Error ? err.message : String(err)})` };
  }
}

async function vagrant(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  const title = `vagrant ${args.join(' ')}`;
  const r = await execa('vagrant', args, { env: { ...env, ...VAGRANT_ENV }, reject: false, stdin: 'ignore', timeout: timeoutMs, all: true });
  if ((r as { code?: string }).code === 'ENOENT') throw new OperationError('vagrant is not installed (not found on PATH)', { command: title });
  if (r.timedOut) throw new CommandError(`${title} did not finish within ${Math.round(timeoutMs / 1000)} s`, { command: title });
  if (r.exitCode !== 0) throw new CommandError(`${title} failed (exit ${r.exitCode})`, { command: title, output: String(r.all ?? '').trim().split('\n').slice(-15).join('\n') });
  return String(r.stdout ?? '');
}

/** `Vagrant 2.3.4` → `2.3.4`. */
export async function vagrantVersion(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const out = await vagrant(['--version'], env, 60_000);
  const v = /(\d+\.\d+\.\d+)/.exec(out)?.[1];
  if (!v) throw new OperationError(`vagrant --version printed no version: ${out.trim()}`);
  return v;
}

/** Every box Vagrant has, with its directory and, for ours, its record. */
export async function listBoxes(env: NodeJS.ProcessEnv = process.env): Promise<StoredBox[]> {
  const home = vagrantHome(env);
  return parseBoxList(await vagrant(['box', 'list', '--machine-readable'], env, 120_000)).map((box) => {
    const dir = boxDirectory(home, box);
    if (!dir) return box;
    const { record, problem } = readBoxRecord(dir);
    return { ...box, dir, ...(record ? { record } : {}), ...(problem ? { recordProblem: problem } : {}) };
  });
}

/** The boxes of a name and provider (any version, any architecture). */
export function boxesNamed(boxes: readonly StoredBox[], name: string, provider: string): StoredBox[] {
  return boxes.filter((b) => b.name === name && b.provider === provider);
}

/** `vagrant box add --name NAME [--force] FILE` (the provider and everything else come from the box's metadata.json). */
export async function addBox(file: string, name: string, opts: { force: boolean }, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await vagrant(['box', 'add', '--name', name, ...(opts.force ? ['--force'] : []), file], env, 30 * 60_000);
}

/** `vagrant box remove NAME --provider P --box-version V`: refused by Vagrant while a machine uses it. */
export async function removeBox(box: VagrantBox, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await vagrant(['box', 'remove', box.name, '--provider', box.provider, '--box-version', box.version, ...(box.architecture ? ['--architecture', box.architecture] : [])], env, 10 * 60_000);
}
