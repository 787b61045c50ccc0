export * from './ports.js';
export * from './redis-server.js';
export * from './s3-server.js';
