// graphql-codegen, one target per client. `npx graphql-codegen` (or `npm run codegen`) regenerates them; the
// output is committed so that `npm run build` works from a clean checkout without running codegen.
// The schema is the composed supergraph until the client-facing graphql/api.graphql exists.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  overwrite: true,
  generates: {
    // The browser console (apps/gateway/src/console/browser): typed documents for its graphql() calls.
    'apps/gateway/src/console/browser/gql/': {
      schema: 'graphql/supergraph.graphql',
      documents: [
        'apps/gateway/src/console/browser/**/*.{ts,tsx}',
        '!apps/gateway/src/console/browser/gql/**',
      ],
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        enumsAsTypes: true,
        useTypeImports: true,
        scalars: { DateTime: 'string', JSON: 'unknown' },
      },
    },
  },
};

export default config;
