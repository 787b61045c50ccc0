/**
 * The runner entry with V8 flags of the benchmark's choosing (BENCH_RUNNER_V8_FLAGS, space-separated), set before
 * the runner's modules load: the worker forks its runners with a fixed execArgv, and this tries others without
 * changing it. The runner reads its settings from its argument as when it is forked directly.
 */
import { setFlagsFromString } from 'node:v8';

for (const flag of (process.env.BENCH_RUNNER_V8_FLAGS ?? '').split(' ').filter(Boolean))
  setFlagsFromString(flag);
await import(process.env.BENCH_RUNNER_ENTRY!);
