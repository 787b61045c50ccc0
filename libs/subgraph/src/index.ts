export * from './scalars.js';
export * from './federated-schema.js';
export * from './subgraph-server.js';
