import { Device, parseContract } from '#libs/contracts';

/** The columns asked of nvidia-smi, in order (see detect-devices.ts). */
export const GPU_QUERY_FIELDS = ['index', 'uuid', 'name', 'memory.total', 'driver_version'] as const;

/** Thrown when nvidia-smi printed something that is not the table we asked for. */
export class NvidiaSmiParseError extends Error {
  readonly code = 'NVIDIA_SMI_UNPARSABLE';
  constructor(message: string) {
    super(message);
    this.name = 'NvidiaSmiParseError';
  }
}

// nvidia-smi prints "[N/A]" or "[Not Supported]" for fields a device (or a MIG slice) lacks.
const absent = (v: string): boolean => v === '' || /^\[.*\]$/.test(v);

/**
 * Parse `nvidia-smi --query-gpu=index,uuid,name,memory.total,driver_version --format=csv,noheader,nounits`.
 * `cudaVersion` comes from the plain `nvidia-smi` header (the query interface has no field for it).
 */
export function parseGpuQuery(csv: string, cudaVersion?: string): Device[] {
  const devices: Device[] = [];
  for (const [lineNo, raw] of csv.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '') continue;
    const cols = line.split(',').map((c) => c.trim());
    if (cols.length !== GPU_QUERY_FIELDS.length) {
      throw new NvidiaSmiParseError(
        `line ${lineNo + 1}: expected ${GPU_QUERY_FIELDS.length} columns, got "${line}"`,
      );
    }
    const [index, uuid, name, memory, driver] = cols as [string, string, string, string, string];
    if (!/^\d+$/.test(index))
      throw new NvidiaSmiParseError(`line ${lineNo + 1}: index "${index}" is not a number`);
    const memoryMb = absent(memory) ? undefined : Number(memory);
    if (memoryMb !== undefined && !Number.isInteger(memoryMb)) {
      throw new NvidiaSmiParseError(`line ${lineNo + 1}: memory.total "${memory}" is not a number of MiB`);
    }
    devices.push(
      parseContract(Device, 'Device', {
        index: Number(index),
        kind: 'GPU',
        name,
        ...(absent(uuid) ? {} : { uuid }),
        ...(memoryMb === undefined ? {} : { memoryMb }),
        ...(absent(driver) ? {} : { driverVersion: driver }),
        ...(cudaVersion ? { cudaVersion } : {}),
      }),
    );
  }
  return devices.sort((a, b) => a.index - b.index);
}

/** The "CUDA Version: 12.4" of nvidia-smi's header, or undefined when absent. */
export function parseCudaVersion(header: string): string | undefined {
  return /CUDA Version:\s*([0-9]+(?:\.[0-9]+)*)/.exec(header)?.[1];
}
