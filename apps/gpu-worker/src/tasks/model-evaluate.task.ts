import { z } from 'zod';
import { artifactId, defineTask, readBounded, TaskError } from '#libs/task-sdk';
import { scalarsOf, toTensors } from './classifier/dataset-tensors.js';
import { readLabelledCsv } from './classifier/labelled-csv.js';
import { loadModel, MAX_MODEL_BYTES } from './classifier/model-artifact.js';
import { normalise } from './classifier/normalisation.js';
import { loadTensorflow } from './classifier/tensorflow.js';
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
    // Recorded sizes first: an oversized model or dataset is refused before a byte is read.
    const modelBytes = await readBounded(ctx, input.model, MAX_MODEL_BYTES, `model ${input.model}`);
    const data = await readLabelledCsv(ctx, input.dataset);
    const tf = await loadTensorflow();
    const { model, meta } = await loadModel(tf, modelBytes, input.model);
    try {
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
      ctx.progress(0.3, `model loaded (${meta.numClasses} classes); evaluating ${data.features.length} rows`);
      const t = toTensors(tf, normalise(data.features, meta.normalisation), data.labels, meta.numClasses);
      try {
        model.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
        const [loss, accuracy] = await scalarsOf(model.evaluate(t.x, t.y, { batchSize: 1024 }));
        ctx.progress(1, `accuracy=${accuracy!.toFixed(4)} loss=${loss!.toFixed(4)}`);
        return { accuracy: accuracy!, loss: loss!, rows: data.features.length };
      } finally {
        t.x.dispose();
        t.y.dispose();
      }
    } finally {
      model.dispose();
    }
  },
});
