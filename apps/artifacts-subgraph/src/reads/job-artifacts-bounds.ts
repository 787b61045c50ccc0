/**
 * What `Job.artifacts` may answer per job at most, and so what routers count for it (@listSize assumedSize):
 * the artifacts subgraph refuses to start with a JOB_ARTIFACTS_LIST_MAX above it.
 */
export const JOB_ARTIFACTS_LIST_SIZE = 50;
