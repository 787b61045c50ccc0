/** Per-feature standardisation learnt on the training rows and stored with the model. */
export interface Normalisation {
  mean: number[];
  std: number[];
}

export function fitNormalisation(rows: readonly number[][]): Normalisation {
  const width = rows[0]?.length ?? 0;
  const mean = new Array<number>(width).fill(0);
  const std = new Array<number>(width).fill(0);
  for (const row of rows) row.forEach((v, j) => (mean[j]! += v / rows.length));
  for (const row of rows) row.forEach((v, j) => (std[j]! += (v - mean[j]!) ** 2 / rows.length));
  // a constant column carries no information; dividing by 1 keeps it finite instead of NaN
  return { mean, std: std.map((v) => (v > 1e-12 ? Math.sqrt(v) : 1)) };
}

export function normalise(rows: readonly number[][], n: Normalisation): number[][] {
  return rows.map((row) => row.map((v, j) => (v - n.mean[j]!) / n.std[j]!));
}
