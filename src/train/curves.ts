/**
 * Training-curve pictures for the run folder, drawn by Vega-Lite (compiled to Vega, rendered to an SVG string in
 * Node, no canvas or browser needed):
 *
 *   loss.svg  training loss vs step, raw (thin) and smoothed (debiased EMA, as TensorBoard's smoothing slider)
 *   eval.svg  validation metric(s) vs step, with the best evaluation of the primary metric marked
 *
 * Rendering is synchronous (the train loop is): a chart's data is inline, so Vega's dataflow runs to completion in
 * `view.run()` and the headless SVG renderer draws the scenegraph without waiting; the result is byte-identical to
 * Vega's own asynchronous `view.toSVG()` (curves.test.ts checks it).
 */

import { join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
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
  /** Size of the plot area in px (axes, title and legend come on top); default 640 × 320. */
  width?: number;
  height?: number;
  /** Longest series drawn; longer series are thinned evenly (first and last points kept). Default 2000. */
  maxPoints?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];

function cleanFloat(x: number): number {
  return Number.parseFloat(x.toPrecision(12));
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

/** A constant series would get a zero-width scale (one tick, every point on it): widen it around the value. */
function flatDomain(vs: readonly number[]): { domain: [number, number] } | Record<string, never> {
  if (vs.length === 0) return {};
  const lo = Math.min(...vs);
  if (Math.max(...vs) > lo) return {};
  const pad = lo === 0 ? 1 : Math.abs(lo) * 0.05;
  return { domain: [lo - pad, lo + pad] };
}

/** The Vega-Lite spec of one line chart (exported for the report and for tests). */
export function lineChartSpec(options: ChartOptions): TopLevelSpec {
  const maxPoints = options.maxPoints ?? 2000;
  const series = options.series.map((s) => ({
    ...s,
    points: thin(s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)), maxPoints),
  }));
  const values = series.flatMap((s) => s.points.map(([x, y]) => ({ x, y, series: s.name })));
  const names = series.map((s) => s.name);
  const x = { field: 'x', type: 'quantitative', title: options.xLabel, scale: { nice: true, zero: false, ...flatDomain(values.map((v) => v.x)) } } as const;
  const y = { field: 'y', type: 'quantitative', title: options.yLabel, scale: { zero: false, nice: true, ...flatDomain(values.map((v) => v.y)) } } as const;
  const color = {
    field: 'series', type: 'nominal', title: null, scale: { domain: names, range: series.map((s) => s.color) },
    legend: { orient: 'bottom', direction: 'horizontal', symbolType: 'stroke' },
  } as const;
  type Layer = NonNullable<Extract<TopLevelSpec, { layer: unknown }>['layer']>[number];
  // One layer per series: stroke width and opacity are the series' own, the shared color scale makes one legend.
  const layers: Layer[] = series.map((s) => ({
    transform: [{ filter: { field: 'series', equal: s.name } }],
    mark: { type: 'line', strokeJoin: 'round', strokeWidth: s.width ?? 2, opacity: s.opacity ?? 1 },
    encoding: { x, y, color },
  }));
  const dotted = series.filter((s) => s.dots === true).map((s) => s.name);
  if (dotted.length > 0) {
    layers.push({
      transform: [{ filter: { field: 'series', oneOf: dotted } }],
      mark: { type: 'point', filled: true, size: 36 },
      encoding: {
        x, y,
        color,
        tooltip: [{ field: 'series', title: 'series' }, { field: 'x', title: options.xLabel }, { field: 'y', title: options.yLabel }],
      },
    });
  }
  const m = options.marker;
  if (m !== undefined && Number.isFinite(m.point[0]) && Number.isFinite(m.point[1])) {
    const xs = values.map((v) => v.x);
    const right = xs.length > 0 && m.point[0] > Math.min(...xs) + 0.7 * (Math.max(...xs) - Math.min(...xs));
    const datum = { data: { values: [{ x: m.point[0], y: m.point[1], label: m.label }] } };
    layers.push(
      { ...datum, mark: { type: 'point', shape: 'circle', size: 150, filled: false, stroke: '#000000', strokeWidth: 1.5 }, encoding: { x, y } },
      {
        ...datum,
        mark: { type: 'text', align: right ? 'right' : 'left', dx: right ? -9 : 9, dy: -10, fontSize: 12, fill: '#000000' },
        encoding: { x, y, text: { field: 'label', type: 'nominal' } },
      },
    );
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: options.title, fontSize: 15 },
    width: options.width ?? 640,
    height: options.height ?? 320,
    background: '#ffffff',
    padding: 8,
    config: { font: 'sans-serif', axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' }, legend: { labelFontSize: 12, labelLimit: 0 } },
    data: { values },
    layer: layers,
  };
}

