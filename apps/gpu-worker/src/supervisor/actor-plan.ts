import { cpus } from 'node:os';
import type { Device, ResourceClass } from '#libs/contracts';

/** What one actor is: its device, its queue class and the CUDA_VISIBLE_DEVICES its runner gets. */
export interface ActorSpec {
  id: string;
  /** "GPU 0" or "CPU 1", as the manifest shows it. */
  label: string;
  device: Device;
  resourceClass: ResourceClass;
  /** Set before any task code loads; "" hides every GPU from CPU actors. */
  cudaVisibleDevices: string;
  /** 0..n-1 over the worker's actors: gives each actor's command tasks their own uid. */
  slot: number;
}

/** One actor per GPU plus `cpuActors` CPU actors. */
export function planActors(workerId: string, gpus: Device[], cpuActors: number): ActorSpec[] {
  const cpuName = cpus()[0]?.model.trim() || 'CPU';
  const specs: Omit<ActorSpec, 'slot'>[] = [
    ...gpus.map((d) => ({
      id: `${workerId}/gpu${d.index}`,
      label: `GPU ${d.index}`,
      device: d,
      resourceClass: 'gpu' as const,
      // A UUID survives renumbering (e.g. another CUDA_DEVICE_ORDER); fall back to the index.
      cudaVisibleDevices: d.uuid ?? String(d.index),
    })),
    ...Array.from({ length: cpuActors }, (_, i) => ({
      id: `${workerId}/cpu${i}`,
      label: `CPU ${i}`,
      device: { index: i, kind: 'CPU' as const, name: cpuName },
      resourceClass: 'cpu' as const,
      cudaVisibleDevices: '',
    })),
  ];
  return specs.map((s, slot) => ({ ...s, slot }));
}
