export * from './processes.js';
export * from './redis-per-suite.js';
export * from './iterators.js';
export * from './delay-proxy.js';
export * from './bundle-child.js';
export * from './command-task-uids.js';
export * from './hostile-documents.js';
