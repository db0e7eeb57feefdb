/**
 * Container images over the OCI distribution API, and OCI image archives. Load it lazily (the
 * `artifacts` commands do): tar-stream is loaded only when an archive is written or read.
 */
export * from './archive.js';
export * from './manifest.js';
export * from './reference.js';
export * from './registry.js';
