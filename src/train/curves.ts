/**
 * Training-curve pictures for the run folder, as hand-written SVG (no dependencies):
 *
 *   loss.svg  training loss vs step, raw (thin) and smoothed (debiased EMA, as TensorBoard's smoothing slider)
 *   eval.svg  validation metric(s) vs step, with the best evaluation of the primary metric marked
 *
 * Every data series is one <polyline data-series="name" points="x,y …">; x grows with the step and y shrinks as
 * the value grows (SVG y points down).
 */

import { join } from 'node:path';
import { atomicWriteFile } from '../io/atomic.js';
import type { MetricsRecord } from './metrics-log.js';

export type Point = readonly [number, number];

export interface Series {
  name: string;
  points: readonly Point[];
  color: string;
  /** Stroke width in px; default 2. */
  width?: number;
  opacity?: number;
  /** Draw a dot on every point (sparse series such as evaluations). */
  dots?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** A highlighted point with a label, e.g. the best evaluation. */
  marker?: { point: Point; label: string };
  width?: number;
  height?: number;
  /** Longest polyline drawn; longer series are thinned evenly (first and last points kept). Default 2000. */
  maxPoints?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];

/** Round ticks (1, 2, 5 × 10^k) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): { lo: number; hi: number; step: number; ticks: number[] } {
  if (!(hi > lo)) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  const first = Math.floor(lo / step) * step;
  const last = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let k = 0; first + k * step <= last + step * 1e-9; k++) ticks.push(cleanFloat(first + k * step));
  return { lo: first, hi: last, step, ticks };
}

function cleanFloat(x: number): number {
  return Number.parseFloat(x.toPrecision(12));
}

function formatTick(v: number, step: number): string {
  if (Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-4)) return v.toExponential(1);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(decimals);
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function thin(points: readonly Point[], maxPoints: number): readonly Point[] {
  if (points.length <= maxPoints) return points;
  const out: Point[] = [];
  const stride = (points.length - 1) / (maxPoints - 1);
  for (let k = 0; k < maxPoints; k++) out.push(points[Math.round(k * stride)]!);
  return out;
}

/** Debiased exponential moving average (TensorBoard smoothing); weight in [0, 1). */
export function smooth(values: readonly number[], weight = 0.9): number[] {
  let last = 0;
  let n = 0;
  return values.map((v) => {
    if (!Number.isFinite(v)) return NaN;
    last = last * weight + (1 - weight) * v;
    n += 1;
    return last / (1 - weight ** n);
  });
}

