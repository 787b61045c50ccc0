import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { assertArtifactSize, TaskError, type TaskContext } from '#libs/task-sdk';

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
 * class >= 0, one line at a time. Anything else is bad input (not retryable), with the line that is wrong.
 */
class LabelledCsvParser {
  private header?: string[];
  private lineNo = 0;
  private readonly features: number[][] = [];
  private readonly labels: number[] = [];

  constructor(private readonly what: string) {}

  line(raw: string): void {
    this.lineNo += 1;
    const what = this.what;
    if (!this.header) {
      const header = raw
        .replace(/^\uFEFF/, '')
        .split(',')
        .map((h) => h.trim().replace(/^"(.*)"$/, '$1'));
      if (header.length < 2 || header[header.length - 1] !== 'label') {
        throw invalid(what, 'the header row must list the feature columns then a last column named "label"');
      }
      if (header.slice(0, -1).some((n) => n === ''))
        throw invalid(what, 'a feature column has an empty name');
      this.header = header;
      return;
    }
    const header = this.header;
    const line = raw.trim();
    if (line === '') return;
    const cells = line.split(',');
    if (cells.length !== header.length) {
      throw invalid(what, `line ${this.lineNo} has ${cells.length} columns, the header has ${header.length}`);
    }
    const values = cells.map((c) => (c.trim() === '' ? Number.NaN : Number(c)));
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0)
      throw invalid(what, `line ${this.lineNo}, column "${header[bad]}": "${cells[bad]}" is not a number`);
    const label = values.pop()!;
    if (!Number.isInteger(label) || label < 0 || label >= MAX_CLASSES) {
      throw invalid(
        what,
        `line ${this.lineNo}: label ${label} is not an integer class in [0, ${MAX_CLASSES})`,
      );
    }
    this.features.push(values);
    this.labels.push(label);
  }

  finish(): LabelledDataset {
    if (!this.header)
      throw invalid(
        this.what,
        'the header row must list the feature columns then a last column named "label"',
      );
    if (this.features.length === 0) throw invalid(this.what, 'has no data rows');
    let maxLabel = 0;
    for (const l of this.labels) if (l > maxLabel) maxLabel = l;
    return {
      featureNames: this.header.slice(0, -1),
      features: this.features,
      labels: this.labels,
      numClasses: maxLabel + 1,
    };
  }
}

/** Parses a labelled CSV held in memory (small inputs, tests). */
export function parseLabelledCsv(bytes: Buffer, what = 'dataset'): LabelledDataset {
  if (bytes.length > MAX_DATASET_BYTES) throw invalid(what, `larger than ${MAX_DATASET_BYTES} bytes`);
  const parser = new LabelledCsvParser(what);
  for (const line of bytes.toString('utf8').split(/\r?\n/)) parser.line(line);
  return parser.finish();
}

/**
 * Reads a dataset artifact as a task should: its recorded size is checked first (over
 * MAX_DATASET_BYTES → INVALID_INPUT before a byte is read), then it is downloaded to the attempt's
 * scratch directory and parsed line by line, so the raw text never sits in memory as one string.
 */
export async function readLabelledCsv(
  ctx: Pick<TaskContext, 'artifacts' | 'workDir'>,
  artifactId: string,
  what = `dataset ${artifactId}`,
): Promise<LabelledDataset> {
  await assertArtifactSize(ctx, artifactId, MAX_DATASET_BYTES, what);
  const file = join(ctx.workDir, `dataset-${artifactId.replace(/[^A-Za-z0-9_-]/g, '_')}.csv`);
  await ctx.artifacts.download(artifactId, file);
  const parser = new LabelledCsvParser(what);
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) parser.line(line);
  return parser.finish();
}
