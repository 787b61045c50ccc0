import type { Sequential } from '@tensorflow/tfjs';
import type { Tf } from './tensorflow.js';

/** The one model shape model.train makes and model.evaluate accepts: features → Dense(16, relu) → Dense(classes, softmax). */
export const HIDDEN_UNITS = 16;
// Fixed seeds: the same dataset and parameters give the same model.
const INIT_SEED = 7;

export interface ClassifierShape {
  features: number;
  numClasses: number;
}

/** Builds the classifier (weights initialised from the fixed seeds). The caller disposes it. */
export function buildClassifier(tf: Tf, shape: ClassifierShape): Sequential {
  return tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [shape.features],
        units: HIDDEN_UNITS,
        activation: 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: INIT_SEED }),
      }),
      tf.layers.dense({
        units: shape.numClasses,
        activation: 'softmax',
        kernelInitializer: tf.initializers.glorotUniform({ seed: INIT_SEED + 1 }),
      }),
    ],
  });
}

/** How many float32 parameters the classifier of this shape has (kernels and biases). */
export const parameterCount = (s: ClassifierShape): number =>
  s.features * HIDDEN_UNITS + HIDDEN_UNITS + HIDDEN_UNITS * s.numClasses + s.numClasses;
