import { createWriteStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ArtifactRepository, ObjectSource } from '#libs/storage';
import { StorageError } from '#libs/storage';
import {
  errorMessage,
  TaskError,
  type ArtifactMeta,
  type ArtifactSource,
  type TaskArtifacts,
} from '#libs/task-sdk';
import type { AttemptRef } from './ipc-protocol.js';

/** Storage failures as task errors: the attempt fails with a code that says whether a retry can help. */
export function toTaskError(e: unknown, what: string): TaskError {
  if (e instanceof TaskError) return e;
  if (e instanceof StorageError) {
    switch (e.code) {
      case 'ARTIFACT_NOT_FOUND':
      case 'OBJECT_NOT_FOUND':
        return new TaskError('INVALID_INPUT', `${what}: ${e.message}`, { retryable: false, cause: e });
      case 'INVALID_ARTIFACT_NAME':
      case 'INVALID_KEY_SEGMENT':
      case 'SIZE_MISMATCH':
      case 'CHECKSUM_MISMATCH': // the bytes read are not the recorded artifact's (libs/storage read verifies)
        return new TaskError('TASK_FAILED', `${what}: ${e.message}`, { retryable: false, cause: e });
      default:
        return new TaskError('STORAGE_UNAVAILABLE', `${what}: ${e.message}`, {
          retryable: e.retryable,
          cause: e,
        });
    }
  }
  return new TaskError('STORAGE_UNAVAILABLE', `${what}: ${errorMessage(e)}`, { retryable: true, cause: e });
}

const asObjectSource = (source: ArtifactSource): ObjectSource =>
  Buffer.isBuffer(source) || typeof source === 'string' || source instanceof Readable
    ? source
    : new Readable().wrap(source);

export interface AttemptArtifacts extends TaskArtifacts {
  /** Stages the file open as `handle` (checked by the caller), read through it only; the caller closes it. */
  putOpenFile(handle: FileHandle, meta: Omit<ArtifactMeta, 'size'>): Promise<string>;
}

/**
 * `ctx.artifacts` of one attempt: outputs are staged under the attempt (invisible until the scheduler
 * commits them with the attempt's outputs); inputs are read only when committed and of the same tenant.
 * `deadline` (the attempt's start plus its timeout) keeps its staged outputs from the orphan sweep until then.
 */
export function attemptArtifacts(
  repo: ArtifactRepository,
  attempt: AttemptRef,
  deadline?: Date,
): AttemptArtifacts {
  const stage = async (source: ObjectSource, meta: ArtifactMeta): Promise<string> => {
    try {
      const record = await repo.stage({
        tenant: attempt.tenant,
        jobId: attempt.jobId,
        nodeId: attempt.nodeId,
        attempt: attempt.attempt,
        name: meta.name,
        contentType: meta.contentType,
        source,
        ...(meta.size === undefined ? {} : { size: meta.size }),
        ...(deadline ? { attemptDeadline: deadline } : {}),
      });
      return record.id;
    } catch (e) {
      throw toTaskError(e, `storing artifact ${meta.name}`);
    }
  };
  return {
    async stat(artifactId) {
      let record;
      try {
        record = await repo.getVisible(artifactId, attempt.tenant);
      } catch (e) {
        throw toTaskError(e, `looking up artifact ${artifactId}`);
      }
      if (!record)
        throw new TaskError('INVALID_INPUT', `artifact ${artifactId} not found`, { retryable: false });
      return { name: record.name, contentType: record.contentType, size: record.size };
    },
    put: (source, meta) => stage(asObjectSource(source), meta),
    putOpenFile: (handle, meta) => stage({ handle }, meta),
    async read(artifactId) {
      try {
        const chunks: Buffer[] = [];
        for await (const chunk of await repo.read(artifactId, attempt.tenant))
          chunks.push(Buffer.from(chunk as Buffer));
        return Buffer.concat(chunks);
      } catch (e) {
        throw toTaskError(e, `reading artifact ${artifactId}`);
      }
    },
    async download(artifactId, toPath) {
      try {
        await pipeline(await repo.read(artifactId, attempt.tenant), createWriteStream(toPath));
      } catch (e) {
        throw toTaskError(e, `downloading artifact ${artifactId}`);
      }
    },
  };
}
