export * from './lifeline.js';
export * from './ports.js';
export * from './redis-server.js';
export * from './restart-policy.js';
export * from './s3-server.js';
export * from './stack-lock.js';
