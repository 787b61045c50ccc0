import { z } from 'zod';
import type { LayersModel } from '@tensorflow/tfjs';
import { TaskError } from '#libs/task-sdk';
import type { Normalisation } from './normalisation.js';
import type { Tf } from './tensorflow.js';

export const MODEL_ARTIFACT_FORMAT = 'switchyard.tfjs-classifier';
export const MODEL_CONTENT_TYPE = 'application/json';
/** A model.train model is a few KB; anything near this is not one of ours. */
export const MAX_MODEL_BYTES = 16 * 1024 * 1024;

/**
 * The one file a trained classifier is stored as: tfjs topology and weights (base64) plus what is
 * needed to use it on new rows (feature names, class count, normalisation).
 */
export const ModelArtifact = z.object({
  format: z.literal(MODEL_ARTIFACT_FORMAT),
  formatVersion: z.literal(1),
  featureNames: z.array(z.string().min(1)).min(1),
  numClasses: z.int().min(2),
  normalisation: z.object({ mean: z.array(z.number()), std: z.array(z.number().positive()) }),
  modelTopology: z.record(z.string(), z.unknown()),
  weightSpecs: z.array(
    z.object({
      name: z.string(),
      shape: z.array(z.int().min(0)),
      dtype: z.enum(['float32', 'int32', 'bool']),
    }),
  ),
  weightData: z.string(), // base64
  trainedAt: z.string(),
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
        modelTopology: artifacts.modelTopology as Record<string, unknown>,
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

/** Parses and loads a model artifact; anything that is not one is bad input, not a retryable failure. */
export async function loadModel(
  tf: Tf,
  bytes: Buffer,
  artifactIdForErrors: string,
): Promise<{ model: LayersModel; meta: ModelArtifact }> {
  let meta: ModelArtifact;
  try {
    meta = ModelArtifact.parse(JSON.parse(bytes.toString('utf8')));
  } catch {
    throw new TaskError(
      'INVALID_INPUT',
      `model ${artifactIdForErrors} is not a ${MODEL_ARTIFACT_FORMAT} artifact`,
      {
        retryable: false,
      },
    );
  }
  const weightData = Buffer.from(meta.weightData, 'base64');
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: meta.modelTopology,
      weightSpecs: meta.weightSpecs,
      weightData: weightData.buffer.slice(
        weightData.byteOffset,
        weightData.byteOffset + weightData.byteLength,
      ),
    }),
  );
  return { model, meta };
}
