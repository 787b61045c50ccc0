/** Memory task code keeps outside the V8 heap between attempts (tfjs tensors), as a probe reads it. */
export interface RetainedMemory {
  tensors: number;
  bytes: number;
}

/** Reads it now; undefined while nothing that holds such memory has been loaded. */
export type RetainedMemoryProbe = () => RetainedMemory | undefined;

/**
 * Why a runner must be replaced after an attempt: it holds more than before the attempt (a leak, of the task's
 * or a library's); undefined when it does not. Nothing before the attempt counts as none.
 */
export function retainedGrowth(
  before: RetainedMemory | undefined,
  after: RetainedMemory | undefined,
): string | undefined {
  if (!after) return undefined;
  const base = before ?? { tensors: 0, bytes: 0 };
  if (after.tensors <= base.tensors && after.bytes <= base.bytes) return undefined;
  return `the attempt left ${after.tensors - base.tensors} tensors (${after.bytes - base.bytes} bytes) off the V8 heap (now ${after.tensors} tensors, ${after.bytes} bytes)`;
}
