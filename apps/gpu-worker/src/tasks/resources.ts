import type { Resources } from '#libs/contracts';

/** One CPU core, no GPU: the cpu queue. */
export const CPU_TASK: Resources = { gpu: 0, vramGb: 0, cpu: 1 };
