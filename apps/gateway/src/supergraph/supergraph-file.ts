import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { SupergraphSdlHook } from '@apollo/gateway';

export interface SupergraphFileLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * The gateway's supergraph source: the composed file, hot-reloaded. Watches the directory (editors and
 * `npm run compose` replace the file by rename, which a watch on the file itself would lose), debounces,
 * and hands a changed SDL to the gateway; a file that does not load is logged and the running supergraph
 * stays in place.
 */
export function supergraphFromFile(
  path: string,
  logger: SupergraphFileLogger,
  onReloadFailed?: (err: unknown) => void,
): SupergraphSdlHook {
  const file = resolve(path);
  return async ({ update }) => {
    let current = await readFile(file, 'utf8');
    let watcher: FSWatcher | null = null;
    let timer: NodeJS.Timeout | undefined;
    const reload = async () => {
      let next: string;
      try {
        next = await readFile(file, 'utf8');
      } catch (err) {
        logger.error({ err: String(err), file }, 'supergraph file unreadable; keeping the loaded one');
        return;
      }
      if (next === current) return;
      try {
        update(next);
        current = next;
        logger.info({ file }, 'supergraph reloaded');
      } catch (err) {
        onReloadFailed?.(err);
        logger.error(
          { err: err instanceof Error ? err.message : String(err), file },
          'new supergraph rejected; keeping the loaded one',
        );
      }
    };
    watcher = watch(dirname(file), (_event, name) => {
      if (name && name !== basename(file)) return;
      clearTimeout(timer);
      timer = setTimeout(() => void reload(), 150);
    });
    return {
      supergraphSdl: current,
      cleanup: async () => {
        clearTimeout(timer);
        watcher?.close();
      },
    };
  };
}
