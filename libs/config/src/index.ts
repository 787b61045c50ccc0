export * from './load-config.js';
export * from './fields.js';
export * from './nest.js';
export * from './tls.js';
export * from './artifact-quotas.js';
