export * from './bootstrap.js';
export * from './unread-body.js';
