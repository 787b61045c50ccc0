import { z } from 'zod';
import { defineTask, TaskError, type TaskDefinition } from '#libs/task-sdk';
import { detectDevices } from '../devices/detect-devices.js';

const GpuProbeOutput = z.strictObject({
  kind: z.literal('GPU'),
  index: z.int().min(0),
  name: z.string(),
  uuid: z.string().optional(),
  memoryMb: z.int().min(0).optional(),
  driverVersion: z.string().optional(),
  cudaVersion: z.string().optional(),
  /** What the runner process was started with; the actor sets it to its GPU before task code loads. */
  cudaVisibleDevices: z.string().optional(),
});
type GpuProbeOutput = z.infer<typeof GpuProbeOutput>;

export interface GpuProbeOptions {
  /** The nvidia-smi binary (name on PATH or a path). */
  nvidiaSmi?: string;
}

/**
 * A smoke test for a GPU machine: re-reads the actor's device from nvidia-smi (not from what the
 * actor was told) and reports it. On a CPU actor, or when nvidia-smi does not list the device, it fails
 * without retry: the machine cannot run GPU work and another attempt here would not change that.
 */
export function gpuProbeTask(
  opts: GpuProbeOptions = {},
): TaskDefinition<Record<string, never>, GpuProbeOutput> {
  return defineTask({
    name: 'gpu.probe',
    version: '1.0.0',
    description: "Report the actor's GPU as nvidia-smi sees it (index, UUID, name, memory, driver, CUDA).",
    resources: { gpu: 1, vramGb: 0, cpu: 1 },
    input: z.strictObject({}),
    output: GpuProbeOutput,
    timeoutMs: 60_000,
    attempts: 1,
    async run(_input, ctx) {
      if (ctx.device.kind !== 'GPU') {
        throw new TaskError(
          'TASK_FAILED',
          `gpu.probe ran on ${ctx.device.kind} ${ctx.device.index}: no GPU`,
          {
            retryable: false,
          },
        );
      }
      const { devices, reason } = await detectDevices(opts.nvidiaSmi ? { command: opts.nvidiaSmi } : {});
      // nvidia-smi ignores CUDA_VISIBLE_DEVICES and lists every GPU: pick the actor's by UUID, else index.
      const found = devices.find((d) =>
        ctx.device.uuid ? d.uuid === ctx.device.uuid : d.index === ctx.device.index,
      );
      if (!found) {
        throw new TaskError(
          'TASK_FAILED',
          `nvidia-smi does not list GPU ${ctx.device.uuid ?? ctx.device.index}${reason ? ` (${reason})` : ''}`,
          { retryable: false },
        );
      }
      ctx.log.info(`probed GPU ${found.index}: ${found.name}`);
      const visible = process.env.CUDA_VISIBLE_DEVICES;
      return {
        kind: 'GPU' as const,
        index: found.index,
        name: found.name,
        ...(found.uuid === undefined ? {} : { uuid: found.uuid }),
        ...(found.memoryMb === undefined ? {} : { memoryMb: found.memoryMb }),
        ...(found.driverVersion === undefined ? {} : { driverVersion: found.driverVersion }),
        ...(found.cudaVersion === undefined ? {} : { cudaVersion: found.cudaVersion }),
        ...(visible === undefined ? {} : { cudaVisibleDevices: visible }),
      };
    },
  });
}

export const gpuProbe = gpuProbeTask();
