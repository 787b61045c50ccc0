// Prints the artifacts subgraph's federation SDL to stdout (npm run compose reads it).
import { printArtifactsSubgraphSdl } from './graphql/subgraph-schema.js';

process.stdout.write(`${await printArtifactsSubgraphSdl()}\n`);
