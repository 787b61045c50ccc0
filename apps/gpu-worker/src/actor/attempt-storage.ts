import { randomUUID } from 'node:crypto';
import { chown, lstat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArtifactRepository } from '#libs/storage';
import { isTaskError } from '#libs/task-sdk';
import { attemptArtifacts } from '../runner/attempt-artifacts.js';
import type { AttemptRef, StorageRequest, StorageResult } from '../runner/ipc-protocol.js';
import type { ScratchDir } from '../runner/scratch-dir.js';
import { openScratchFile } from './scratch-file.js';

type Answer = Omit<StorageResult, 'type' | 'requestId'>;

const refused = (message: string): Answer => ({
  error: { code: 'TASK_FAILED', message, retryable: false },
});

/**
 * Artifact access of one attempt, done by the actor on behalf of its runner (which has no storage
 * credentials). It acts for exactly this attempt: reads are limited to the attempt's tenant (committed
 * artifacts only), outputs are staged under the attempt, and files are taken from and written to the
 * attempt's scratch directory only (a path or symlink leading elsewhere is refused). A file to stage is opened
 * once, checked through that descriptor and stored from it (scratch-file.ts).
 */
export class AttemptStorage {
  private readonly artifacts;
  private readonly workDir: string;

  constructor(
    repo: ArtifactRepository,
    attempt: AttemptRef,
    /** The attempt's scratch dir (made on first use: a fetch may be its first). */
    private readonly scratch: ScratchDir,
    /** When the attempt must have ended (its start plus its timeout): its outputs are not orphans before. */
    deadline?: Date,
  ) {
    this.artifacts = attemptArtifacts(repo, attempt, deadline);
    this.workDir = scratch.path;
  }

  async handle(req: StorageRequest): Promise<Answer> {
    try {
      switch (req.op) {
        case 'stat':
          if (!req.artifactId) return refused('stat needs an artifactId');
          return { stat: await this.artifacts.stat(req.artifactId) };
        case 'fetch': {
          if (!req.artifactId) return refused('fetch needs an artifactId');
          this.scratch.ensure(); // 0711 first: the recursive mkdir below would use the umask's mode
          const dir = join(this.workDir, '.artifacts');
          await mkdir(dir, { recursive: true });
          const path = join(dir, randomUUID());
          await this.artifacts.download(req.artifactId, path);
          await this.giveToRunner(path);
          return { path };
        }
        case 'stage': {
          if (!req.path || !req.name || !req.contentType)
            return refused('stage needs path, name and contentType');
          const handle = await openScratchFile(this.workDir, req.path);
          if (!handle)
            return refused(
              `${req.path} is not a regular file inside the attempt's scratch directory (links are not followed)`,
            );
          try {
            return {
              artifactId: await this.artifacts.putOpenFile(handle, {
                name: req.name,
                contentType: req.contentType,
              }),
            };
          } finally {
            await handle.close();
          }
        }
      }
    } catch (e) {
      if (isTaskError(e)) return { error: e.toJobError() };
      throw e;
    }
  }

  /** A fetched file belongs to whoever owns the scratch directory (the runner may run as another user). */
  private async giveToRunner(path: string): Promise<void> {
    const owner = await lstat(this.workDir);
    if (process.getuid?.() === 0 && owner.uid !== 0) await chown(path, owner.uid, owner.gid);
  }
}
