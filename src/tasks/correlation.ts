/**
 * Pearson and Spearman for STS-B as DePT computes them (`src/metrics.py`, scipy.stats): decoded strings parse as
 * Python `float()`, anything else becomes −1; a NaN correlation (constant input, fewer than 2 rows) becomes 0.
 * Scaled ×100.
 */

/** Python `float(s)`, or `fallback` when it raises: "3.8" → 3.8, " 2 " → 2, "1_0" → 10, "nan" → NaN, "x" → −1. */
export function stringToFloat(s: string, fallback = -1): number {
  const t = s.trim();
  if (/^[+-]?(inf|infinity)$/i.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  if (/^[+-]?nan$/i.test(t)) return NaN;
  const digits = String.raw`\d(?:_?\d)*`;
  const num = new RegExp(`^[+-]?(?:${digits}(?:\\.(?:${digits})?)?|\\.${digits})(?:[eE][+-]?${digits})?$`);
  return num.test(t) ? Number(t.replace(/_/g, '')) : fallback;
}

/** Pearson's r of two equal-length series; NaN when either is constant or n < 2. */
export function pearsonR(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  if (n !== y.length) throw new RangeError(`pearsonR: lengths differ (${n} vs ${y.length})`);
  if (n < 2) return NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i] as number;
    my += y[i] as number;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (x[i] as number) - mx;
    const dy = (y[i] as number) - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return NaN;
  const r = sxy / Math.sqrt(sxx * syy);
  return Math.max(-1, Math.min(1, r));
}

/** 1-based ranks, ties get the average of the ranks they span (scipy `rankdata(method='average')`). */
export function averageRanks(x: readonly number[]): number[] {
  const order = x.map((_, i) => i).sort((a, b) => ((x[a] as number) < (x[b] as number) ? -1 : (x[a] as number) > (x[b] as number) ? 1 : 0));
  const ranks = new Array<number>(x.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && x[order[j + 1] as number] === x[order[i] as number]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k] as number] = avg;
    i = j + 1;
  }
  return ranks;
}

function nanToZero(v: number): number {
  return Number.isNaN(v) ? 0 : v;
}

/** DePT `pearson_corrcoef`: 100 · pearsonr(targets, predictions), NaN → 0. */
export function pearson(predictions: readonly string[], targets: readonly string[]): number {
  return nanToZero(100 * pearsonR(targets.map((t) => stringToFloat(t)), predictions.map((p) => stringToFloat(p))));
}

/** DePT `spearman_corrcoef`: 100 · spearmanr(targets, predictions), NaN → 0. */
export function spearman(predictions: readonly string[], targets: readonly string[]): number {
  const t = targets.map((s) => stringToFloat(s));
  const p = predictions.map((s) => stringToFloat(s));
  if (t.some(Number.isNaN) || p.some(Number.isNaN)) return 0; // scipy propagates NaN
  return nanToZero(100 * pearsonR(averageRanks(t), averageRanks(p)));
}
