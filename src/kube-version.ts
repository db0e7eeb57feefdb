/** Kubernetes versions as text and numbers: pure, importing nothing (the verify checks and the upgrade both read them). */

/** `1.37.2` (or `1.37` for a minor): numbers, without the `v`. */
export interface Version {
  major: number;
  minor: number;
  patch?: number;
}

const VERSION = /^v?(\d+)\.(\d+)(?:\.(\d+))?$/;

/** `1.37`, `1.37.2`, `v1.37.2` (what kubectl and the kubelet print; build metadata after `+` or `-` is ignored). */
export function parseVersion(text: string): Version | undefined {
  const m = VERSION.exec(text.trim().replace(/[-+].*$/, ''));
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), ...(m[3] !== undefined ? { patch: Number(m[3]) } : {}) };
}

/** The version as this tool writes it: `1.37.2` (or `1.37`). */
export function formatVersion(v: Version): string {
  return `${v.major}.${v.minor}${v.patch !== undefined ? `.${v.patch}` : ''}`;
}

/** `1.37.2` → `1.37`. */
export function minorOf(version: string): string {
  const v = parseVersion(version);
  return v ? `${v.major}.${v.minor}` : version;
}

/** Orders two versions; a minor without a patch sorts before every patch of it. */
export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a);
  const y = parseVersion(b);
  if (!x || !y) throw new Error(`internal: not versions: ${a}, ${b}`);
  return x.major - y.major || x.minor - y.minor || (x.patch ?? -1) - (y.patch ?? -1);
}

/** How many minors `b` is ahead of `a` (negative when behind); majors are all 1 here. */
export function minorsBetween(a: string, b: string): number {
  const x = parseVersion(a)!;
  const y = parseVersion(b)!;
  return (y.major - x.major) * 1000 + (y.minor - x.minor);
}

/** Whether a version as the config says it (`1.37` or `1.37.2`) names this patch. */
export function covers(spec: string, patch: string): boolean {
  const s = parseVersion(spec);
  const p = parseVersion(patch);
  if (!s || !p) return false;
  return s.major === p.major && s.minor === p.minor && (s.patch === undefined || s.patch === p.patch);
}

