export * from './domain-error.js';
export * from './format-graphql-error.js';
export * from './caller-auth-graphql-error.js';
export * from './unavailable.js';
export * from './domain-graphql-error.js';
export * from './request-errors.js';
