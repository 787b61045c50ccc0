import { z } from 'zod';
import type { LayersModel } from '@tensorflow/tfjs';
import { TaskError } from '#libs/task-sdk';
import { buildClassifier, parameterCount } from './classifier-model.js';
import { MAX_CLASSES } from './labelled-csv.js';
import { ClassifierTopology, shapeOf, weightSpecsOf } from './model-topology.js';
import type { Normalisation } from './normalisation.js';
import type { Tf } from './tensorflow.js';

export const MODEL_ARTIFACT_FORMAT = 'switchyard.tfjs-classifier';
export const MODEL_CONTENT_TYPE = 'application/json';
/** A model.train model is a few KB; anything near this is not one of ours. */
export const MAX_MODEL_BYTES = 16 * 1024 * 1024;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The one file a trained classifier is stored as: tfjs topology and weights (base64) plus what is
 * needed to use it on new rows (feature names, class count, normalisation). Everything must agree with
 * everything else (input width, classes, weight shapes and bytes): a tenant writes this file.
 */
export const ModelArtifact = z
  .object({
    format: z.literal(MODEL_ARTIFACT_FORMAT),
    formatVersion: z.literal(1),
    featureNames: z.array(z.string().min(1)).min(1),
    numClasses: z.int().min(2).max(MAX_CLASSES),
    normalisation: z.object({ mean: z.array(z.number()), std: z.array(z.number().positive()) }),
    modelTopology: ClassifierTopology,
    weightSpecs: z
      .array(z.object({ name: z.string(), shape: z.array(z.int().min(0)), dtype: z.literal('float32') }))
      .max(4),
    weightData: z.string().regex(BASE64, 'not base64'), // float32, little-endian, in weightSpecs order
    trainedAt: z.string(),
  })
  .superRefine((a, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    const features = a.featureNames.length;
    const shape = shapeOf(a.modelTopology);
    if (shape.features !== features)
      issue('modelTopology', `the model takes ${shape.features} inputs, featureNames lists ${features}`);
    if (shape.numClasses !== a.numClasses)
      issue('modelTopology', `the model has ${shape.numClasses} outputs, numClasses is ${a.numClasses}`);
    const [hidden, output] = a.modelTopology.config.layers;
    if (hidden.config.name === output.config.name) issue('modelTopology', 'two layers have the same name');
    if (a.normalisation.mean.length !== features || a.normalisation.std.length !== features)
      issue('normalisation', `needs ${features} means and stds, one per feature`);
    const specs = weightSpecsOf(a.modelTopology);
    const same =
      a.weightSpecs.length === specs.length &&
      specs.every(
        (s, i) => a.weightSpecs[i]!.name === s.name && a.weightSpecs[i]!.shape.join() === s.shape.join(),
      );
    if (!same)
      issue(
        'weightSpecs',
        `must be ${specs.map((s) => `${s.name} [${s.shape.join(', ')}]`).join(', ')} (float32)`,
      );
    const bytes = Buffer.byteLength(a.weightData, 'base64');
    const expected = 4 * parameterCount(shape);
    if (bytes !== expected) issue('weightData', `holds ${bytes} bytes, the weights are ${expected}`);
  });
export type ModelArtifact = z.infer<typeof ModelArtifact>;

export async function serialiseModel(
  tf: Tf,
  model: LayersModel,
  meta: { featureNames: string[]; numClasses: number; normalisation: Normalisation },
): Promise<Buffer> {
  let saved: ModelArtifact | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData;
      if (!artifacts.modelTopology || !artifacts.weightSpecs || !weightData || Array.isArray(weightData)) {
        throw new Error('tfjs returned a model without topology or in several weight shards');
      }
      saved = {
        format: MODEL_ARTIFACT_FORMAT,
        formatVersion: 1,
        featureNames: meta.featureNames,
        numClasses: meta.numClasses,
        normalisation: meta.normalisation,
        // written as tfjs gives it: parseModelArtifact is the check (of what a tenant may have written instead)
        modelTopology: artifacts.modelTopology as ClassifierTopology,
        weightSpecs: artifacts.weightSpecs.map((s) => ({
          name: s.name,
          shape: s.shape,
          dtype: s.dtype as 'float32',
        })),
        weightData: Buffer.from(weightData as ArrayBuffer).toString('base64'),
        trainedAt: new Date().toISOString(),
      };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return Buffer.from(JSON.stringify(saved));
}

/**
 * Parses a model artifact without building anything: anything that is not a classifier as model.train
 * writes it is bad input (not retryable), with what is wrong.
 */
export function parseModelArtifact(bytes: Buffer, artifactIdForErrors: string): ModelArtifact {
  const refuse = (why: string) =>
    new TaskError(
      'INVALID_INPUT',
      `model ${artifactIdForErrors} is not a ${MODEL_ARTIFACT_FORMAT} artifact as model.train writes it: ${why}`,
      { retryable: false },
    );
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw refuse('not JSON');
  }
  const parsed = ModelArtifact.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw refuse(`${first.path.join('.') || '(root)'}: ${first.message}`.slice(0, 500));
  }
  return parsed.data;
}

/**
 * Builds the classifier a parsed artifact describes (buildClassifier: the tenant's topology is checked, never
 * interpreted) and gives it the stored weights. The caller disposes the model; nothing is left on a failure.
 */
export function buildModel(tf: Tf, meta: ModelArtifact): LayersModel {
  const model = buildClassifier(tf, shapeOf(meta.modelTopology));
  try {
    const raw = Buffer.from(meta.weightData, 'base64');
    const weights = tf.io.decodeWeights(
      raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength),
      meta.weightSpecs,
    );
    try {
      model.setWeights(meta.weightSpecs.map((s) => weights[s.name]!));
    } finally {
      tf.dispose(Object.values(weights));
    }
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  }
}
