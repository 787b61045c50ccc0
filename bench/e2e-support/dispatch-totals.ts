/**
 * Attempts and node-queue jobs the jobs subgraph's fair stage handed over so far, summed over resource classes,
 * from its `switchyard_dispatch_lease_attempts` histogram (sum: attempts, count: node-queue jobs). Their deltas
 * over a run say how large the leases were (decision 0007).
 */
export async function readDispatchTotals(
  metricsUrl: string,
): Promise<{ attempts: number; queueJobs: number }> {
  const res = await fetch(metricsUrl);
  if (!res.ok) throw new Error(`${metricsUrl} answered ${res.status}`);
  const totals = { attempts: 0, queueJobs: 0 };
  for (const line of (await res.text()).split('\n')) {
    const [name, value] = [line.slice(0, line.indexOf('{')), Number(line.slice(line.lastIndexOf(' ') + 1))];
    if (name === 'switchyard_dispatch_lease_attempts_sum') totals.attempts += value;
    else if (name === 'switchyard_dispatch_lease_attempts_count') totals.queueJobs += value;
  }
  return totals;
}
