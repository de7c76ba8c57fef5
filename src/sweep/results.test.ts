import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderHtml, renderMarkdown, selectBest, type JobRecord, type SweepResults } from './results.js';
import type { SweepSelect } from './spec.js';

const SELECT: SweepSelect = { split: 'validation', mode: 'max', groupBy: ['task'], averageOver: [] };

function rec(task: string, values: Record<string, number | string>, val: number | null, testAcc: number | null, state: JobRecord['state'] = 'done', metric = 'accuracy'): JobRecord {
  const name = Object.entries(values).map(([k, v]) => `${k}=${v}`).join('_');
  return {
    name, id: name, runDir: `runs/${name}`, values, group: { task }, metric, state,
    validation: val === null ? null : { [metric]: val }, test: testAcc === null ? null : { [metric]: testAcc },
    bestStep: null, steps: null, seconds: null,
  };
}

test('best validation wins per task and its test metric is reported, even when another row has a higher test', () => {
  const jobs = [
    rec('rte', { lr: 0.3 }, 70, 69), rec('rte', { lr: 0.4 }, 72, 66), rec('rte', { lr: 0.5 }, 71, 75),
    rec('cola', { lr: 0.3 }, 50, 51, 'done', 'matthews_correlation'), rec('cola', { lr: 0.4 }, 55, 49, 'done', 'matthews_correlation'),
  ];
  const groups = selectBest(jobs, SELECT);
  assert.deepEqual(groups.map((g) => [g.label, g.metric, g.best?.label, g.best?.validation, g.best?.test]), [
    ['task=rte', 'accuracy', 'lr=0.4', 72, 66],
    ['task=cola', 'matthews_correlation', 'lr=0.4', 55, 49],
  ]);
  assert.deepEqual(groups[0]!.rows.map((r) => r.label), ['lr=0.4', 'lr=0.5', 'lr=0.3']);
});

test('averageOver: seeds are averaged into one configuration (mean, sample std), and the mean decides', () => {
  const s: SweepSelect = { ...SELECT, averageOver: ['seed'] };
  const jobs = [
    rec('rte', { lr: 0.3, seed: 1 }, 80, 70), rec('rte', { lr: 0.3, seed: 2 }, 60, 72), // mean val 70, test 71
    rec('rte', { lr: 0.5, seed: 1 }, 74, 60), rec('rte', { lr: 0.5, seed: 2 }, 68, 62), // mean val 71, test 61
  ];
  const [g] = selectBest(jobs, s);
  assert.equal(g!.best!.label, 'lr=0.5');
  assert.equal(g!.best!.validation, 71);
  assert.equal(g!.best!.test, 61);
  assert.equal(g!.best!.n, 2);
  assert.ok(Math.abs(g!.best!.validationStd! - Math.sqrt(18)) < 1e-12); // (3² + 3²) / (2 − 1)
  assert.deepEqual(g!.best!.jobs, ['lr=0.5_seed=1', 'lr=0.5_seed=2']);
  assert.equal(g!.rows[1]!.validation, 70);
});

test('mode min, selection on another metric, unfinished rows last, ties keep grid order', () => {
  const s: SweepSelect = { ...SELECT, mode: 'min', metric: 'loss' };
  const jobs: JobRecord[] = [
    { ...rec('t', { lr: 1 }, null, null, 'running') },
    { ...rec('t', { lr: 2 }, null, null), validation: { loss: 0.5 }, test: { loss: 0.6 } },
    { ...rec('t', { lr: 3 }, null, null), validation: { loss: 0.5 }, test: { loss: 0.4 } },
    { ...rec('t', { lr: 4 }, null, null), validation: { loss: 0.9 }, test: { loss: 0.1 } },
  ];
  const [g] = selectBest(jobs, s);
  assert.deepEqual(g!.rows.map((r) => r.label), ['lr=2', 'lr=3', 'lr=4', 'lr=1']);
  assert.equal(g!.best!.test, 0.6);
  assert.equal(selectBest([rec('t', { lr: 1 }, null, null, 'failed')], SELECT)[0]!.best, null);
});

test('Markdown and HTML tables: best per task first, every configuration ranked; HTML escapes and sorts', () => {
  const jobs = [rec('rte', { lr: 0.3 }, 70, 69), rec('rte', { lr: 0.4 }, 72, 66), rec('rte', { template: '<b>|x' }, 1, 1, 'failed')];
  const r: SweepResults = {
    format: 'softprompt.sweep', version: 1, name: 'demo', file: '/s.json', output: '/out', queue: null, select: SELECT,
    updatedAt: '', counts: { done: 2, failed: 1, running: 0, queued: 0, interrupted: 0, pending: 0 },
    groups: selectBest(jobs, SELECT), jobs: jobs.map((j) => ({ ...j, config: {} })),
  };
  const md = renderMarkdown(r);
  assert.match(md, /\| rte \| lr=0\.4 \| accuracy \| 72 \| 66 \| 1 \|/);
  const ranked = md.split('\n').filter((l) => /^\| [0-9] \|/.test(l));
  assert.deepEqual(ranked.map((l) => l.split(' | ')[0]), ['| 1', '| 2', '| 3']);
  assert.match(ranked[0]!, /\| 0\.4 \|/);
  assert.match(md, /3 jobs: 2 done · 1 failed/);
  assert.match(md, /template=<b>\\\|x/, 'pipes escaped in Markdown cells');
  const html = renderHtml(r);
  assert.ok(html.includes('template=&lt;b&gt;|x') && !html.includes('<b>|x'));
  assert.match(html, /table class="sortable"/);
});
