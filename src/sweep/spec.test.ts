import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { expectError } from '../../test/expect-error.js';
import { reader } from '../cli/sweep.js';
import { cartesian, jobId, jobNameOf, planSweep } from './spec.js';

function sweepFile(content: unknown, name = 'sweep.json'): { file: string; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-sweep-spec-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return { file, dir };
}

test('cartesian: every combination, last axis fastest', () => {
  assert.deepEqual(cartesian({ a: [1, 2], b: ['x', 'y', 'z'] }), [
    { a: 1, b: 'x' }, { a: 1, b: 'y' }, { a: 1, b: 'z' }, { a: 2, b: 'x' }, { a: 2, b: 'y' }, { a: 2, b: 'z' },
  ]);
  assert.deepEqual(cartesian({}), [{}]);
});

test('job names: grid values, "base" for none, unsafe or long values shortened with a hash', () => {
  assert.equal(jobNameOf({ lr: 0.3, seed: 1 }), 'lr=0.3_seed=1');
  assert.equal(jobNameOf({ lrLowrank: 1e-4 }), 'lrLowrank=0.0001');
  assert.equal(jobNameOf({}), 'base');
  const a = jobNameOf({ initText: 'a b/c' }), b = jobNameOf({ initText: 'a b c' });
  assert.match(a, /^initText=a-b-c-[0-9a-f]{8}$/);
  assert.notEqual(a, b, 'values that sanitize alike keep distinct names');
});

test('plan: base + grid → one validated train config per job, run folders under output/runs, sweep-owned fields set', () => {
  const { file, dir } = sweepFile({
    output: 'out', base: { model: 'models/t5', task: 'rte', steps: 100, 'prompt-length': 40 },
    grid: { lr: [0.3, 0.5], method: ['dept', 'pt'] },
    select: { averageOver: ['seed'] },
  });
  const plan = planSweep(file, reader, dir);
  assert.equal(plan.name, 'sweep');
  assert.equal(plan.output, path.join(dir, 'out'));
  assert.deepEqual(plan.jobs.map((j) => j.name), ['lr=0.3_method=dept', 'lr=0.3_method=pt', 'lr=0.5_method=dept', 'lr=0.5_method=pt']);
  const j = plan.jobs[1]!;
  assert.equal(j.config.method, 'prompt_tuning', '"pt" normalized as train --config does');
  assert.equal(j.config.promptLength, 40, 'kebab-case base keys accepted');
  assert.equal(j.config.model, path.join(dir, 'models/t5'), 'relative paths made absolute');
  assert.equal(j.config.output, path.join(dir, 'out', 'runs', 'lr=0.3_method=pt'));
  assert.equal(j.config.resume, true);
  assert.equal(j.config.batchSize, 32, 'schema defaults filled in');
  assert.equal(new Set(plan.jobs.map((x) => x.id)).size, 4);
  assert.equal(planSweep(file, reader, dir).jobs[0]!.id, plan.jobs[0]!.id, 'ids are stable across plans');
});

test('plan: a list of grids is their union; a config produced twice runs once', () => {
  const { file, dir } = sweepFile({ base: { model: 'm' }, grid: [{ task: ['rte'], lr: [0.3, 0.4] }, { task: ['rte', 'mrpc'], lr: [0.4] }] });
  const plan = planSweep(file, reader, dir);
  assert.deepEqual(plan.jobs.map((j) => j.name), ['task=rte_lr=0.3', 'task=rte_lr=0.4', 'task=mrpc_lr=0.4']);
});

test('plan: YAML sweep files, and baseConfig from a train config file under "base"', () => {
  const { dir } = sweepFile('{}');
  fs.writeFileSync(path.join(dir, 'train.json'), JSON.stringify({ model: 'm', steps: 7, lr: 0.1 }));
  const file = path.join(dir, 'grid.yaml');
  fs.writeFileSync(file, 'baseConfig: train.json\nbase:\n  steps: 9\ngrid:\n  seed: [1, 2]\n');
  const plan = planSweep(file, reader, dir);
  assert.equal(plan.name, 'grid');
  assert.deepEqual(plan.jobs.map((j) => [j.config.steps, j.config.lr, j.config.seed]), [[9, 0.1, 1], [9, 0.1, 2]]);
});

test('plan errors: unknown option (with a suggestion), bad value naming the job, sweep-owned fields, malformed files', () => {
  const bad = (content: unknown, code: string, ...mention: string[]): void => {
    const { file, dir } = sweepFile(content);
    expectError(() => planSweep(file, reader, dir), code, ...mention);
  };
  bad({ base: { model: 'm' }, grid: { learningRate: [0.3] } }, 'invalid_config', 'learningRate');
  bad({ base: { model: 'm', promptLenght: 3 } }, 'invalid_config', 'promptLength');
  bad({ base: { model: 'm' }, grid: { lr: [0.3, -1] } }, 'invalid_config', 'lr', 'job lr=-1');
  bad({ base: { model: 'm', output: 'x' } }, 'invalid_config', '"output"');
  bad({ base: { model: 'm' }, grid: { resume: [true] } }, 'invalid_config', '"resume"');
  bad({ base: { model: 'm' }, grid: { lr: [] } }, 'invalid_config', 'sweep.grid.lr');
  bad({ base: { model: 'm' }, grids: {} }, 'invalid_config', 'unknown key "grids"');
  bad({ model: 'm' }, 'invalid_config', 'unknown key "model"');
  bad({ base: { model: 'm' }, select: { mode: 'best' } }, 'invalid_config', 'sweep.select.mode');
  bad({ base: { model: 'm' }, select: { averageOver: ['sed'] } }, 'invalid_config', '"sed"');
  bad('{"base": ', 'malformed_file', 'not valid JSON');
  bad('[1, 2]', 'malformed_file', 'should hold an object');
  expectError(() => planSweep('/nonexistent/sweep.json', reader), 'file_not_found', '/nonexistent/sweep.json');
});

test('the bundled examples/sweep.json plans from the package folder: 4 jobs over the quickstart', () => {
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..');
  const plan = planSweep(path.join(root, 'examples', 'sweep.json'), reader, root);
  assert.equal(plan.jobs.length, 4);
  assert.equal(plan.jobs[0]!.config.model, path.join(root, 'models', 't5-mini'));
  assert.equal(plan.jobs[0]!.config.steps, 100, 'base overrides baseConfig');
  assert.equal(plan.jobs[0]!.config.output, path.join(root, 'sweeps', 'example', 'runs', 'lr=0.3_lrLowrank=0.005'), 'the train file\'s output is dropped');
});

test('job ids ignore runtime-only fields (threads, quiet) but not the run folder or training fields', () => {
  const { file, dir } = sweepFile({ base: { model: 'm' } });
  const c = planSweep(file, reader, dir).jobs[0]!.config;
  assert.equal(jobId({ ...c, threads: 8, quiet: false }), jobId(c));
  assert.notEqual(jobId({ ...c, lr: (c.lr ?? 0.3) * 2 }), jobId(c));
  assert.notEqual(jobId({ ...c, output: '/elsewhere' }), jobId(c));
});
