export * from './scalars.js';
export * from './federated-schema.js';
export * from './subgraph-server.js';
export * from './admit-operation.js';
export * from './direct-refusals.js';
export * from './page-info.js';
