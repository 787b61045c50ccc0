import { z } from 'zod';
import { HIDDEN_UNITS, type ClassifierShape } from './classifier-model.js';
import { MAX_CLASSES } from './labelled-csv.js';

/*
 * The tfjs topology model.train writes (buildClassifier, saved by tfjs-layers 4.x), and nothing else. A
 * tenant's artifact is parsed against it before any layer is built: another topology (RepeatVector, Conv, a
 * third layer...) could be a few bytes on disk and gigabytes of tensors per batch. Strict objects: a key tfjs
 * does not write is refused. A tfjs upgrade that writes more must widen this (the train → evaluate round trip
 * in classifier-tasks.spec fails first).
 */

/** Layer and model names as tfjs makes them ("dense_Dense12", "sequential_3"). */
const TfName = z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/);

const DenseCommon = {
  use_bias: z.literal(true),
  // glorotUniform({ seed }); its values are replaced by the stored weights, the seed does not matter
  kernel_initializer: z.strictObject({
    class_name: z.literal('VarianceScaling'),
    config: z.strictObject({
      scale: z.literal(1),
      mode: z.literal('fan_avg'),
      distribution: z.literal('uniform'),
      seed: z.int().optional(),
    }),
  }),
  bias_initializer: z.strictObject({ class_name: z.literal('Zeros'), config: z.strictObject({}) }),
  kernel_regularizer: z.null(),
  bias_regularizer: z.null(),
  activity_regularizer: z.null(),
  kernel_constraint: z.null(),
  bias_constraint: z.null(),
  name: TfName,
  trainable: z.literal(true),
};

const HiddenLayer = z.strictObject({
  class_name: z.literal('Dense'),
  config: z.strictObject({
    ...DenseCommon,
    units: z.literal(HIDDEN_UNITS),
    activation: z.literal('relu'),
    batch_input_shape: z.tuple([z.null(), z.int().min(1)]),
    dtype: z.literal('float32'),
  }),
});

const OutputLayer = z.strictObject({
  class_name: z.literal('Dense'),
  config: z.strictObject({
    ...DenseCommon,
    units: z.int().min(2).max(MAX_CLASSES),
    activation: z.literal('softmax'),
  }),
});

export const ClassifierTopology = z.strictObject({
  class_name: z.literal('Sequential'),
  config: z.strictObject({ name: TfName, layers: z.tuple([HiddenLayer, OutputLayer]) }),
  keras_version: z.string().max(64),
  backend: z.literal('tensor_flow.js'),
});
export type ClassifierTopology = z.infer<typeof ClassifierTopology>;

/** The shape a topology describes: its input width and its classes. */
export function shapeOf(t: ClassifierTopology): ClassifierShape {
  const [hidden, output] = t.config.layers;
  return { features: hidden.config.batch_input_shape[1], numClasses: output.config.units };
}

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32';
}

/** The weights of the topology, in the order tfjs saves them (and setWeights takes them). */
export function weightSpecsOf(t: ClassifierTopology): WeightSpec[] {
  const [hidden, output] = t.config.layers.map((l) => l.config.name);
  const { features, numClasses } = shapeOf(t);
  const spec = (name: string, shape: number[]): WeightSpec => ({ name, shape, dtype: 'float32' });
  return [
    spec(`${hidden}/kernel`, [features, HIDDEN_UNITS]),
    spec(`${hidden}/bias`, [HIDDEN_UNITS]),
    spec(`${output}/kernel`, [HIDDEN_UNITS, numClasses]),
    spec(`${output}/bias`, [numClasses]),
  ];
}
