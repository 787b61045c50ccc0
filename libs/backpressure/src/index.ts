export * from './coalescing-queue.js';
export * from './subscriber-buffer-setting.js';
export * from './loop-slice.js';
export * from './byte-budgets.js';
