export * from './logger.js';
export * from './metrics.js';
export * from './readiness.js';
export * from './observability.module.js';
export * from './request-logging.js';
export * from './health.controller.js';
export * from './trace-context.js';
