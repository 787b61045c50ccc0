/**
 * The bare runner of the runner-ipc benchmark: a forked child that says `ready` as a runner does and answers each
 * `runs` message (a lease) at once with one `batch` of results, parsing nothing. The floor of a runner's side of
 * the crossing: one read, one write, one wake-up per lease.
 */
interface Runs {
  type: string;
  runs?: Array<{ runId?: string; attempt: { jobId: string; nodeId: string; attempt: number } }>;
}

process.on('message', (m: Runs) => {
  if (m.type !== 'runs' || !m.runs) return;
  process.send!({
    type: 'batch',
    messages: m.runs.map((r) => ({
      type: 'result',
      // runs of the protocol before session 20 carry their run id; since, it is the attempt's id (runIdOf)
      runId: r.runId ?? `${r.attempt.jobId}.${r.attempt.nodeId}.${r.attempt.attempt}`,
      outputs: { sleptMs: 0 },
      artifactIds: [],
      workDirUsed: false,
    })),
  });
});
process.once('disconnect', () => process.exit(0));
process.send!({ type: 'ready', pid: process.pid, tasks: [] });
