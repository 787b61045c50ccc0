export * from './query-complexity.js';
export * from './cost-directives.js';
export * from './operation-limits.js';
