import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { TaskManifest } from '#libs/contracts';
import {
  artifactId,
  createLocalTaskContext,
  defineTask,
  DuplicateTaskError,
  normaliseProgress,
  readBounded,
  runTask,
  schemaDisagreements,
  TaskCatalog,
  TaskDefinitionError,
  TaskError,
  type LocalTaskContext,
  type TaskContext,
} from './index.js';

const cpu = { gpu: 0, vramGb: 0, cpu: 1 };

const resize = defineTask({
  name: 'demo.resize',
  version: '1.2.3',
  description: 'test definition',
  resources: cpu,
  input: z.strictObject({
    image: artifactId(),
    width: z.int().min(1).max(100),
    height: z.int().min(1).max(100).optional(),
    format: z.enum(['png', 'jpeg']).optional(),
    quality: z.number().gt(0).lte(1).default(0.8),
  }),
  output: z.strictObject({ image: artifactId(), width: z.int(), height: z.int() }),
  timeoutMs: 1000,
  attempts: 2,
  artifactFields: ['image'],
  async run(input, ctx) {
    ctx.progress(0.5, 'half');
    return { image: input.image, width: input.width, height: input.height ?? input.width };
  },
});

let dir: string;
let ctx: LocalTaskContext;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'task-sdk-'));
  ctx = await createLocalTaskContext({ rootDir: dir });
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function taskError(p: Promise<unknown>): Promise<TaskError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(TaskError);
    return e as TaskError;
  }
  throw new Error('expected a TaskError');
}

describe('defineTask', () => {
  it('builds a manifest the contracts accept, with strict JSON Schemas', () => {
    const m = TaskManifest.parse(resize.manifest());
    expect(m).toMatchObject({
      name: 'demo.resize',
      version: '1.2.3',
      artifactFields: ['image'],
      attempts: 2,
    });
    expect(m.inputSchema).toMatchObject({
      type: 'object',
      additionalProperties: false,
      required: ['image', 'width'],
      properties: {
        image: { type: 'string', minLength: 1 },
        width: { type: 'integer', minimum: 1, maximum: 100 },
        format: { type: 'string', enum: ['png', 'jpeg'] },
      },
    });
    expect(m.inputSchema.$schema).toBeUndefined();
    expect(m.schemaHash).toMatch(/^[0-9a-f]{64}$/);
    expect(resize.manifest()).toEqual(m); // stable
  });

  it('refuses bad names, versions, open objects and unknown artifact fields', () => {
    const base = {
      resources: cpu,
      input: z.strictObject({}),
      output: z.strictObject({ a: z.string() }),
      timeoutMs: 1,
      attempts: 1,
      run: async () => ({ a: 'x' }),
    };
    expect(() => defineTask({ ...base, name: 'Bad Name', version: '1.0.0' })).toThrow(TaskDefinitionError);
    expect(() => defineTask({ ...base, name: 'ok.name', version: 'v1' })).toThrow(/version/);
    expect(() =>
      defineTask({ ...base, name: 'ok.name', version: '1.0.0', input: z.object({ a: z.string() }) }),
    ).toThrow(/strictObject/);
    expect(() =>
      defineTask({ ...base, name: 'ok.name', version: '1.0.0', artifactFields: ['nope'] }),
    ).toThrow(/nope/);
    expect(() => defineTask({ ...base, name: 'ok.name', version: '1.0.0', attempts: 0 })).toThrow(
      TaskDefinitionError,
    );
  });
});

describe('zod and JSON Schema agree', () => {
  it('on accepted and rejected samples', () => {
    const ok = { image: 'a1', width: 10 };
    const samples = [
      ok,
      { ...ok, height: 5, format: 'png', quality: 1 },
      { ...ok, width: 10.5 },
      { ...ok, width: 0 },
      { ...ok, width: 101 },
      { ...ok, width: '10' },
      { ...ok, format: 'gif' },
      { ...ok, image: '' },
      { ...ok, image: 42 },
      { ...ok, extra: true },
      { ...ok, quality: 0 },
      { width: 10 },
      null,
      [],
      'x',
    ];
    expect(
      schemaDisagreements(resize, {
        input: samples,
        output: [
          { image: 'a', width: 1, height: 2 },
          { image: 'a', width: 1 },
          { image: 'a', width: 1, height: 2, x: 1 },
        ],
      }),
    ).toEqual([]);
  });
});

