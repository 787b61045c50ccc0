/** The measured read: a page of 20 jobs with their nodes and artifacts (every contract field but downloadUrl). */
export const PAGE_QUERY = `query Page($after: String) {
  jobs(filter: { status: [SUCCEEDED] }, first: 20, after: $after) {
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
