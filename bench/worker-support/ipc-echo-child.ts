/**
 * The bare child of the IPC round-trip peer: answers every run message at once with a result, over Node's
 * IPC channel, with no parsing beyond what a message needs. The floor of any runner process.
 */
process.on('message', (m: { runId: string }) => {
  process.send!({ type: 'result', runId: m.runId, outputs: { sleptMs: 0 }, artifactIds: [] });
});
process.once('disconnect', () => process.exit(0));
process.send!({ type: 'ready' });
