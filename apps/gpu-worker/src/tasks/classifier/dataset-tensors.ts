import type { Tensor2D } from '@tensorflow/tfjs';
import type { Tf } from './tensorflow.js';

/** Inputs and one-hot targets for the rows given. The caller disposes them. */
export function toTensors(
  tf: Tf,
  rows: number[][],
  labels: number[],
  numClasses: number,
): { x: Tensor2D; y: Tensor2D } {
  const x = tf.tensor2d(rows, [rows.length, rows[0]!.length], 'float32');
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), numClasses).toFloat() as Tensor2D);
  return { x, y };
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
