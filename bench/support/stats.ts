/** The numbers every benchmark prints: percentiles, medians over rounds, formatted values and ours/peer ratios. */

/** Nearest rank: the smallest value with at least p % (0–100) of the values at or below it; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
}

/** The median of the finite values (the mean of the two middle ones for an even count); NaN when none. */
export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A number with thousands separators and `digits` decimals; 'n/a' when it is not finite. */
export const fmt = (v: number, digits = 1): string =>
  Number.isFinite(v)
    ? v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : 'n/a';

/** ours/peer with two significant digits (0.069×, 4.3×, 14×): a ratio is only as good as the noise allows. */
export const ratio = (ours: number | undefined, peer: number | undefined, missing = 'n/a'): string => {
  if (ours === undefined || peer === undefined || !(peer > 0) || !Number.isFinite(ours)) return missing;
  const r = ours / peer;
  return `${r >= 10 ? r.toFixed(0) : r.toPrecision(2)}×`;
};
