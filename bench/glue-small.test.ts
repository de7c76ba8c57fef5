/**
 * The glue-small bench end to end at toy size (t5-tiny, the bundled SST-2 and RTE slices, 2 steps): the JSON, the
 * Markdown and the SVG have the promised structure, each run reports its cost, and the parameter counts are the
 * ones the model's own tensors give (DePT = PT budget, LoRA on q and v, full FT = every weight). Metric values of a
 * random model mean nothing and are not checked.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixture, repoRoot } from '../test/paths.js';
import type { GlueSmallResult } from './glue-small-report.js';
import type { RunRow } from './glue-small-worker.js';

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-glue-small-test-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));
const OUT = path.join(ROOT, 'results', 'glue-small');
const TASKS = ['sst2', 'rte'];
const METHODS = ['pt', 'dept', 'lora', 'full'];

/** Sum of the element counts of every tensor in a safetensors file, from its JSON header. */
function tensorElements(file: string): number {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { shape: number[] }>;
  return Object.entries(header).filter(([k]) => k !== '__metadata__').reduce((a, [, v]) => a + v.shape.reduce((x, y) => x * y, 1), 0);
}

describe('npm run bench -- glue-small (toy run)', () => {
  let result: GlueSmallResult;
  let stderr = '';
  before(() => {
    const r = spawnSync(process.execPath, [
      path.join(repoRoot(), 'dist', 'bench', 'run.js'), 'glue-small', '--model', fixture('t5-tiny'), '--tokenizer', fixture('tokenizers', 't5'),
      '--data-dir', path.join(repoRoot(), 'data'), '--tasks', TASKS.join(','), '--methods', METHODS.join(','), '--steps', '2', '--batch-size', '4',
      '--max-length', '64', '--max-train', '24', '--max-eval', '12', '--threads', '1', '--out', OUT,
    ], { encoding: 'utf8' });
    stderr = r.stderr;
    assert.equal(r.status, 0, r.stderr);
    result = JSON.parse(fs.readFileSync(`${OUT}.json`, 'utf8')) as GlueSmallResult;
  });

  it('JSON: every task with both baselines and one run per method, each with metrics, parameters, step time and peak RSS', () => {
    assert.equal(result.bench, 'glue-small');
    assert.deepEqual(result.tasks.map((t) => t.task), TASKS);
    assert.deepEqual(result.methods.map((m) => m.key), METHODS);
    assert.deepEqual({ steps: result.settings.steps, batch: result.settings.batchSize, maxTrain: result.settings.maxTrain, maxEval: result.settings.maxEval }, { steps: 2, batch: 4, maxTrain: 24, maxEval: 12 });
    for (const t of result.tasks) {
      assert.equal(t.metric, 'accuracy');
      assert.deepEqual(t.rows, { train: 24, trainAvailable: t.rows.trainAvailable, validation: 12, test: 12 });
      assert.ok(t.rows.trainAvailable > 24);
      for (const b of [t.baselines.majority, t.baselines.tfidf]) {
        for (const split of [b.validation, b.test]) assert.ok(split.accuracy! >= 0 && split.accuracy! <= 100, JSON.stringify(b));
      }
      assert.ok([1e-4, 1e-3, 1e-2].includes(t.baselines.tfidf.l2!));
      assert.deepEqual(t.runs.map((r) => r.method), METHODS);
      for (const run of t.runs) {
        assert.ok(!('error' in run), JSON.stringify(run));
        const r = run as RunRow;
        assert.equal(r.steps, 2);
        for (const split of [r.validation, r.test]) assert.ok(split.accuracy! >= 0 && split.accuracy! <= 100, `${t.task} ${r.method}: ${JSON.stringify(split)}`);
        assert.ok(r.step_ms > 0 && r.train_s > 0 && r.eval_s > 0 && r.eval_cpu_s > 0 && r.run_s >= r.train_s + r.eval_s && r.cpu_s > r.eval_cpu_s, JSON.stringify(r));
        assert.ok(r.maxrss_mb > 50 && r.maxrss_mb < 4096, `peak RSS ${r.maxrss_mb} MB`);
        assert.ok(Number.isFinite(r.first_loss) && Number.isFinite(r.last_loss));
      }
    }
  });

  it('parameter counts: DePT equals the PT-100 budget, LoRA is r·(in+out) on every q and v, full FT is every tensor', () => {
    const cfg = JSON.parse(fs.readFileSync(fixture('t5-tiny', 'config.json'), 'utf8')) as { d_model: number; num_layers: number; num_decoder_layers: number; num_heads: number; d_kv: number };
    const d = cfg.d_model, inner = cfg.num_heads * cfg.d_kv;
    const attention = cfg.num_layers + 2 * cfg.num_decoder_layers; // encoder self, decoder self + cross
    const expected: Record<string, number> = {
      pt: 100 * d,
      dept: 100 * d,
      lora: attention * 2 * 8 * (d + inner),
      full: tensorElements(fixture('t5-tiny', 'model.safetensors')),
    };
    for (const t of result.tasks) {
      for (const run of t.runs) assert.equal((run as RunRow).trainable, expected[run.method], `${t.task} ${run.method}`);
      // the prompt lrs come from the paper's grid, DePT's per task (spec §1.8)
      const dept = t.runs.find((r) => r.method === 'dept') as RunRow;
      assert.ok([0.3, 0.4, 0.5].includes(dept.lr['prompt']!) && [1e-4, 5e-4, 1e-3, 5e-3].includes(dept.lr['lowrank']!), JSON.stringify(dept.lr));
    }
  });

  it('DePT against PT: one row per task with the paper\'s numbers, and a verdict', () => {
    const o = result.ordering;
    assert.deepEqual(o.rows.map((r) => r.task), TASKS);
    for (const r of o.rows) {
      const t = result.tasks.find((x) => x.task === r.task)!;
      const score = (k: string) => (t.runs.find((x) => x.method === k) as RunRow).test['accuracy']!;
      assert.equal(r.dept, score('dept'));
      assert.equal(r.pt, score('pt'));
      assert.ok(r.paperDept > r.paperPt);
      assert.equal(r.sameOrder, r.dept! > r.pt!);
      assert.equal(r.paramsDept, r.paramsPt); // s = 64, d = 64: r = (100 − 60)·64 / 128 = 20 exactly
    }
    assert.equal(o.compared, 2);
    assert.match(o.verdict, /^DePT above PT on \d of 2 tasks/);
    assert.ok(stderr.includes(o.verdict));
  });

  it('Markdown: the metric table, the cost table and the ordering table, with the same numbers as the JSON', () => {
    const md = fs.readFileSync(`${OUT}.md`, 'utf8');
    assert.match(md, /^# glue-small/);
    assert.ok(md.includes('| task | metric | majority | TF-IDF + LR | PT-100 | DePT | LoRA r=8 | full FT |'));
    for (const t of result.tasks) {
      const cells = [t.baselines.majority.test, t.baselines.tfidf.test, ...t.runs.map((r) => (r as RunRow).test)].map((m) => m['accuracy']!.toFixed(1));
      assert.ok(md.includes(`| ${t.task} | acc | ${cells.join(' | ')} |`), `${t.task} row: ${cells.join(' | ')}`);
      for (const run of t.runs as RunRow[]) {
        assert.ok(md.includes(`| ${t.task} | ${run.label} | ${run.trainable.toLocaleString('en-US')} |`), `${t.task} ${run.label} cost row`);
      }
    }
    assert.ok(md.includes('## DePT against PT at the same parameter count'));
    assert.ok(md.includes(`**${result.ordering.verdict}**`));
    assert.ok(md.includes('Training rows capped at 24 per task'));
  });

  it('SVG: one bar per task and method or baseline, labelled with the JSON value', () => {
    const svg = fs.readFileSync(`${OUT}.svg`, 'utf8');
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    const bars = [...svg.matchAll(/aria-label="task: ([a-z0-9]+) \([^)]*\); test metric \(×100\): ([-0-9.]+); method: ([^"]+)"/g)]
      .map((m) => ({ task: m[1]!, value: Number(m[2]), method: m[3]! }));
    assert.equal(bars.length, TASKS.length * (METHODS.length + 2));
    for (const t of result.tasks) {
      const want: Record<string, number> = {
        majority: t.baselines.majority.test['accuracy']!, 'TF-IDF + LR': t.baselines.tfidf.test['accuracy']!,
        ...Object.fromEntries((t.runs as RunRow[]).map((r) => [r.label, r.test['accuracy']!])),
      };
      for (const [method, value] of Object.entries(want)) {
        const bar = bars.find((b) => b.task === t.task && b.method === method);
        assert.ok(bar !== undefined, `${t.task} ${method} bar`);
        assert.ok(Math.abs(bar.value - value) < 0.01, `${t.task} ${method}: bar ${bar.value}, JSON ${value}`);
      }
    }
  });
});
