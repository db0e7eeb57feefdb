import { FAMILIES, type Catalog } from './distros.js';

/**
 * What a box's name says about the system in it, as far as it clearly says anything: the distro
 * (by name, alias or release code name) and the release, from names such as generic/rocky9,
 * bento/ubuntu-24.04, ubuntu/jammy64, debian/bookworm64, almalinux/9 or kubeadm-vagrant/debian-12.
 * A name that says nothing recognisable (example/my-box) is not read at all.
 */
interface DistroName {
  /** As in the catalog's distro ids (`rocky` of rocky-9). */
  name: string;
  title: string;
  /** The distro family of src/distros.ts, or another word for one this tool has no scripts for. */
  family: string;
  aliases?: readonly string[];
  /** Release code names → release. */
  codenames?: Readonly<Record<string, string>>;
}

const DISTRO_NAMES: readonly DistroName[] = [
  { name: 'ubuntu', title: 'Ubuntu', family: 'debian', codenames: { xenial: '16.04', bionic: '18.04', focal: '20.04', jammy: '22.04', noble: '24.04', resolute: '26.04' } },
  { name: 'debian', title: 'Debian', family: 'debian', codenames: { buster: '10', bullseye: '11', bookworm: '12', trixie: '13', forky: '14' } },
  { name: 'rocky', title: 'Rocky Linux', family: 'rhel', aliases: ['rockylinux'] },
  { name: 'almalinux', title: 'AlmaLinux', family: 'rhel', aliases: ['alma'] },
  { name: 'centos', title: 'CentOS', family: 'rhel' },
  { name: 'rhel', title: 'Red Hat Enterprise Linux', family: 'rhel', aliases: ['redhat'] },
  { name: 'oraclelinux', title: 'Oracle Linux', family: 'rhel', aliases: ['oracle'] },
  { name: 'fedora', title: 'Fedora', family: 'rhel' },
  { name: 'opensuse', title: 'openSUSE', family: 'suse', aliases: ['suse', 'sles', 'leap', 'tumbleweed'] },
  { name: 'alpine', title: 'Alpine Linux', family: 'alpine' },
  { name: 'archlinux', title: 'Arch Linux', family: 'arch', aliases: ['arch'] },
  { name: 'freebsd', title: 'FreeBSD', family: 'freebsd' },
];

export interface BoxSystem {
  distro: string;
  title: string;
  family: string;
  /** `24.04`, `9`, when the name says it. */
  release?: string;
}

/** Ubuntu's `2204` is 22.04; `9.3` is release 9 for a distro whose catalog names majors. */
function normalRelease(distro: string, digits: string): string {
  const d = digits.replace(/_/g, '.');
  if (distro === 'ubuntu' && /^\d{4}$/.test(d)) return `${d.slice(0, 2)}.${d.slice(2)}`;
  return d;
}

/** The system a box name clearly names, or undefined. */
export function readBoxName(box: string): BoxSystem | undefined {
  const segments = box.toLowerCase().split('/');
  // The box's own name first (bento/ubuntu-24.04), then its publisher (almalinux/9, rockylinux/9).
  const order = segments.map((segment, i) => ({ segment, i })).reverse();
  for (const { segment, i } of order) {
    for (const m of segment.matchAll(/[a-z]+/g)) {
      const word = m[0];
      const def = DISTRO_NAMES.find((d) => d.name === word || d.aliases?.includes(word) || d.codenames?.[word] !== undefined);
      if (!def) continue;
      const base = { distro: def.name, title: def.title, family: def.family };
      const codename = def.codenames?.[word];
      if (codename) return { ...base, release: codename };
      const after = /^[-_.]?(\d+(?:[._]\d+)?)/.exec(segment.slice(m.index + word.length))?.[1];
      // A publisher named after the distro puts the release in the box's name: almalinux/9.
      const inName = i < segments.length - 1 ? /^(\d+(?:\.\d+)?)(?![\d])/.exec(segments[segments.length - 1]!)?.[1] : undefined;
      // Or a code name further on: example/ubuntu-noble.
      const named = [...segment.slice(m.index + word.length).matchAll(/[a-z]+/g)].map((w) => def.codenames?.[w[0]]).find((r) => r !== undefined);
      const release = after ?? inName;
      return release ? { ...base, release: normalRelease(def.name, release) } : named ? { ...base, release: named } : base;
    }
  }
  return undefined;
}

/** A catalog distro id's name and release: `ubuntu-24.04` → ubuntu, 24.04. */
function splitDistroId(id: string): { name: string; release: string } {
  const dash = id.lastIndexOf('-');
  return { name: id.slice(0, dash), release: id.slice(dash + 1) };
}

/** Whether two releases are the same: equal, or one the major of the other (9 and 9.3). */
function sameRelease(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);
}

/**
 * Why a box does not fit the configured distro, when its name clearly says so (another distro, a
 * family, or release), with the catalog's distro to set instead: the scripts are rendered for the
 * distro (apt or dnf), not for the box.
 */
export function boxDistroMismatch(box: string, distroId: string, catalog: Catalog): { message: string; hint: string } | undefined {
  const system = readBoxName(box);
  const configured = catalog.distros[distroId];
  if (!system || !configured) return undefined;
  const { name, release } = splitDistroId(distroId);
  const sameDistro = system.distro === name;
  if (sameDistro && (!system.release || sameRelease(system.release, release))) return undefined;
  const named = `${system.title}${system.release ? ` ${system.release}` : ''}`;
  const family = FAMILIES[configured.family];
  const boxFamily = (FAMILIES as Readonly<Record<string, { packageManager: string }>>)[system.family];
  const why = sameDistro
    ? 'another release'
    : system.family === configured.family
      ? 'another distro of the same family'
      : boxFamily
        ? `another family: ${family.packageManager} scripts would be rendered for a ${boxFamily.packageManager} system`
        : `a system this tool has no scripts for (${family.packageManager} scripts would be rendered)`;
  const ids = Object.keys(catalog.distros);
  const exact = ids.filter((id) => splitDistroId(id).name === system.distro && (!system.release || sameRelease(system.release, splitDistroId(id).release)));
  const sameName = ids.filter((id) => splitDistroId(id).name === system.distro);
  const candidates = exact.length > 0 ? exact : sameName;
  const set = candidates.length > 0 ? `set distro: ${candidates.join(' or ')} in cluster.yaml (or --distro ${candidates[0]}) if the box is right` : `the catalog has no ${system.title}: use a box of ${distroId}`;
  return {
    message: `"${box}" names ${named}, and distro is ${distroId}: ${why}`,
    hint: `${set}; or leave box empty for the catalog's ${distroId} box`,
  };
}
