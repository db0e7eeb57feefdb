import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { UsageError } from './errors.js';

/**
 * The host-side cache every cluster shares: downloaded and verified images, artifacts, built
 * boxes. `$KUBEADM_VAGRANT_CACHE`, else `$XDG_CACHE_HOME/kubeadm-vagrant`, else
 * `~/.cache/kubeadm-vagrant` (the XDG base directory default).
 */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const given = env.KUBEADM_VAGRANT_CACHE?.trim();
  if (given) return resolve(given);
  const xdg = env.XDG_CACHE_HOME?.trim();
  // The XDG spec: a relative XDG_CACHE_HOME is invalid and must be ignored.
  if (xdg && isAbsolute(xdg)) return join(xdg, 'kubeadm-vagrant');
  const home = env.HOME?.trim() || homedir();
  if (!home) throw new UsageError('no cache directory: set KUBEADM_VAGRANT_CACHE (or HOME or XDG_CACHE_HOME)');
  return join(home, '.cache', 'kubeadm-vagrant');
}

/** The parts of the cache, relative to its root. */
export const CACHE = {
  /** Verified distro cloud images: images/<distro>/<arch>/<file>. */
  images: 'images',
  /** Boxes while they are built (the finished box is handed to `vagrant box add`). */
  boxes: 'boxes',
  /** The artifacts directory of src/offline/artifacts.ts: v<patch>/<arch>/. */
  artifacts: 'artifacts',
} as const;

/** The cache's artifacts directory (`<cacheRoot>/artifacts`): where a cluster without offline.dir installs from, and what `artifacts fetch` fills. */
export function artifactsCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot(env), CACHE.artifacts);
}
