import {
  backoffDelay,
  StorageAccessDeniedError,
  StorageUnavailableError,
  withStorageRetry,
} from './index.js';

const policy = { attempts: 3, baseDelayMs: 1, maxDelayMs: 5, timeoutMs: 200 };
const err = (code: string) => Object.assign(new Error(code), { code });

describe('withStorageRetry', () => {
  it('retries network errors, then gives up with a retryable STORAGE_UNAVAILABLE', async () => {
    let calls = 0;
    const retries: number[] = [];
    const p = withStorageRetry(
      'putObject',
      async () => {
        calls++;
        throw err('ECONNREFUSED');
      },
      policy,
      { onRetry: (_op, attempt) => retries.push(attempt) },
    );
    await expect(p).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(p).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE', retryable: true });
    expect(calls).toBe(3);
    expect(retries).toEqual([1, 2]);
  });

  it('recovers when a later try succeeds', async () => {
    let calls = 0;
    const v = await withStorageRetry(
      'getObject',
      async () => (++calls < 3 ? Promise.reject(err('ECONNRESET')) : 'ok'),
      policy,
    );
    expect(v).toBe('ok');
    expect(calls).toBe(3);
  });

  it('treats a hanging call as a timeout and retries it', async () => {
    let calls = 0;
    const p = withStorageRetry('statObject', () => (calls++, new Promise<never>(() => undefined)), {
      ...policy,
      timeoutMs: 20,
    });
    await expect(p).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(calls).toBe(3);
  });

  it('does not retry refused credentials or other answers', async () => {
    let calls = 0;
    await expect(
      withStorageRetry('putObject', async () => (calls++, Promise.reject(err('InvalidAccessKeyId'))), policy),
    ).rejects.toBeInstanceOf(StorageAccessDeniedError);
    await expect(
      withStorageRetry('getObject', async () => (calls++, Promise.reject(err('NoSuchKey'))), policy),
    ).rejects.toMatchObject({
      code: 'NoSuchKey',
    });
    expect(calls).toBe(2);
  });

  it("aborts a try's signal when the try fails or runs out of time, so it can end what it started", async () => {
    const signals: AbortSignal[] = [];
    await expect(
      withStorageRetry(
        'statObject',
        (signal) => (signals.push(signal), new Promise<never>(() => undefined)),
        { ...policy, attempts: 2, timeoutMs: 20 },
      ),
    ).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(signals.map((s) => s.aborted)).toEqual([true, true]);
    expect(signals[0]!.reason).toMatchObject({ code: 'OPERATION_TIMEOUT' });
  });

  it('leaves a progress-bound try to bound itself: it is not cut at timeoutMs', async () => {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const v = await withStorageRetry(
      'putObject',
      () => sleep(80).then(() => 'done'),
      { ...policy, timeoutMs: 20 },
      {},
      'progress',
    );
    expect(v).toBe('done');
  });
});

describe('backoffDelay', () => {
  it('grows exponentially within the cap', () => {
    const p = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(0, p, () => 0)).toBe(50);
    expect(backoffDelay(0, p, () => 1)).toBe(100);
    expect(backoffDelay(3, p, () => 1)).toBe(800);
    expect(backoffDelay(10, p, () => 1)).toBe(1000);
  });
});
