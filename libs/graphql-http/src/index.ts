export * from './apollo-http.js';
export * from './graphql-lane.js';
export * from './http-steps.js';
export * from './json-body.js';
