import { z } from 'zod';
import { artifactId, defineTask, readBounded, TaskError } from '#libs/task-sdk';
import { oneHotBatches, scalarsOf, toTensors } from './classifier/dataset-tensors.js';
import { readLabelledCsv } from './classifier/labelled-csv.js';
import { buildModel, MAX_MODEL_BYTES, parseModelArtifact } from './classifier/model-artifact.js';
import { normalise } from './classifier/normalisation.js';
import { loadTensorflow } from './classifier/tensorflow.js';
import { assertTensorBudget, EVALUATE_BATCH_ROWS } from './classifier/tensor-budget.js';
import { CPU_TASK } from './resources.js';

/** Loads a model artifact made by model.train and measures it on a labelled CSV dataset. */
export const modelEvaluate = defineTask({
  name: 'model.evaluate',
  version: '1.0.0',
  description: 'Evaluate a model artifact from model.train on a CSV dataset with the same columns.',
  resources: CPU_TASK,
  input: z.strictObject({ model: artifactId(), dataset: artifactId() }),
  output: z.strictObject({
    accuracy: z.number().min(0).max(1),
    loss: z.number().min(0),
    rows: z.int().min(1),
  }),
  timeoutMs: 10 * 60_000,
  attempts: 2,
  async run(input, ctx) {
    // Recorded sizes first: an oversized model or dataset is refused before a byte is read. The model is
    // parsed (checked against what model.train writes) before the dataset is fetched or anything is built.
    const modelBytes = await readBounded(ctx, input.model, MAX_MODEL_BYTES, `model ${input.model}`);
    const meta = parseModelArtifact(modelBytes, input.model);
    const data = await readLabelledCsv(ctx, input.dataset);
    if (data.featureNames.join(',') !== meta.featureNames.join(',')) {
      throw new TaskError(
        'INVALID_INPUT',
        `dataset ${input.dataset} has columns [${data.featureNames.join(', ')}], the model was trained on [${meta.featureNames.join(', ')}]`,
        { retryable: false },
      );
    }
    if (data.numClasses > meta.numClasses) {
      throw new TaskError(
        'INVALID_INPUT',
        `dataset ${input.dataset} has label ${data.numClasses - 1}, the model knows ${meta.numClasses} classes`,
        { retryable: false },
      );
    }
    const shape = { features: meta.featureNames.length, numClasses: meta.numClasses };
    assertTensorBudget(`dataset ${input.dataset} with model ${input.model}`, data.features.length, shape);

    const tf = await loadTensorflow();
    // Everything this attempt makes in tfjs, disposed whatever happens: the runner is reused by other tenants.
    const held: Array<{ dispose(): void }> = [];
    const hold = <T extends { dispose(): void }>(t: T): T => (held.push(t), t);
    try {
      const model = hold(buildModel(tf, meta));
      ctx.progress(0.3, `model loaded (${meta.numClasses} classes); evaluating ${data.features.length} rows`);
      const t = hold(toTensors(tf, normalise(data.features, meta.normalisation), data.labels));
      // a named optimizer: tfjs owns it and model.dispose() disposes it
      model.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
      const [loss, accuracy] = await scalarsOf(
        await model.evaluateDataset(oneHotBatches(tf, t, meta.numClasses, EVALUATE_BATCH_ROWS), {}),
      );
      ctx.progress(1, `accuracy=${accuracy!.toFixed(4)} loss=${loss!.toFixed(4)}`);
      return { accuracy: accuracy!, loss: loss!, rows: data.features.length };
    } finally {
      for (const h of held.reverse()) h.dispose();
    }
  },
});
