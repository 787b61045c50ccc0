/** Subgraph names in the supergraph (the `name` given to composition). */
export const SERVICE = {
  jobs: 'jobs',
  artifacts: 'artifacts',
  /** Served inside the gateway process: createApiKey / revokeApiKey. */
  apiKeys: 'apikeys',
} as const;
