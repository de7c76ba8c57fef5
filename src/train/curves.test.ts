import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { evalChart, lossChart, niceTicks, renderLineChart, smooth, writeCurves } from './curves.js';
import type { MetricsRecord } from './metrics-log.js';

/** Minimal well-formedness check: one <svg> root, every tag closed in order, attributes quoted. */
function assertWellFormed(svg: string): void {
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'), 'starts with the svg root');
  assert.ok(svg.trimEnd().endsWith('</svg>'), 'ends with </svg>');
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  let roots = 0;
  for (let m = tag.exec(svg); m !== null; m = tag.exec(svg)) {
    const between = svg.slice(last, m.index);
    assert.ok(!between.includes('<') && !between.includes('>'), `stray markup near: ${between.slice(0, 60)}`);
    last = tag.lastIndex;
    const [, close, name, , selfClose] = m;
    if (close === '/') assert.equal(stack.pop(), name, `closing </${name}>`);
    else if (selfClose !== '/') {
      if (stack.length === 0) roots += 1;
      stack.push(name!);
    }
  }
  assert.equal(stack.length, 0, `unclosed: ${stack.join(', ')}`);
  assert.equal(roots, 1);
  assert.ok(!svg.slice(last).trim().includes('<'));
}

function seriesPoints(svg: string, name: string): [number, number][] {
  const m = new RegExp(`<polyline data-series="${name.replace(/[().]/g, '\\$&')}"[^>]* points="([^"]*)"`).exec(svg);
  assert.ok(m, `series ${name} present`);
  return m[1]!.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
}

const tickLabels = (svg: string, cls: string): string[] =>
  [...svg.matchAll(new RegExp(`<text class="${cls}"[^>]*>([^<]*)</text>`, 'g'))].map((m) => m[1]!);

function records(): MetricsRecord[] {
  const out: MetricsRecord[] = [];
  for (let s = 1; s <= 300; s++) {
    out.push({ step: s, loss: 2 * Math.exp(-s / 80) + 0.1 * Math.sin(s) + 0.2 });
    if (s % 50 === 0) out.push({ step: s, eval: { accuracy: 0.5 + s / 1000 - (s === 250 ? 0.1 : 0), f1: 0.4 + s / 2000 } });
  }
  return out;
}

test('loss.svg is well-formed, titled, labelled, with legend and both series', () => {
  const svg = lossChart(records())!;
  assertWellFormed(svg);
  assert.match(svg, />Training loss</);
  assert.match(svg, />step</);
  assert.ok(tickLabels(svg, 'x-tick').length >= 3);
  assert.ok(tickLabels(svg, 'y-tick').length >= 3);
  assert.match(svg, /class="legend"/);
  assert.equal(seriesPoints(svg, 'loss').length, 300);
  assert.equal(seriesPoints(svg, 'loss (smoothed 0.9)').length, 300);
});

test('plotted coordinates map monotonically from the data', () => {
  const recs = records().filter((r) => r.loss !== undefined);
  const pts = seriesPoints(lossChart(recs)!, 'loss');
  for (let i = 1; i < pts.length; i++) {
    assert.ok(pts[i]![0] > pts[i - 1]![0], 'x grows with step');
    const dy = recs[i]!.loss! - recs[i - 1]!.loss!;
    const dY = pts[i]![1] - pts[i - 1]![1];
    if (Math.abs(dy) > 1e-3) assert.ok(Math.sign(dY) === -Math.sign(dy), `y flips at ${i}: dy ${dy}, dY ${dY}`);
  }
  // Within the plot area.
  for (const [x, y] of pts) assert.ok(x >= 72 && x <= 720 - 24 && y >= 44 && y <= 420 - 56);
});

test('eval.svg draws the primary metric and marks the best evaluation', () => {
  const svg = evalChart(records(), { primaryMetric: 'accuracy' })!;
  assertWellFormed(svg);
  assert.match(svg, />Validation accuracy</);
  const pts = seriesPoints(svg, 'accuracy');
  assert.equal(pts.length, 6);
  assert.doesNotMatch(svg, /data-series="f1"/);
  assert.match(svg, /best accuracy 0\.8000 @ 300/);
  // 250 dipped: its y is below (greater SVG y than) both neighbours.
  assert.ok(pts[4]![1] > pts[3]![1] && pts[4]![1] > pts[5]![1]);
  // The legend avoids the data: rising curves end top right, so it moves elsewhere.
  const r = /<g class="legend"><rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/.exec(svg)!;
  const [lx, ly, lw, lh] = r.slice(1).map(Number) as [number, number, number, number];
  for (const [x, y] of pts) assert.ok(!(x >= lx && x <= lx + lw && y >= ly && y <= ly + lh), `point ${x},${y} under the legend`);
  const both = evalChart(records())!;
  assertWellFormed(both);
  seriesPoints(both, 'accuracy');
  seriesPoints(both, 'f1');
});

test('degenerate inputs: one point, constant values, escaping, thinning', () => {
  const one = renderLineChart({ title: 'a < b & "c"', xLabel: 'x', yLabel: 'y', series: [{ name: 'k', points: [[5, 1]], color: '#000' }] });
  assertWellFormed(one);
  assert.match(one, /a &lt; b &amp; &quot;c&quot;/);
  const flat = renderLineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'k', points: [[0, 2], [1, 2], [2, NaN]], color: '#000' }] });
  assertWellFormed(flat);
  assert.equal(seriesPoints(flat, 'k').length, 2);
  const many = Array.from({ length: 10000 }, (_, i): [number, number] => [i, i]);
  assert.equal(seriesPoints(renderLineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'k', points: many, color: '#000' }] }), 'k').length, 2000);
  assert.equal(lossChart([]), null);
  assert.equal(evalChart([{ step: 1, loss: 1 }]), null);
});

test('niceTicks and smooth', () => {
  assert.deepEqual(niceTicks(0, 1, 5).ticks, [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(1, 300, 6).ticks, [0, 50, 100, 150, 200, 250, 300]);
  assert.deepEqual(smooth([1, 1, 1]), [1, 1, 1]); // debiased EMA of a constant is the constant
  assert.ok(Math.abs(smooth([0, 10], 0.5)[1]! - 10 * 0.5 / 0.75) < 1e-12);
});

test('writeCurves writes loss.svg and eval.svg into the run folder', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-curves-'));
  const written = writeCurves(dir, records(), { primaryMetric: 'accuracy' });
  assert.deepEqual(written.map((p) => path.basename(p)), ['loss.svg', 'eval.svg']);
  assertWellFormed(fs.readFileSync(path.join(dir, 'eval.svg'), 'utf8'));
});
