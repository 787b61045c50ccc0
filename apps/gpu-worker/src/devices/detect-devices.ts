import { execFile } from 'node:child_process';
import type { Device } from '#libs/contracts';
import { GPU_QUERY_FIELDS, parseCudaVersion, parseGpuQuery } from './parse-nvidia-smi.js';

export interface DeviceDetection {
  devices: Device[];
  /** Why no GPU was found, when none was (absent binary, driver error, unparsable output). */
  reason?: string;
}

export interface DetectOptions {
  /** The nvidia-smi binary (name on PATH or a path). */
  command?: string;
  timeoutMs?: number;
}

interface CommandResult {
  ok: boolean;
  stdout: string;
  error?: string;
}

function run(command: string, args: string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve({ ok: true, stdout });
      const code = (err as NodeJS.ErrnoException).code;
      const why =
        code === 'ENOENT'
          ? `${command} not found`
          : `${command} failed: ${(stderr || stdout || err.message).trim().split('\n')[0]}`;
      resolve({ ok: false, stdout, error: why });
    });
  });
}

/**
 * Find the NVIDIA GPUs of this machine. No nvidia-smi, a driver error or "No devices were found" all mean
 * CPU only: the worker still runs its CPU actors, and says why in `reason` (logged at boot).
 */
export async function detectDevices(opts: DetectOptions = {}): Promise<DeviceDetection> {
  const command = opts.command ?? 'nvidia-smi';
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const query = await run(
    command,
    [`--query-gpu=${GPU_QUERY_FIELDS.join(',')}`, '--format=csv,noheader,nounits'],
    timeoutMs,
  );
  if (!query.ok) return { devices: [], reason: query.error };
  const header = await run(command, [], timeoutMs);
  try {
    const devices = parseGpuQuery(query.stdout, header.ok ? parseCudaVersion(header.stdout) : undefined);
    return devices.length > 0 ? { devices } : { devices, reason: `${command} listed no GPU` };
  } catch (e) {
    return { devices: [], reason: (e as Error).message };
  }
}
