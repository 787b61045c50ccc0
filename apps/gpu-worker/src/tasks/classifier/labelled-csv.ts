import { TaskError } from '#libs/task-sdk';

/** A numeric classification dataset: rows of features and an integer class per row. */
export interface LabelledDataset {
  featureNames: string[];
  features: number[][];
  labels: number[];
  /** Highest label + 1. */
  numClasses: number;
}

export const MAX_DATASET_BYTES = 64 * 1024 * 1024;
export const MAX_CLASSES = 1000;

const invalid = (what: string, message: string): TaskError =>
  new TaskError('INVALID_INPUT', `${what}: ${message}`, { retryable: false });

/**
 * Parses a CSV with a header row, numeric feature columns and a last column `label` holding an integer
 * class >= 0. Anything else is bad input (not retryable), with the line that is wrong.
 */
export function parseLabelledCsv(bytes: Buffer, what = 'dataset'): LabelledDataset {
  if (bytes.length > MAX_DATASET_BYTES) throw invalid(what, `larger than ${MAX_DATASET_BYTES} bytes`);
  const lines = bytes
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/);
  const header = (lines[0] ?? '').split(',').map((h) => h.trim().replace(/^"(.*)"$/, '$1'));
  if (header.length < 2 || header[header.length - 1] !== 'label') {
    throw invalid(what, 'the header row must list the feature columns then a last column named "label"');
  }
  const featureNames = header.slice(0, -1);
  if (featureNames.some((n) => n === '')) throw invalid(what, 'a feature column has an empty name');

  const features: number[][] = [];
  const labels: number[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const cells = line.split(',');
    if (cells.length !== header.length) {
      throw invalid(what, `line ${i + 1} has ${cells.length} columns, the header has ${header.length}`);
    }
    const values = cells.map((c) => (c.trim() === '' ? Number.NaN : Number(c)));
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0)
      throw invalid(what, `line ${i + 1}, column "${header[bad]}": "${cells[bad]}" is not a number`);
    const label = values.pop()!;
    if (!Number.isInteger(label) || label < 0 || label >= MAX_CLASSES) {
      throw invalid(what, `line ${i + 1}: label ${label} is not an integer class in [0, ${MAX_CLASSES})`);
    }
    features.push(values);
    labels.push(label);
  }
  if (features.length === 0) throw invalid(what, 'has no data rows');
  return { featureNames, features, labels, numClasses: Math.max(...labels) + 1 };
}
