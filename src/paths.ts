import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (holds package.json, templates/, boxes/), from src/ or dist/src/. */
export const packageRoot: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('kubeadm-vagrant: cannot find package.json above ' + import.meta.url);
    dir = up;
  }
  return dir;
})();

export const templatesDir = join(packageRoot, 'templates');
export const boxesDir = join(packageRoot, 'boxes');

/** The state directory inside a cluster directory: secrets, known_hosts, logs, state. Never synced to guests. */
export const STATE_DIR = '.kubeadm-vagrant';
