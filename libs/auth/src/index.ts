export * from './identity-token.js';
export * from './api-key.js';
export * from './api-key-store.js';
export * from './federation-directives.js';
