import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type {
  ArtifactMeta,
  ArtifactSource,
  AttemptInfo,
  TaskArtifacts,
  TaskContext,
  TaskDevice,
} from './task-context.js';
import { TaskError } from './task-error.js';

export interface LocalTaskContextOptions {
  /** Directory holding artifacts (`artifacts/<id>/`) and work dirs (`work/`). */
  rootDir: string;
  attempt?: Partial<AttemptInfo>;
  device?: TaskDevice;
  signal?: AbortSignal;
  /** Use these artifacts (e.g. over real storage) instead of the local directory. */
  artifacts?: TaskArtifacts;
}

export interface StoredLocalArtifact extends ArtifactMeta {
  id: string;
  size: number;
  path: string;
}

export interface LocalTaskContext extends TaskContext {
  /** Every progress update and log line, in order, for inspection. */
  readonly progressUpdates: { fraction: number; message?: string }[];
  readonly logs: { level: 'debug' | 'info' | 'warn' | 'error'; message: string }[];
  /** Artifacts put through this context's local directory (not those of an `artifacts` override). */
  stored(id: string): Promise<StoredLocalArtifact>;
}

/**
 * A TaskContext whose artifacts live in a local directory: for running a task in-process (unit tests,
 * a local CLI) without Redis or S3. The worker builds its own context over real storage.
 */
export async function createLocalTaskContext(opts: LocalTaskContextOptions): Promise<LocalTaskContext> {
  const attempt: AttemptInfo = {
    jobId: 'local',
    nodeId: 'node',
    attempt: 1,
    tenant: 'local',
    ...opts.attempt,
  };
  const artifactsDir = join(opts.rootDir, 'artifacts');
  const workDir = join(opts.rootDir, 'work', `${attempt.jobId}-${attempt.nodeId}-${attempt.attempt}`);
  await mkdir(artifactsDir, { recursive: true });
  await mkdir(workDir, { recursive: true });
  const progressUpdates: LocalTaskContext['progressUpdates'] = [];
  const logs: LocalTaskContext['logs'] = [];

  const dirOf = (id: string): string => {
    if (!/^[0-9a-f-]{36}$/.test(id))
      throw new TaskError('INVALID_INPUT', `no artifact ${id}`, { retryable: false });
    return join(artifactsDir, id);
  };
  const stored = async (id: string): Promise<StoredLocalArtifact> => {
    const dir = dirOf(id);
    try {
      const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as ArtifactMeta & {
        size: number;
      };
      return { ...meta, id, path: join(dir, 'data') };
    } catch {
      throw new TaskError('INVALID_INPUT', `no artifact ${id}`, { retryable: false });
    }
  };

  async function put(source: ArtifactSource, meta: ArtifactMeta): Promise<string> {
    const id = randomUUID();
    const dir = join(artifactsDir, id);
    await mkdir(dir);
    const dataPath = join(dir, 'data');
    if (Buffer.isBuffer(source)) await writeFile(dataPath, source);
    else if (typeof source === 'string') await copyFile(source, dataPath);
    else await pipeline(source as Readable, createWriteStream(dataPath));
    const size = (await stat(dataPath)).size;
    await writeFile(
      join(dir, 'meta.json'),
      JSON.stringify({ name: meta.name, contentType: meta.contentType, size }),
    );
    return id;
  }

  return {
    attempt,
    device: opts.device ?? { kind: 'CPU', index: 0, name: 'cpu' },
    signal: opts.signal ?? new AbortController().signal,
    workDir,
    progressUpdates,
    logs,
    stored,
    progress(fraction, message) {
      progressUpdates.push(message === undefined ? { fraction } : { fraction, message });
    },
    log: {
      debug: (message) => logs.push({ level: 'debug', message }),
      info: (message) => logs.push({ level: 'info', message }),
      warn: (message) => logs.push({ level: 'warn', message }),
      error: (message) => logs.push({ level: 'error', message }),
    },
    artifacts: opts.artifacts ?? {
      put,
      stat: async (id) => {
        const { name, contentType, size } = await stored(id);
        return { name, contentType, size };
      },
      read: async (id) => readFile((await stored(id)).path),
      download: async (id, toPath) => {
        await pipeline(createReadStream((await stored(id)).path), createWriteStream(toPath));
      },
    },
  };
}
