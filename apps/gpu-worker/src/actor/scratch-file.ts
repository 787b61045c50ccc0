import { constants } from 'node:fs';
import { type FileHandle, open, readlink, realpath } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';

/**
 * Opens `path` for reading when it is a regular file inside the directory `root`, else undefined (closed).
 * One open, and every check made on that descriptor, so the file checked is the file read, whatever is
 * swapped in under its name afterwards: O_NOFOLLOW (a link as the last step is refused), O_NONBLOCK (a FIFO
 * does not hang the open), fstat (a regular file), and where the descriptor really leads (/proc/self/fd, the
 * kernel's answer after every link on the way was followed) inside the real `root`.
 */
export async function openScratchFile(root: string, path: string): Promise<FileHandle | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined; // missing, a link (ELOOP), unreadable
  }
  try {
    if ((await handle.stat()).isFile()) {
      const [realRoot, opened] = await Promise.all([realpath(root), readlink(`/proc/self/fd/${handle.fd}`)]);
      const rel = relative(realRoot, opened);
      if (rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)) return handle;
    }
  } catch {
    // no /proc, a root that vanished: refused like anything not shown to be inside
  }
  await handle.close();
  return undefined;
}
