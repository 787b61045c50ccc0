import { opendir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TaskError } from '#libs/task-sdk';

/** Regular files of a command's output folder that become artifacts; more fails the attempt. */
export const MAX_OUTPUT_FILES = 100;
/** Entries of any kind (files, folders, links, fifos) the walk of an output folder reads before it gives up. */
export const MAX_OUTPUT_ENTRIES = 10_000;
/** Folders nested below the output folder. */
export const MAX_OUTPUT_DEPTH = 16;

export interface OutputFolderLimits {
  maxFiles: number;
  maxEntries: number;
  maxDepth: number;
}

const DEFAULT_LIMITS: OutputFolderLimits = {
  maxFiles: MAX_OUTPUT_FILES,
  maxEntries: MAX_OUTPUT_ENTRIES,
  maxDepth: MAX_OUTPUT_DEPTH,
};

/**
 * Regular files under dir, sorted; links and other special files are skipped. The walk stops at the first bound
 * it meets (the file after the last allowed one, an entry beyond maxEntries, a folder beyond maxDepth) and fails
 * the attempt without retry (the same command leaves the same folder): a command that made millions of files or
 * folders costs the runner that many entries at most, read a few at a time (opendir), never a whole listing.
 */
export async function listOutputFiles(
  dir: string,
  limits: OutputFolderLimits = DEFAULT_LIMITS,
): Promise<{ path: string; size: number }[]> {
  const files: { path: string; size: number }[] = [];
  let entries = 0;
  const walk = async (d: string, depth: number): Promise<void> => {
    // the iterator closes the folder when the loop ends or throws
    for await (const entry of await opendir(d)) {
      if (++entries > limits.maxEntries)
        throw refused(`more than ${limits.maxEntries} entries (files, folders, links)`);
      const p = join(d, entry.name);
      if (entry.isDirectory()) {
        if (depth >= limits.maxDepth) throw refused(`folders nested deeper than ${limits.maxDepth} folders`);
        await walk(p, depth + 1);
      } else if (entry.isFile()) {
        if (files.length >= limits.maxFiles) throw refused(`more than ${limits.maxFiles} files`);
        files.push({ path: p, size: (await stat(p)).size });
      }
    }
  };
  await walk(dir, 0);
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function refused(what: string): TaskError {
  return new TaskError('TASK_FAILED', `command left ${what} in its output folder; nothing was uploaded`, {
    retryable: false,
  });
}
