import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { evalChart, lineChartSpec, lossChart, renderLineChart, renderSpecToSvg, smooth, writeCurves } from './curves.js';
import type { MetricsRecord } from './metrics-log.js';

/** Well-formed XML (a real parser) with one <svg> root of positive size; returns the root's attributes. */
function assertSvgDocument(svg: string): { width: number; height: number } {
  const valid = XMLValidator.validate(svg);
  assert.equal(valid, true, `not well-formed XML: ${JSON.stringify(valid)}`);
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(svg) as Record<string, Record<string, string>>;
  assert.deepEqual(Object.keys(doc), ['svg'], 'one <svg> root');
  assert.equal(doc.svg!.xmlns, 'http://www.w3.org/2000/svg');
  const width = Number(doc.svg!.width);
  const height = Number(doc.svg!.height);
  assert.ok(width > 100 && height > 100, `size ${width}×${height}`);
  return { width, height };
}

/** The plotted vertices of a line series: its path's M/L coordinates (Vega labels each line with its series). */
function linePoints(svg: string, series: string): [number, number][] {
  const esc = series.replace(/[().]/g, '\\$&');
  const m = new RegExp(`aria-label="[^"]*series: ${esc}" role="graphics-symbol" aria-roledescription="line mark" d="([^"]*)"`).exec(svg);
  assert.ok(m, `line ${series} present`);
  const pts = [...m[1]!.matchAll(/[ML](-?[\d.]+),(-?[\d.]+)/g)].map((p) => [Number(p[1]), Number(p[2])] as [number, number]);
  assert.equal(pts.length, (m[1]!.match(/[ML]/g) ?? []).length, 'only M/L commands');
  return pts;
}

/** Data values of every point symbol, from Vega's accessible labels ("step: 50; accuracy: 0.55; series: accuracy"). */
function pointLabels(svg: string): string[] {
  return [...svg.matchAll(/aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="point"/g)].map((m) => m[1]!);
}

const texts = (svg: string): string[] => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);

function records(): MetricsRecord[] {
  const out: MetricsRecord[] = [];
  for (let s = 1; s <= 300; s++) {
    out.push({ step: s, loss: 2 * Math.exp(-s / 80) + 0.1 * Math.sin(s) + 0.2 });
    if (s % 50 === 0) out.push({ step: s, eval: { accuracy: 0.5 + s / 1000 - (s === 250 ? 0.1 : 0), f1: 0.4 + s / 2000 } });
  }
  return out;
}

/** Runs fn with console.warn captured (Vega and Vega-Lite report spec problems there). */
function warningsOf(fn: () => void): string[] {
  const seen: string[] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => { seen.push(args.map(String).join(' ')); };
  try { fn(); } finally { console.warn = original; }
  return seen;
}

test('loss.svg is a well-formed SVG document, titled, labelled, with a legend of both series', () => {
  let svg = '';
  assert.deepEqual(warningsOf(() => { svg = lossChart(records())!; }), [], 'no Vega / Vega-Lite warnings');
  assertSvgDocument(svg);
  const t = texts(svg);
  for (const want of ['Training loss', 'step', 'loss', 'loss (smoothed 0.9)']) assert.ok(t.includes(want), `text "${want}" in ${t.join('|')}`);
  assert.ok(t.filter((s) => /^\d+$/.test(s)).length >= 3, 'x tick labels');
  assert.equal(linePoints(svg, 'loss').length, 300);
  assert.equal(linePoints(svg, 'loss (smoothed 0.9)').length, 300);
});

test('plotted coordinates map monotonically from the data and stay in the plot area', () => {
  const recs = records().filter((r) => r.loss !== undefined);
  const pts = linePoints(lossChart(recs)!, 'loss');
  for (let i = 1; i < pts.length; i++) {
    assert.ok(pts[i]![0] > pts[i - 1]![0], 'x grows with step');
    const dy = recs[i]!.loss! - recs[i - 1]!.loss!;
    const dY = pts[i]![1] - pts[i - 1]![1];
    if (Math.abs(dy) > 1e-3) assert.ok(Math.sign(dY) === -Math.sign(dy), `y flips at ${i}: dy ${dy}, dY ${dY}`);
  }
  // Vega draws marks in the plot group's coordinates: the 640 × 320 plot area.
  for (const [x, y] of pts) assert.ok(x >= 0 && x <= 640 && y >= 0 && y <= 320, `${x},${y}`);
  // Linear scales: equal data steps are equal pixel steps (to the 3 decimals Vega writes).
  const dx = (pts[299]![0] - pts[0]![0]) / 299;
  for (let i = 1; i < pts.length; i++) assert.ok(Math.abs(pts[i]![0] - pts[i - 1]![0] - dx) < 2e-3);
});

