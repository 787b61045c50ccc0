import { buildClassifier } from './classifier-model.js';
import { buildModel, parseModelArtifact, serialiseModel, type ModelArtifact } from './model-artifact.js';
import { loadTensorflow, type Tf } from './tensorflow.js';

let tf: Tf;
/** A model as model.train stores it: 3 features, 4 classes. */
let trained: Record<string, unknown>;

beforeAll(async () => {
  tf = await loadTensorflow();
  const model = buildClassifier(tf, { features: 3, numClasses: 4 });
  const bytes = await serialiseModel(tf, model, {
    featureNames: ['a', 'b', 'c'],
    numClasses: 4,
    normalisation: { mean: [0, 0, 0], std: [1, 1, 1] },
  });
  model.dispose();
  trained = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
});

const bytesOf = (o: unknown) => Buffer.from(JSON.stringify(o));
/** The trained artifact with `change` applied to a deep copy. */
function edited(change: (a: ModelArtifact & Record<string, unknown>) => void): Buffer {
  const copy = structuredClone(trained) as ModelArtifact & Record<string, unknown>;
  change(copy);
  return bytesOf(copy);
}
const layers = (a: ModelArtifact) => a.modelTopology.config.layers as unknown as Record<string, unknown>[];
const layerConfig = (a: ModelArtifact, i: number) => layers(a)[i]!.config as Record<string, unknown>;

describe('parseModelArtifact: only the classifier model.train writes', () => {
  it('accepts what model.train stores, and builds it with the stored weights, leaving nothing behind', async () => {
    const before = tf.memory().numTensors;
    const meta = parseModelArtifact(bytesOf(trained), 'm1');
    const model = buildModel(tf, meta);
    const stored = Buffer.from(meta.weightData, 'base64');
    const loaded = Buffer.concat(model.getWeights().map((w) => Buffer.from(w.dataSync().buffer)));
    expect(loaded.equals(stored)).toBe(true);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each<[string, (a: ModelArtifact & Record<string, unknown>) => void, RegExp]>([
    [
      'another layer type (RepeatVector: no weights, any number of copies per row)',
      (a) => (layers(a)[0]!.class_name = 'RepeatVector'),
      /modelTopology\.config\.layers\.0\.class_name/,
    ],
    ['a third layer', (a) => layers(a).push(structuredClone(layers(a)[1]!)), /modelTopology\.config\.layers/],
    ['a wider hidden layer', (a) => (layerConfig(a, 0).units = 4096), /units/],
    ['another activation', (a) => (layerConfig(a, 1).activation = 'linear'), /activation/],
    [
      'a key tfjs does not write for it',
      (a) => (layerConfig(a, 0).kernel_regularizer = { class_name: 'L2', config: { l2: 1 } }),
      /kernel_regularizer/,
    ],
    [
      'an input width other than its features',
      (a) => (layerConfig(a, 0).batch_input_shape = [null, 4]),
      /takes 4 inputs, featureNames lists 3/,
    ],
    ['outputs other than its classes', (a) => (a.numClasses = 3), /has 4 outputs, numClasses is 3/],
    ['more classes than a dataset may have', (a) => (a.numClasses = 1001), /numClasses/],
    ['weights of other shapes', (a) => (a.weightSpecs[0]!.shape = [3, 17]), /weightSpecs: must be/],
    [
      'weight bytes other than the shapes say',
      (a) => (a.weightData = Buffer.from(a.weightData, 'base64').subarray(4).toString('base64')),
      /weightData: holds \d+ bytes, the weights are \d+/,
    ],
    ['a normalisation of another width', (a) => a.normalisation.mean.pop(), /normalisation/],
  ])('refuses %s as INVALID_INPUT, saying what is wrong', (_what, change, message) => {
    let err: unknown;
    try {
      parseModelArtifact(edited(change), 'm1');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      code: 'INVALID_INPUT',
      retryable: false,
      message: expect.stringMatching(message),
    });
  });

  it('refuses what is not JSON', () => {
    expect(() => parseModelArtifact(Buffer.from('{'), 'm1')).toThrow(/m1 is not a .* artifact .*: not JSON/);
  });

  it('buildModel disposes the model it built when the weights cannot be set', () => {
    const before = tf.memory().numTensors;
    const meta = parseModelArtifact(bytesOf(trained), 'm1');
    // past the parse (which would refuse it): the stored weights do not fit the layers
    const broken = {
      ...meta,
      weightSpecs: meta.weightSpecs.map((s, i) => (i === 0 ? { ...s, shape: [16, 3] } : s)),
    };
    expect(() => buildModel(tf, broken)).toThrow();
    expect(tf.memory().numTensors).toBe(before);
  });
});