/** One line chart as a standalone SVG document. */
export function renderLineChart(options: ChartOptions): string {
  const W = options.width ?? 720;
  const H = options.height ?? 420;
  const m = { left: 72, right: 24, top: 44, bottom: 56 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const maxPoints = options.maxPoints ?? 2000;

  const series = options.series.map((s) => ({
    ...s,
    points: thin(s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)), maxPoints),
  }));
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const xt = niceTicks(xs.length ? Math.min(...xs) : 0, xs.length ? Math.max(...xs) : 1, 6);
  // A little headroom so extreme points do not sit on the frame.
  const yMin = ys.length ? Math.min(...ys) : 0;
  const yMax = ys.length ? Math.max(...ys) : 1;
  const yPad = (yMax - yMin) * 0.03;
  const yt = niceTicks(yMin - yPad, yMax + yPad, 5);
  const sx = (x: number): number => m.left + ((x - xt.lo) / (xt.hi - xt.lo)) * pw;
  const sy = (y: number): number => m.top + ph - ((y - yt.lo) / (yt.hi - yt.lo)) * ph;
  const f = (v: number): string => v.toFixed(2);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${f(W / 2)}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`);

  // Grid, ticks and tick labels.
  out.push('<g class="axes" stroke="#000000">');
  for (const t of xt.ticks) {
    const x = f(sx(t));
    out.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" stroke="#e5e5e5"/>`);
    out.push(`<line x1="${x}" y1="${m.top + ph}" x2="${x}" y2="${m.top + ph + 5}"/>`);
  }
  for (const t of yt.ticks) {
    const y = f(sy(t));
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<line x1="${m.left - 5}" y1="${y}" x2="${m.left}" y2="${y}"/>`);
  }
  out.push(`<line x1="${m.left}" y1="${m.top + ph}" x2="${m.left + pw}" y2="${m.top + ph}"/>`);
  out.push(`<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + ph}"/>`);
  out.push('</g>');
  out.push('<g class="tick-labels" fill="#333333">');
  for (const t of xt.ticks) {
    out.push(`<text class="x-tick" x="${f(sx(t))}" y="${m.top + ph + 19}" text-anchor="middle">${formatTick(t, xt.step)}</text>`);
  }
  for (const t of yt.ticks) {
    out.push(`<text class="y-tick" x="${m.left - 8}" y="${f(sy(t) + 4)}" text-anchor="end">${formatTick(t, yt.step)}</text>`);
  }
  out.push('</g>');
  out.push(`<text x="${f(m.left + pw / 2)}" y="${H - 14}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`);
  out.push(
    `<text x="18" y="${f(m.top + ph / 2)}" text-anchor="middle" transform="rotate(-90 18 ${f(m.top + ph / 2)})">${escapeXml(options.yLabel)}</text>`,
  );

  // Data.
  for (const s of series) {
    if (s.points.length === 0) continue;
    const pts = s.points.map(([x, y]) => `${f(sx(x))},${f(sy(y))}`).join(' ');
    out.push(
      `<polyline data-series="${escapeXml(s.name)}" fill="none" stroke="${s.color}" stroke-width="${s.width ?? 2}" stroke-opacity="${s.opacity ?? 1}" stroke-linejoin="round" points="${pts}"/>`,
    );
    if (s.dots === true) {
      out.push(`<g data-dots="${escapeXml(s.name)}" fill="${s.color}">`);
      for (const [x, y] of s.points) out.push(`<circle cx="${f(sx(x))}" cy="${f(sy(y))}" r="3"/>`);
      out.push('</g>');
    }
  }
  if (options.marker !== undefined && Number.isFinite(options.marker.point[0]) && Number.isFinite(options.marker.point[1])) {
    const [x, y] = options.marker.point;
    const cx = sx(x);
    const anchor = cx > m.left + pw * 0.7 ? 'end' : 'start';
    out.push(
      `<g class="marker"><circle cx="${f(cx)}" cy="${f(sy(y))}" r="6" fill="none" stroke="#000000" stroke-width="1.5"/>` +
        `<text x="${f(anchor === 'end' ? cx - 9 : cx + 9)}" y="${f(sy(y) - 9)}" text-anchor="${anchor}">${escapeXml(options.marker.label)}</text></g>`,
    );
  }

  // Legend, in whichever inside corner covers the fewest data points (top right first).
  const named = series.filter((s) => s.points.length > 0);
  if (named.length > 0) {
    const lw = 24 + 7 * Math.max(...named.map((s) => s.name.length)) + 16;
    const lh = 10 + 18 * named.length;
    const corners: [number, number][] = [
      [m.left + pw - lw - 8, m.top + 8],
      [m.left + pw - lw - 8, m.top + ph - lh - 8],
      [m.left + 8, m.top + 8],
      [m.left + 8, m.top + ph - lh - 8],
    ];
    const covered = ([cx, cy]: [number, number]): number =>
      series.reduce((n, s) => n + s.points.filter(([x, y]) => {
        const px = sx(x);
        const py = sy(y);
        return px >= cx - 4 && px <= cx + lw + 4 && py >= cy - 4 && py <= cy + lh + 4;
      }).length, 0);
    let [lx, ly] = corners[0]!;
    let fewest = Infinity;
    for (const c of corners) {
      const n = covered(c);
      if (n < fewest) [lx, ly, fewest] = [c[0], c[1], n];
    }
    out.push(
      `<g class="legend"><rect x="${lx}" y="${ly}" width="${lw}" height="${lh}" fill="#ffffff" fill-opacity="0.85" stroke="#cccccc"/>`,
    );
    named.forEach((s, k) => {
      const y = ly + 17 + 18 * k;
      out.push(
        `<line x1="${lx + 8}" y1="${y - 4}" x2="${lx + 28}" y2="${y - 4}" stroke="${s.color}" stroke-width="${Math.max(2, s.width ?? 2)}"/>` +
          `<text x="${lx + 34}" y="${y}">${escapeXml(s.name)}</text>`,
      );
    });
    out.push('</g>');
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export interface CurvesOptions {
  /** Metric marked as best on eval.svg; when set, only it is drawn unless evalMetrics says otherwise. */
  primaryMetric?: string;
  /** Eval metrics to draw; default the primary metric, or all metrics when there is none. */
  evalMetrics?: string[];
  greaterIsBetter?: boolean;
  /** EMA weight for the smoothed loss; default 0.9. */
  smoothing?: number;
}

/** The loss chart from the training lines of metrics.jsonl, or null when there are none. */
export function lossChart(records: readonly MetricsRecord[], smoothing = 0.9): string | null {
  const train = records.filter((r) => typeof r.loss === 'number' && r.eval === undefined);
  if (train.length === 0) return null;
  const steps = train.map((r) => r.step);
  const losses = train.map((r) => r.loss!);
  const smoothed = smooth(losses, smoothing);
  return renderLineChart({
    title: 'Training loss',
    xLabel: 'step',
    yLabel: 'loss',
    series: [
      { name: 'loss', points: steps.map((s, i) => [s, losses[i]!]), color: '#9ecae1', width: 1 },
      { name: `loss (smoothed ${smoothing})`, points: steps.map((s, i) => [s, smoothed[i]!]), color: '#08519c', width: 2 },
    ],
  });
}

/** The eval chart from the evaluation lines of metrics.jsonl, or null when there are none. */
export function evalChart(records: readonly MetricsRecord[], options: CurvesOptions = {}): string | null {
  const evals = records.filter((r) => r.eval !== undefined);
  if (evals.length === 0) return null;
  const found = [...new Set(evals.flatMap((r) => Object.keys(r.eval!)))];
  const names =
    options.evalMetrics ?? (options.primaryMetric !== undefined && found.includes(options.primaryMetric) ? [options.primaryMetric] : found);
  const series: Series[] = names.map((name, k) => ({
    name,
    points: evals.filter((r) => typeof r.eval![name] === 'number').map((r): Point => [r.step, r.eval![name]!]),
    color: PALETTE[k % PALETTE.length]!,
    dots: true,
  }));
  let marker: ChartOptions['marker'];
  const primary = options.primaryMetric;
  if (primary !== undefined) {
    const greater = options.greaterIsBetter ?? true;
    let best: Point | undefined;
    for (const r of evals) {
      const v = r.eval![primary];
      if (typeof v !== 'number' || !Number.isFinite(v)) continue;
      if (best === undefined || (greater ? v > best[1] : v < best[1])) best = [r.step, v];
    }
    if (best !== undefined) marker = { point: best, label: `best ${primary} ${cleanFloat(best[1]).toPrecision(4)} @ ${best[0]}` };
  }
  const title = names.length === 1 ? `Validation ${names[0]!}` : 'Validation metrics';
  return renderLineChart({ title, xLabel: 'step', yLabel: names.length === 1 ? names[0]! : 'metric', series, ...(marker ? { marker } : {}) });
}

/** Writes loss.svg and eval.svg into runDir (each only when it has data); returns the paths written. */
export function writeCurves(runDir: string, records: readonly MetricsRecord[], options: CurvesOptions = {}): string[] {
  const written: string[] = [];
  const loss = lossChart(records, options.smoothing ?? 0.9);
  if (loss !== null) {
    const p = join(runDir, 'loss.svg');
    atomicWriteFile(p, loss);
    written.push(p);
  }
  const ev = evalChart(records, options);
  if (ev !== null) {
    const p = join(runDir, 'eval.svg');
    atomicWriteFile(p, ev);
    written.push(p);
  }
  return written;
}
