import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createLocalTaskContext,
  runTask,
  schemaDisagreements,
  TaskError,
  type LocalTaskContext,
} from '#libs/task-sdk';
import { loadTensorflow } from './classifier/tensorflow.js';
import { modelEvaluate } from './model-evaluate.task.js';
import { modelTrain } from './model-train.task.js';

const datasetPath = new URL('../../../../data/blobs-3class.csv', import.meta.url);

let dir: string;
let ctx: LocalTaskContext;
let dataset: string;
/** The shipped dataset stored as an artifact of `c`. */
const putDataset = async (c: LocalTaskContext) =>
  c.artifacts.put(await readFile(datasetPath), { name: 'blobs.csv', contentType: 'text/csv' });

/** A context whose signal the test aborts, with the dataset in it. */
async function abortableContext() {
  const ac = new AbortController();
  const c = await createLocalTaskContext({ rootDir: dir, signal: ac.signal });
  return { ac, c, ds: await putDataset(c) };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'classifier-'));
  ctx = await createLocalTaskContext({ rootDir: dir });
  dataset = await putDataset(ctx);
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('model.train and model.evaluate on the shipped dataset', () => {
  it('trains a classifier clearly better than chance, and evaluate reproduces its metrics from the artifact', async () => {
    const trained = await runTask(modelTrain, { dataset, epochs: 40, validationSplit: 0 }, ctx);
    expect(trained.epochs).toBe(40);
    expect(trained.accuracy).toBeGreaterThan(0.85); // chance is 1/3
    const epochMessages = ctx.progressUpdates.filter((p) => /^epoch \d+\/40/.test(p.message ?? ''));
    expect(epochMessages).toHaveLength(40);
    expect(ctx.progressUpdates.at(-1)!.fraction).toBe(1);
    expect(await ctx.stored(trained.model)).toMatchObject({
      name: 'model.json',
      contentType: 'application/json',
    });

    const evaluated = await runTask(modelEvaluate, { model: trained.model, dataset }, ctx);
    expect(evaluated.rows).toBe(300);
    expect(evaluated.accuracy).toBeCloseTo(trained.accuracy, 6);
    expect(evaluated.loss).toBeCloseTo(trained.loss, 4);
  });

  it('reports validation metrics with a split, and is deterministic', async () => {
    const a = await runTask(modelTrain, { dataset, epochs: 15 }, ctx);
    const b = await runTask(modelTrain, { dataset, epochs: 15 }, ctx);
    expect(a.accuracy).toBeGreaterThan(0.7);
    expect(b.accuracy).toBe(a.accuracy);
    expect(b.loss).toBeCloseTo(a.loss, 6);
  });

  it('stops between epochs when the signal aborts', async () => {
    const { ac, c, ds } = await abortableContext();
    const origProgress = c.progress.bind(c);
    c.progress = (f, m) => {
      origProgress(f, m);
      if (m?.startsWith('epoch 3/')) ac.abort('cancelled by test');
    };
    const err = await runTask(modelTrain, { dataset: ds, epochs: 500 }, c).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect(err).toMatchObject({ code: 'CANCELLED', retryable: false });
    expect(c.progressUpdates.filter((p) => p.message?.startsWith('epoch')).length).toBeLessThanOrEqual(4);
  });

  it('leaves no tensor in the runner: evaluate, a cancelled training, a refused model', async () => {
    const tf = await loadTensorflow();
    const trained = await runTask(modelTrain, { dataset, epochs: 2 }, ctx);
    const before = tf.memory();
    const same = () =>
      expect(tf.memory()).toMatchObject({ numTensors: before.numTensors, numBytes: before.numBytes });
    await runTask(modelEvaluate, { model: trained.model, dataset }, ctx);
    same();
    const { ac, c, ds } = await abortableContext();
    const origProgress = c.progress.bind(c);
    c.progress = (f, m) => {
      origProgress(f, m);
      if (m?.startsWith('epoch 2/')) ac.abort('cancelled by test');
    };
    await expect(runTask(modelTrain, { dataset: ds, epochs: 500 }, c)).rejects.toMatchObject({
      code: 'CANCELLED',
    });
    same();
    const notModel = await ctx.artifacts.put(Buffer.from('{"format":"switchyard.tfjs-classifier"}'), {
      name: 'model.json',
      contentType: 'application/json',
    });
    await expect(runTask(modelEvaluate, { model: notModel, dataset }, ctx)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
    same();
  });

  it("lets the event loop turn after every epoch (each epoch's progress leaves the runner live; a cancel sent by message lands within one epoch)", async () => {
    // An abort that arrives as a message (the runner's cancel) is a macrotask: schedule it when epoch 2 ends.
    const { ac, c, ds } = await abortableContext();
    const turnsBefore: boolean[] = [];
    let turned = true;
    const origProgress = c.progress.bind(c);
    c.progress = (f, m) => {
      origProgress(f, m);
      if (!m?.startsWith('epoch')) return;
      turnsBefore.push(turned);
      turned = false;
      setImmediate(() => (turned = true));
      if (m.startsWith('epoch 2/')) setImmediate(() => ac.abort('cancelled by message'));
    };
    const err = await runTask(modelTrain, { dataset: ds, epochs: 500 }, c).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CANCELLED' });
    expect(turnsBefore).toEqual([true, true, true]); // epoch 3 ended after the abort landed; it stopped there
  });

  it('refuses a malformed dataset and a non-model artifact as bad input', async () => {
    const noLabel = await ctx.artifacts.put(Buffer.from('a,b\n1,2\n'), {
      name: 'x.csv',
      contentType: 'text/csv',
    });
    await expect(runTask(modelTrain, { dataset: noLabel }, ctx)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      retryable: false,
    });
    const badCell = await ctx.artifacts.put(Buffer.from('a,label\n1,0\nx,1\n'), {
      name: 'x.csv',
      contentType: 'text/csv',
    });
    await expect(runTask(modelTrain, { dataset: badCell }, ctx)).rejects.toThrow(/line 3, column "a"/);
    const badLabel = await ctx.artifacts.put(Buffer.from('a,label\n1,0\n2,1.5\n'), {
      name: 'x.csv',
      contentType: 'text/csv',
    });
    await expect(runTask(modelTrain, { dataset: badLabel }, ctx)).rejects.toThrow(/label 1.5/);
    await expect(runTask(modelEvaluate, { model: dataset, dataset }, ctx)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
    await expect(runTask(modelTrain, { dataset, epochs: 0 }, ctx)).rejects.toThrow(/epochs/);
  });

  it('refuses an oversized dataset from its recorded size, before reading or downloading it', async () => {
    // Stands in for a 64 MB+ upload: only the recorded size matters, and nothing may be read.
    let touched = 0;
    const artifacts = {
      ...ctx.artifacts,
      stat: async (id: string) => ({ ...(await ctx.artifacts.stat(id)), size: 64 * 1024 * 1024 + 1 }),
      read: (id: string) => (touched++, ctx.artifacts.read(id)),
      download: (id: string, to: string) => (touched++, ctx.artifacts.download(id, to)),
    };
    const hostile = { ...ctx, artifacts };
    for (const run of [
      () => runTask(modelTrain, { dataset }, hostile),
      () => runTask(modelEvaluate, { model: dataset, dataset }, hostile),
    ]) {
      await expect(run()).rejects.toMatchObject({
        code: 'INVALID_INPUT',
        retryable: false,
        message: expect.stringMatching(/is 67108865 bytes; this task reads at most/),
      });
    }
    expect(touched).toBe(0);
  });

  it('declares a minimum timeout for training', () => {
    expect(modelTrain.manifest().minTimeoutSeconds).toBe(30);
  });

  it('refuses a dataset whose columns differ from the model', async () => {
    const trained = await runTask(modelTrain, { dataset, epochs: 1 }, ctx);
    const other = await ctx.artifacts.put(Buffer.from('x,y,label\n1,2,0\n'), {
      name: 'x.csv',
      contentType: 'text/csv',
    });
    await expect(runTask(modelEvaluate, { model: trained.model, dataset: other }, ctx)).rejects.toThrow(
      /columns/,
    );
  });

  it('advertise JSON Schemas that agree with zod', () => {
    expect(
      schemaDisagreements(modelTrain, {
        input: [
          { dataset: 'a' },
          { dataset: 'a', epochs: 3, learningRate: 0.1, validationSplit: 0.5 },
          { dataset: 'a', epochs: 2.5 },
          { dataset: 'a', learningRate: 0 },
          { dataset: 'a', validationSplit: 1 },
          { dataset: 'a', validationSplit: -0.1 },
          { dataset: 'a', extra: 1 },
          {},
        ],
        output: [
          { model: 'm', loss: 0.1, accuracy: 0.9, epochs: 3 },
          { model: 'm', loss: 0.1, accuracy: 1.2, epochs: 3 },
        ],
      }),
    ).toEqual([]);
    expect(
      schemaDisagreements(modelEvaluate, {
        input: [{ model: 'm', dataset: 'd' }, { model: 'm' }, { model: 1, dataset: 'd' }],
        output: [
          { accuracy: 1, loss: 0, rows: 3 },
          { accuracy: 1, loss: 0, rows: 0 },
        ],
      }),
    ).toEqual([]);
  });
});
