/**
 * Jobs per page: 20, the page issue 12 measures. With the schema's @listSize counted (50 nodes and 50 artifacts
 * assumed per job) a page of 20 with every field costs 23,327, within the default MAX_QUERY_COST (25,000).
 */
export const PAGE_SIZE = 20;

/** The measured read: a page of jobs with their nodes and artifacts (every contract field but downloadUrl). */
export const PAGE_QUERY = `query Page($after: String) {
  jobs(filter: { status: [SUCCEEDED] }, first: ${PAGE_SIZE}, after: $after) {
    edges {
      cursor
      node {
        id status progress template labels createdAt startedAt finishedAt
        error { code message retryable }
        nodes {
          id task taskVersion status progress message attempts outputs workerId startedAt finishedAt
          error { code message retryable }
        }
        artifacts { id jobId nodeId name contentType size sha256 createdAt }
      }
    }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;

export interface PageAnswer {
  jobs: {
    edges: Array<{
      cursor: string;
      node: { id: string; nodes: unknown[]; artifacts: Array<{ id: string; jobId: string }> };
    }>;
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  };
}