describe('runTask', () => {
  it('runs with validated input (defaults applied) and reports progress', async () => {
    const out = await runTask(resize, { image: 'a', width: 7 }, ctx);
    expect(out).toEqual({ image: 'a', width: 7, height: 7 });
    expect(ctx.progressUpdates).toEqual([{ fraction: 0.5, message: 'half' }]);
  });

  it('refuses bad input as INVALID_INPUT, not retryable, naming the fields', async () => {
    const e = await taskError(runTask(resize, { image: 'a', width: 0, format: 'gif' }, ctx));
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/width/);
    expect(e.message).toMatch(/format/);
    expect(e.toJobError()).toEqual({ code: 'INVALID_INPUT', message: e.message, retryable: false });
  });

  it('fails a bad output as INVALID_OUTPUT', async () => {
    const bad = defineTask({
      ...resize,
      name: 'demo.bad',
      run: async () => ({ image: 'a', width: 'wide' }) as never,
    });
    const e = await taskError(runTask(bad, { image: 'a', width: 1 }, ctx));
    expect(e.code).toBe('INVALID_OUTPUT');
    expect(e.message).toMatch(/width/);
    expect(e.retryable).toBe(false);
  });

  it('maps unknown errors to TASK_FAILED retryable and keeps TaskErrors', async () => {
    const boom = defineTask({
      ...resize,
      name: 'demo.boom',
      run: async () => {
        throw new RangeError('disk on fire');
      },
    });
    const e = await taskError(runTask(boom, { image: 'a', width: 1 }, ctx));
    expect(e).toMatchObject({ code: 'TASK_FAILED', retryable: true });
    expect(e.message).toMatch(/disk on fire/);
    const typed = defineTask({
      ...resize,
      name: 'demo.typed',
      run: async () => {
        throw new TaskError('STORAGE_UNAVAILABLE', 's3 down', { retryable: true });
      },
    });
    expect(await taskError(runTask(typed, { image: 'a', width: 1 }, ctx))).toMatchObject({
      code: 'STORAGE_UNAVAILABLE',
    });
  });

  it('reports an aborted attempt with the abort reason', async () => {
    const ac = new AbortController();
    const waits = defineTask({
      ...resize,
      name: 'demo.waits',
      run: (_i, c) =>
        new Promise((_r, reject) => c.signal.addEventListener('abort', () => reject(new Error('stopped')))),
    });
    const local = await createLocalTaskContext({ rootDir: dir, signal: ac.signal });
    const p = runTask(waits, { image: 'a', width: 1 }, local);
    ac.abort(new TaskError('TIMEOUT', 'over 1000 ms', { retryable: true }));
    expect(await taskError(p)).toMatchObject({ code: 'TIMEOUT', retryable: true });
    const ac2 = new AbortController();
    const p2 = runTask(
      waits,
      { image: 'a', width: 1 },
      await createLocalTaskContext({ rootDir: dir, signal: ac2.signal }),
    );
    ac2.abort('job cancelled');
    expect(await taskError(p2)).toMatchObject({ code: 'CANCELLED', retryable: false });
  });

  it('never lets progress or logs throw into the task', async () => {
    const noisy = defineTask({
      ...resize,
      name: 'demo.noisy',
      async run(input, c) {
        c.progress(Number.NaN);
        c.progress(7, 'x'.repeat(5000));
        c.progress(-1);
        c.progress(undefined as never, undefined);
        c.log.info('hello');
        return { image: input.image, width: 1, height: 1 };
      },
    });
    const throwing = {
      ...ctx,
      progress: () => {
        throw new Error('redis down');
      },
      log: {
        ...ctx.log,
        info: () => {
          throw new Error('x');
        },
      },
    };
    await expect(runTask(noisy, { image: 'a', width: 1 }, throwing)).resolves.toEqual({
      image: 'a',
      width: 1,
      height: 1,
    });
    await runTask(noisy, { image: 'a', width: 1 }, ctx);
    expect(ctx.progressUpdates.map((p) => p.fraction)).toEqual([1, 0]);
    expect(ctx.progressUpdates[0]!.message).toHaveLength(2000);
    expect(normaliseProgress(0.25)).toEqual({ fraction: 0.25 });
    expect(normaliseProgress('0.5')).toBeNull();
  });

  it("passes the runtime's context on as it is: a getter stays a getter, other members and their order kept", async () => {
    let reads = 0;
    const runtime = { ...ctx } as Record<string, unknown>;
    delete runtime.workDir;
    Object.defineProperty(runtime, 'workDir', {
      get: () => `/scratch/${++reads}`,
      enumerable: true,
      configurable: true,
    });
    Object.defineProperty(runtime, 'hidden', { value: 42, enumerable: false });
    let seen: TaskContext | undefined;
    const peek = defineTask({
      ...resize,
      name: 'demo.peek',
      async run(input, c) {
        seen = c;
        return { image: input.image, width: 1, height: 1 };
      },
    });
    await runTask(peek, { image: 'a', width: 1 }, runtime as unknown as TaskContext);
    expect(reads).toBe(0); // copying the context did not call the getter
    expect(seen!.workDir).toBe('/scratch/1');
    expect(seen!.workDir).toBe('/scratch/2');
    expect(Object.keys(seen!)).toEqual(Object.keys(runtime));
    expect(Object.getOwnPropertyDescriptor(seen!, 'hidden')).toEqual({
      value: 42,
      enumerable: false,
      writable: false,
      configurable: false,
    });
    expect(seen!.signal).toBe(ctx.signal);
    expect(seen!.artifacts).toBe(ctx.artifacts);
    expect(seen!.progress).not.toBe(ctx.progress); // guarded
  });
});

