import { TaskError } from '#libs/task-sdk';
import { HIDDEN_UNITS, parameterCount, type ClassifierShape } from './classifier-model.js';

/**
 * What one model.* attempt may hold in tensors at once. tfjs's CPU backend keeps tensors in ArrayBuffers,
 * outside the V8 heap that RUNNER_MAX_OLD_SPACE_MB caps, so this is checked from the dataset's shape before
 * any tensor is made. It fits any 64 MB dataset of a few columns (at most ~128 MB of inputs and labels).
 */
export const MODEL_TENSOR_BUDGET_BYTES = 256 * 1024 * 1024;
/** Rows per evaluation batch (model.train's validation metrics and model.evaluate). */
export const EVALUATE_BATCH_ROWS = 1024;

const FLOAT = 4;
const MB = 1024 * 1024;

export interface TensorBytes {
  /** Inputs [rows, features] and labels [rows], held for the whole attempt. */
  rows: number;
  /** Weights, Adam's two moments and a gradient of each. */
  model: number;
  /** One evaluation batch: its inputs, one-hot targets and activations (a few copies of each). */
  batch: number;
  total: number;
}

/** Tensor bytes of an attempt on `rows` rows of a classifier of this shape (an upper estimate). */
export function tensorBytes(rows: number, shape: ClassifierShape): TensorBytes {
  const rowBytes = rows * (shape.features + 1) * FLOAT;
  const model = 4 * parameterCount(shape) * FLOAT;
  const batchRows = Math.min(rows, EVALUATE_BATCH_ROWS);
  const batch = 4 * batchRows * (shape.features + HIDDEN_UNITS + shape.numClasses) * FLOAT;
  return { rows: rowBytes, model, batch, total: rowBytes + model + batch };
}

/** Refuses (INVALID_INPUT, with the numbers) an attempt whose tensors would exceed the budget. */
export function assertTensorBudget(what: string, rows: number, shape: ClassifierShape): void {
  const b = tensorBytes(rows, shape);
  if (b.total <= MODEL_TENSOR_BUDGET_BYTES) return;
  const mb = (n: number) => `${(n / MB).toFixed(1)} MB`;
  throw new TaskError(
    'INVALID_INPUT',
    `${what}: ${rows} rows × ${shape.features} features, ${shape.numClasses} classes need about ${mb(b.total)} of tensors (rows ${mb(b.rows)}, model ${mb(b.model)}, a batch ${mb(b.batch)}); an attempt may hold ${mb(MODEL_TENSOR_BUDGET_BYTES)}`,
    { retryable: false },
  );
}
