/**
 * Jobs per page: 20, the page issue 12 measures. With the schema's @listSize counted (50 artifacts per job, and
 * 50 nodes: `nodes(first: NODES_PER_JOB_READ)`; without `first` a job counts the 200 it may hold) a page of 20
 * with every field costs 23,327, within the default MAX_QUERY_COST (25,000).
 */
export const PAGE_SIZE = 20;

/** Nodes read per job: more than the benchmark's jobs hold (BENCH_READS_NODES_PER_JOB, 3), so all of them. */
export const NODES_PER_JOB_READ = 50;

/** The measured read: a page of jobs with their nodes and artifacts (every contract field but downloadUrl). */
export const PAGE_QUERY = `query Page($after: String) {
  jobs(filter: { status: [SUCCEEDED] }, first: ${PAGE_SIZE}, after: $after) {
    edges {
      cursor
      node {
        id status progress template labels createdAt startedAt finishedAt
        error { code message retryable }
        nodes(first: ${NODES_PER_JOB_READ}) {
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