test('eval.svg draws the primary metric and marks the best evaluation', () => {
  const svg = evalChart(records(), { primaryMetric: 'accuracy' })!;
  assertSvgDocument(svg);
  assert.ok(texts(svg).includes('Validation accuracy'));
  assert.equal(linePoints(svg, 'accuracy').length, 6);
  assert.doesNotMatch(svg, /series: f1/);
  const dots = pointLabels(svg).filter((l) => l.endsWith('series: accuracy'));
  assert.deepEqual(dots, [50, 100, 150, 200, 250, 300].map((s) => `step: ${s}; accuracy: ${0.5 + s / 1000 - (s === 250 ? 0.1 : 0)}; series: accuracy`));
  assert.ok(texts(svg).includes('best accuracy 0.8000 @ 300'));
  // 250 dipped: its y is below (greater SVG y than) both neighbours.
  const pts = linePoints(svg, 'accuracy');
  assert.ok(pts[4]![1] > pts[3]![1] && pts[4]![1] > pts[5]![1]);
  const lower = evalChart([{ step: 1, eval: { loss: 2 } }, { step: 2, eval: { loss: 1 } }, { step: 3, eval: { loss: 1.5 } }], { primaryMetric: 'loss', greaterIsBetter: false })!;
  assert.ok(texts(lower).includes('best loss 1.000 @ 2'));
  const both = evalChart(records())!;
  assertSvgDocument(both);
  assert.ok(texts(both).includes('Validation metrics'));
  assert.equal(linePoints(both, 'accuracy').length, 6);
  assert.equal(linePoints(both, 'f1').length, 6);
});

test('the synchronous render equals Vega\'s own asynchronous view.toSVG()', async () => {
  const spec = lineChartSpec({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'k', points: [[0, 1], [1, 3], [2, 2]], color: '#123456', dots: true }], marker: { point: [1, 3], label: 'top' } });
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const reference = await view.toSVG();
  view.finalize();
  assert.equal(renderSpecToSvg(spec), reference);
});

test('degenerate inputs: one point, constant values, escaping, thinning', () => {
  const one = renderLineChart({ title: 'a < b & "c"', xLabel: 'x', yLabel: 'y', series: [{ name: 'k', points: [[5, 1]], color: '#000' }] });
  assertSvgDocument(one);
  assert.match(one, /a &lt; b &amp; (&quot;|")c(&quot;|")/);
  const flat = renderLineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'k', points: [[0, 2], [1, 2], [2, NaN]], color: '#000' }] });
  assertSvgDocument(flat);
  assert.equal(linePoints(flat, 'k').length, 2);
  // A constant series gets a y range around its value, not a zero-width scale.
  const yAxis = /Y-axis titled 'y' for a linear scale with values from (-?[\d.]+) to (-?[\d.]+)/.exec(flat);
  assert.ok(yAxis && Number(yAxis[1]) < 2 && Number(yAxis[2]) > 2, yAxis?.[0]);
  const many = Array.from({ length: 10000 }, (_, i): [number, number] => [i, i]);
  const thinned = renderLineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'k', points: many, color: '#000' }] });
  const pts = linePoints(thinned, 'k');
  assert.equal(pts.length, 2000);
  assert.ok(pts[0]![0] < 1 && pts[1999]![0] > 639, 'first and last points kept');
  assert.equal(lossChart([]), null);
  assert.equal(evalChart([{ step: 1, loss: 1 }]), null);
});

test('smooth is a debiased EMA', () => {
  assert.deepEqual(smooth([1, 1, 1]), [1, 1, 1]); // debiased EMA of a constant is the constant
  assert.ok(Math.abs(smooth([0, 10], 0.5)[1]! - 10 * 0.5 / 0.75) < 1e-12);
  assert.ok(Number.isNaN(smooth([1, NaN])[1]!));
});

test('writeCurves writes loss.svg and eval.svg into the run folder', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-curves-'));
  const written = writeCurves(dir, records(), { primaryMetric: 'accuracy' });
  assert.deepEqual(written.map((p) => path.basename(p)), ['loss.svg', 'eval.svg']);
  assertSvgDocument(fs.readFileSync(path.join(dir, 'eval.svg'), 'utf8'));
  fs.rmSync(dir, { recursive: true, force: true });
});