interface SvgStringRenderer {
  initialize(el: null, width: number, height: number, origin: readonly number[], scaleFactor: number): SvgStringRenderer;
  background(color: unknown): SvgStringRenderer;
  render(scene: unknown): SvgStringRenderer;
  svg(): string;
}

/** The fields of a run view that Vega's own headless renderer reads (vega-view's width(), height(), offset()). */
interface ViewLayout {
  _viewWidth: number;
  _viewHeight: number;
  _origin: readonly [number, number];
}

/** A Vega-Lite spec (with inline data) drawn as a standalone SVG document, synchronously. */
export function renderSpecToSvg(spec: TopLevelSpec): string {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    view.run(); // inline data: the whole dataflow runs before run() returns
    const layout = view as unknown as ViewLayout;
    const pad = view.padding() as { top: number; bottom: number; left: number; right: number };
    if (!Number.isFinite(layout._viewWidth) || !Number.isFinite(layout._viewHeight)) {
      throw new Error('vega view has no layout after run(); its internals changed (check curves.ts against vega-view)');
    }
    const Ctor = (vega as unknown as { SVGStringRenderer: new (loader: unknown) => SvgStringRenderer }).SVGStringRenderer;
    return new Ctor(view.loader())
      .initialize(
        null,
        Math.max(0, layout._viewWidth + pad.left + pad.right),
        Math.max(0, layout._viewHeight + pad.top + pad.bottom),
        [pad.left + layout._origin[0], pad.top + layout._origin[1]],
        1,
      )
      .background(view.background())
      .render((view.scenegraph() as unknown as { root: unknown }).root)
      .svg();
  } finally {
    view.finalize();
  }
}

/** One line chart as a standalone SVG document. */
export function renderLineChart(options: ChartOptions): string {
  return renderSpecToSvg(lineChartSpec(options)) + '\n';
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

/** The loss chart's options from the training lines of metrics.jsonl, or null when there are none. */
export function lossChartOptions(records: readonly MetricsRecord[], smoothing = 0.9): ChartOptions | null {
  const train = records.filter((r) => typeof r.loss === 'number' && r.eval === undefined);
  if (train.length === 0) return null;
  const steps = train.map((r) => r.step);
  const losses = train.map((r) => r.loss!);
  const smoothed = smooth(losses, smoothing);
  return {
    title: 'Training loss',
    xLabel: 'step',
    yLabel: 'loss',
    series: [
      { name: 'loss', points: steps.map((s, i) => [s, losses[i]!]), color: '#9ecae1', width: 1 },
      { name: `loss (smoothed ${smoothing})`, points: steps.map((s, i) => [s, smoothed[i]!]), color: '#08519c', width: 2 },
    ],
  };
}

/** The eval chart's options from the evaluation lines of metrics.jsonl, or null when there are none. */
export function evalChartOptions(records: readonly MetricsRecord[], options: CurvesOptions = {}): ChartOptions | null {
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
  return { title, xLabel: 'step', yLabel: names.length === 1 ? names[0]! : 'metric', series, ...(marker ? { marker } : {}) };
}

/** loss.svg's content, or null when there are no training lines. */
export function lossChart(records: readonly MetricsRecord[], smoothing = 0.9): string | null {
  const o = lossChartOptions(records, smoothing);
  return o === null ? null : renderLineChart(o);
}

/** eval.svg's content, or null when there are no evaluation lines. */
export function evalChart(records: readonly MetricsRecord[], options: CurvesOptions = {}): string | null {
  const o = evalChartOptions(records, options);
  return o === null ? null : renderLineChart(o);
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
