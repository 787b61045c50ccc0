import {
  ObjectStore,
  type ObjectSource,
  type ObjectStoreConfig,
  type PutResult,
  type StorageLogger,
} from '#libs/storage';

/**
 * A real ObjectStore whose `put` runs `afterPut` once the real put has resolved: the seam where a stager can
 * die (SIGKILL itself) or lose Redis between its object and its record.
 */
export class AfterPutStore extends ObjectStore {
  constructor(
    cfg: ObjectStoreConfig,
    logger: StorageLogger,
    private readonly afterPut: (key: string) => void | Promise<void>,
  ) {
    super(cfg, logger);
  }

  override async put(
    key: string,
    body: ObjectSource,
    opts: { size?: number; contentType: string },
  ): Promise<PutResult> {
    const stored = await super.put(key, body, opts);
    await this.afterPut(key);
    return stored;
  }
}
