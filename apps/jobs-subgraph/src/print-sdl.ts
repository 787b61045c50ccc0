// Prints the jobs subgraph's federation SDL to stdout (npm run compose reads it).
import { printJobsSubgraphSdl } from './graphql/subgraph-schema.js';

process.stdout.write(`${await printJobsSubgraphSdl()}\n`);
