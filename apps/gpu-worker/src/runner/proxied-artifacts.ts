import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, relative, isAbsolute } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TaskError, type TaskArtifacts } from '#libs/task-sdk';
import { parseContract } from '#libs/contracts';
import { StorageRequest, type ChildMessage, type StorageResult } from './ipc-protocol.js';
import type { ScratchDir } from './scratch-dir.js';

type Pending = { resolve: (r: StorageResult) => void };

/**
 * The runner's side of artifact access: requests to the actor over IPC (the runner has no Redis or S3
 * credentials), each answered by one storage-result.
 */
export class StorageClient {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly send: (msg: ChildMessage) => void) {}

  request(req: Omit<StorageRequest, 'type' | 'requestId'>): Promise<StorageResult> {
    // Checked here, where the task's own values (names, paths) enter a message: a bad one fails the task's
    // call instead of a request the actor would refuse and never answer.
    const msg = parseContract(StorageRequest, 'StorageRequest', {
      type: 'storage',
      requestId: randomUUID(),
      ...req,
    });
    return new Promise((resolve) => {
      this.pending.set(msg.requestId, { resolve });
      this.send(msg);
    });
  }

  /** A storage-result from the actor. */
  answer(result: StorageResult): void {
    const p = this.pending.get(result.requestId);
    if (!p) return;
    this.pending.delete(result.requestId);
    p.resolve(result);
  }
}

const failure = (r: StorageResult): TaskError | undefined =>
  r.error ? new TaskError(r.error.code, r.error.message, { retryable: r.error.retryable }) : undefined;

/** `ctx.artifacts` of one run, through the actor. Temporary files live in the run's scratch directory. */
export function proxiedArtifacts(
  client: StorageClient,
  runId: string,
  scratchDir: ScratchDir,
): TaskArtifacts {
  const workDir = scratchDir.path;
  const scratch = join(workDir, '.artifacts');
  const tempPath = async () => {
    // the scratch dir first (0711): a recursive mkdir alone would make it with the umask's mode
    scratchDir.ensure();
    await mkdir(scratch, { recursive: true });
    return join(scratch, randomUUID());
  };
  const fetch = async (artifactId: string): Promise<string> => {
    const r = await client.request({ runId, op: 'fetch', artifactId });
    const err = failure(r);
    if (err) throw err;
    return r.path!;
  };
  const inScratch = (p: string) => {
    const rel = relative(workDir, p);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  };
  return {
    async stat(artifactId) {
      const r = await client.request({ runId, op: 'stat', artifactId });
      const err = failure(r);
      if (err) throw err;
      return r.stat!;
    },
    async read(artifactId) {
      const path = await fetch(artifactId);
      try {
        return await readFile(path);
      } finally {
        await rm(path, { force: true });
      }
    },
    async download(artifactId, toPath) {
      const path = await fetch(artifactId);
      try {
        await rename(path, toPath);
      } catch {
        await copyFile(path, toPath); // another file system
        await rm(path, { force: true });
      }
    },
    async put(source, meta) {
      // The actor reads only files inside the scratch directory: anything else is copied there first.
      let path: string;
      let temporary = true;
      if (typeof source === 'string' && inScratch(source)) {
        path = source;
        temporary = false;
      } else {
        path = await tempPath();
        if (Buffer.isBuffer(source)) await writeFile(path, source);
        else if (typeof source === 'string') await copyFile(source, path);
        else await pipeline(source as Readable, createWriteStream(path));
      }
      try {
        const r = await client.request({
          runId,
          op: 'stage',
          path,
          name: meta.name,
          contentType: meta.contentType,
        });
        const err = failure(r);
        if (err) throw err;
        return r.artifactId!;
      } finally {
        if (temporary) await rm(path, { force: true });
      }
    },
  };
}
