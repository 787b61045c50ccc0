import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed GraphQL clients from the public API schema (graphql/api.graphql, written by `npm run compose`).
 * One entry per consumer under `generates` (each has its own documents and output folder). The output is
 * committed, so `npm run build` works from a clean checkout; `npm run codegen` writes it and
 * `npm run codegen -- --check` fails when a committed file is stale.
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
    // The browser console (apps/gateway/src/console/browser): typed documents for its graphql() calls.
    'apps/gateway/src/console/browser/gql/': {
      documents: [
        'apps/gateway/src/console/browser/**/*.{ts,tsx}',
        '!apps/gateway/src/console/browser/gql/**',
      ],
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        scalars,
        enumsAsTypes: true,
        useTypeImports: true,
      },
    },
  },
};

export default config;
