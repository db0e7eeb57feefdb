export * from './types.js';
export * from './node-parsers.js';
export * from './node-checks.js';
export * from './kube.js';
export * from './tokens.js';
export * from './verify.js';
export * from './report.js';
