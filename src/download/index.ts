/**
 * The one place where kubeadm-vagrant downloads and verifies anything (artifacts, box images).
 * Load it lazily from the commands that download; openpgp, cli-progress and proper-lockfile are
 * loaded only when a signature is verified, a bar drawn or a lock taken.
 */
export * from './checksums.js';
export * from './digest.js';
export * from './fetch-file.js';
export * from './lock.js';
export * from './pgp.js';
export * from './pool.js';
export * from './progress.js';
