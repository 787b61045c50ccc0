import { z } from 'zod';
import { artifactId, defineTask, TaskError } from '#libs/task-sdk';
import { buildClassifier } from './classifier/classifier-model.js';
import { oneHotBatches, scalarsOf, toTensors } from './classifier/dataset-tensors.js';
import { readLabelledCsv } from './classifier/labelled-csv.js';
import { MODEL_CONTENT_TYPE, serialiseModel } from './classifier/model-artifact.js';
import { fitNormalisation, normalise } from './classifier/normalisation.js';
import { shuffledIndices } from './classifier/seeded-random.js';
import { loadTensorflow } from './classifier/tensorflow.js';
import { assertTensorBudget, EVALUATE_BATCH_ROWS } from './classifier/tensor-budget.js';
import { CPU_TASK } from './resources.js';

// A fixed seed: the same dataset and parameters give the same split (and buildClassifier the same model).
const SPLIT_SEED = 1;
const BATCH_SIZE = 32;

/**
 * Trains a small dense classifier (one hidden layer) with @tensorflow/tfjs on the CPU backend.
 * Reported `loss`/`accuracy` are measured after training on the validation rows (or on the training
 * rows when validationSplit is 0), so `model.evaluate` on the same rows reproduces them.
 */
export const modelTrain = defineTask({
  name: 'model.train',
  version: '1.0.0',
  description:
    'Train a small classifier on a CSV dataset (header row, numeric features, last column "label"). Outputs the model artifact and its validation metrics.',
  resources: CPU_TASK,
  input: z.strictObject({
    dataset: artifactId(),
    epochs: z.int().min(1).max(1000).default(40),
    learningRate: z.number().gt(0).max(1).default(0.02),
    validationSplit: z.number().min(0).max(0.9).default(0.2),
  }),
  output: z.strictObject({
    model: artifactId(),
    loss: z.number().min(0),
    accuracy: z.number().min(0).max(1),
    epochs: z.int().min(0),
  }),
  timeoutMs: 30 * 60_000,
  // Loading tfjs and a few epochs take seconds; a shorter timeout only kills runners (issue 10).
  minTimeoutSeconds: 30,
  attempts: 2,
  artifactFields: ['model'],
  async run(input, ctx) {
    const data = await readLabelledCsv(ctx, input.dataset);
    if (new Set(data.labels).size < 2) {
      throw new TaskError('INVALID_INPUT', `dataset ${input.dataset}: needs at least two classes`, {
        retryable: false,
      });
    }
    // Checked before a tensor is made: tfjs keeps tensors off the V8 heap (tensor-budget.ts).
    const shape = { features: data.featureNames.length, numClasses: data.numClasses };
    assertTensorBudget(`dataset ${input.dataset}`, data.features.length, shape);

    const order = shuffledIndices(data.features.length, SPLIT_SEED);
    const validationCount = Math.floor(order.length * input.validationSplit);
    const trainIdx = order.slice(validationCount);
    const validationIdx = order.slice(0, validationCount);
    if (trainIdx.length === 0) {
      throw new TaskError('INVALID_INPUT', 'validationSplit leaves no training rows', { retryable: false });
    }
    const pick = (idx: number[]) => ({
      rows: idx.map((i) => data.features[i]!),
      labels: idx.map((i) => data.labels[i]!),
    });
    const train = pick(trainIdx);
    const validation = validationIdx.length > 0 ? pick(validationIdx) : train;
    const normalisation = fitNormalisation(train.rows);
    ctx.log.info(
      `training on ${trainIdx.length} rows, validating on ${validationIdx.length || trainIdx.length} rows, ${data.featureNames.length} features, ${data.numClasses} classes`,
    );

    const tf = await loadTensorflow();
    // Everything this attempt makes in tfjs, disposed whatever happens: the runner is reused by other tenants.
    const held: Array<{ dispose(): void }> = [];
    const hold = <T extends { dispose(): void }>(t: T): T => (held.push(t), t);
    try {
      const trainT = hold(toTensors(tf, normalise(train.rows, normalisation), train.labels));
      const validationT =
        validationIdx.length > 0
          ? hold(toTensors(tf, normalise(validation.rows, normalisation), validation.labels))
          : trainT;
      const model = hold(buildClassifier(tf, shape));
      // tfjs disposes only an optimizer it made from a name: this one (and Adam's moments) is ours to dispose
      const optimizer = hold(tf.train.adam(input.learningRate));
      model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
      let epochsRun = 0;
      // fit() in row order with batches of BATCH_SIZE, the one-hot targets made per batch
      await model.fitDataset(oneHotBatches(tf, trainT, data.numClasses, BATCH_SIZE), {
        epochs: input.epochs,
        verbose: 0,
        // tfjs yields every 125 ms by default: epochs in between would leave the runner as one coalesced
        // progress, and a cancel (a message) would wait for the next yield
        yieldEvery: 'epoch',
        callbacks: {
          onEpochEnd: async (epoch, logs) => {
            epochsRun = epoch + 1;
            const loss = logs?.loss ?? Number.NaN;
            const acc = logs?.acc ?? logs?.accuracy ?? Number.NaN;
            ctx.progress(
              (0.95 * epochsRun) / input.epochs,
              `epoch ${epochsRun}/${input.epochs} loss=${loss.toFixed(4)} accuracy=${acc.toFixed(4)}`,
            );
            // checked between epochs: a cancelled or timed-out attempt stops within one epoch
            if (ctx.signal.aborted) model.stopTraining = true;
          },
        },
      });
      if (ctx.signal.aborted) throw new Error(`training stopped after epoch ${epochsRun}`);

      const [loss, accuracy] = await scalarsOf(
        await model.evaluateDataset(oneHotBatches(tf, validationT, data.numClasses, EVALUATE_BATCH_ROWS), {}),
      );
      if (!Number.isFinite(loss)) {
        throw new TaskError('TASK_FAILED', `training diverged (loss ${loss}); try a lower learningRate`, {
          retryable: false,
        });
      }
      const bytes = await serialiseModel(tf, model, {
        featureNames: data.featureNames,
        numClasses: data.numClasses,
        normalisation,
      });
      const id = await ctx.artifacts.put(bytes, {
        name: 'model.json',
        contentType: MODEL_CONTENT_TYPE,
        size: bytes.length,
      });
      ctx.progress(1, `model stored: loss=${loss!.toFixed(4)} accuracy=${accuracy!.toFixed(4)}`);
      return { model: id, loss: loss!, accuracy: accuracy!, epochs: epochsRun };
    } finally {
      for (const t of held.reverse()) t.dispose();
    }
  },
});
