import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs';
import type { Tf } from './tensorflow.js';

/** A dataset's rows as tensors: inputs [rows, features] and integer labels [rows]. */
export interface RowTensors {
  x: Tensor2D;
  labels: Tensor1D;
  dispose(): void;
}

/**
 * Inputs and labels for the rows given. Labels stay integers: one-hot targets are made one batch at a time
 * (`oneHotBatches`), never for all rows (rows × classes float32s, 4 KB a row at 1000 classes).
 */
export function toTensors(tf: Tf, rows: number[][], labels: number[]): RowTensors {
  const x = tf.tensor2d(rows, [rows.length, rows[0]!.length], 'float32');
  try {
    const l = tf.tensor1d(labels, 'int32');
    return { x, labels: l, dispose: () => tf.dispose([x, l]) };
  } catch (e) {
    x.dispose();
    throw e;
  }
}

/**
 * The rows in order, in batches of `batchSize` with their one-hot float targets: what fit/evaluate with
 * dense targets would slice, made per batch (fitDataset and evaluateDataset dispose each batch after use).
 */
export function oneHotBatches(tf: Tf, t: RowTensors, numClasses: number, batchSize: number) {
  const rows = t.x.shape[0];
  return tf.data.generator(function* (): Generator<{ xs: Tensor2D; ys: Tensor2D }> {
    for (let start = 0; start < rows; start += batchSize) {
      const size = Math.min(batchSize, rows - start);
      yield tf.tidy(() => ({
        xs: t.x.slice([start, 0], [size, -1]),
        ys: tf.oneHot(t.labels.slice(start, size), numClasses).toFloat() as Tensor2D,
      }));
    }
  });
}

/** `model.evaluate` results as plain numbers [loss, accuracy]. */
export async function scalarsOf(result: unknown): Promise<number[]> {
  const list = (Array.isArray(result) ? result : [result]) as {
    data(): Promise<Float32Array | Int32Array | Uint8Array>;
    dispose(): void;
  }[];
  const values = await Promise.all(list.map(async (t) => (await t.data())[0]!));
  list.forEach((t) => t.dispose());
  return values;
}
