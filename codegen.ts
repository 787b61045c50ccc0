import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed GraphQL clients from the public API schema (graphql/api.graphql, written by `npm run compose`).
 * One entry per consumer: add yours under `generates` (each has its own documents and output folder).
 * `npm run codegen` writes them; `npm run codegen -- --check` fails when a committed file is stale.
 */
const scalars = {
  DateTime: 'string',
  JSON: 'unknown',
} as const;

const config: CodegenConfig = {
  schema: 'graphql/api.graphql',
  ignoreNoDocuments: false,
  generates: {
    // examples/: a script that submits a job and follows its events (npm run build typechecks it)
    'examples/generated/': {
      preset: 'client',
      documents: ['examples/operations/*.graphql'],
      presetConfig: { fragmentMasking: false },
      config: {
        scalars,
        enumsAsTypes: true,
        useTypeImports: true,
        importExtension: '.js',
        strictScalars: true,
      },
    },
  },
};

export default config;