describe('TaskCatalog', () => {
  it('refuses a duplicate name+version, allows other versions', () => {
    const v2 = defineTask({ ...resize, version: '2.0.0' });
    const catalog = new TaskCatalog([resize, v2]);
    expect(catalog.get('demo.resize', '2.0.0')).toBe(v2);
    expect(catalog.get('demo.resize', '9.0.0')).toBeUndefined();
    expect(catalog.manifests().map((m) => m.version)).toEqual(['1.2.3', '2.0.0']);
    expect(() => new TaskCatalog([resize, v2, defineTask({ ...resize })])).toThrow(DuplicateTaskError);
  });
});

describe('local task context', () => {
  it('stores and reads artifacts from buffers, files and streams', async () => {
    const a = await ctx.artifacts.put(Buffer.from('hello'), { name: 'a.txt', contentType: 'text/plain' });
    expect((await ctx.artifacts.read(a)).toString()).toBe('hello');
    const target = join(ctx.workDir, 'copy.txt');
    await ctx.artifacts.download(a, target);
    const b = await ctx.artifacts.put(target, { name: 'b.txt', contentType: 'text/plain' });
    expect(await ctx.stored(b)).toMatchObject({ name: 'b.txt', size: 5 });
    const { Readable } = await import('node:stream');
    const c = await ctx.artifacts.put(Readable.from([Buffer.from('str'), Buffer.from('eam')]), {
      name: 'c',
      contentType: 'text/plain',
    });
    expect((await ctx.artifacts.read(c)).toString()).toBe('stream');
    await expect(ctx.artifacts.read('../etc/passwd')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});

describe('bounds against hostile inputs', () => {
  it('advertises minTimeoutSeconds and refuses one above the default timeout', () => {
    const def = (minTimeoutSeconds: number) =>
      defineTask({
        name: 'demo.train',
        version: '1.0.0',
        resources: cpu,
        input: z.strictObject({}),
        output: z.strictObject({}),
        timeoutMs: 60_000,
        minTimeoutSeconds,
        attempts: 1,
        run: async () => ({}),
      });
    expect(def(30).manifest().minTimeoutSeconds).toBe(30);
    expect(resize.manifest().minTimeoutSeconds).toBeUndefined();
    expect(() => def(61)).toThrow(/minTimeoutSeconds \(61\) is above the default timeout/);
  });

  it('readBounded refuses an artifact over the limit from its recorded size, before reading it', async () => {
    const id = await ctx.artifacts.put(Buffer.alloc(2048), { name: 'big.csv', contentType: 'text/csv' });
    expect(await ctx.artifacts.stat(id)).toEqual({ name: 'big.csv', contentType: 'text/csv', size: 2048 });
    let reads = 0;
    const counting = {
      artifacts: { ...ctx.artifacts, read: async (a: string) => (reads++, ctx.artifacts.read(a)) },
    };
    const err = await taskError(readBounded(counting, id, 1024, 'dataset'));
    expect(err).toMatchObject({ code: 'INVALID_INPUT', retryable: false });
    expect(err.message).toMatch(/dataset is 2048 bytes; this task reads at most 1024/);
    expect(reads).toBe(0);
    expect((await readBounded(counting, id, 2048)).length).toBe(2048);
  });
});
