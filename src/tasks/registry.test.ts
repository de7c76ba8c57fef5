import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import { bundledDataDir, canonicalTaskName, getTask, loadSplits, TASK_NAMES } from './registry.js';
import { HAVE_SHARED, SHARED_DATA, softError } from './test-helpers.js';
import type { Example } from './types.js';

test('names and aliases', () => {
  for (const n of ['sst2', 'cola', 'rte', 'mrpc', 'stsb', 'qnli', 'wnli', 'mnli', 'qqp', 'boolq', 'cb', 'wic', 'wsc', 'multirc', 'copa', 'superglue-rte']) {
    assert.ok(TASK_NAMES.includes(n), n);
  }
  const cases: Array<[string, string]> = [
    ['SST-2', 'sst2'],
    ['glue-sst2', 'sst2'],
    ['glue/sst2', 'sst2'],
    ['STS-B', 'stsb'],
    ['stsb-fixed', 'stsb-fixed'],
    ['superglue-cb', 'cb'],
    ['super_glue/boolq', 'boolq'],
    ['superglue-wsc.fixed', 'wsc'],
    ['superglue-rte', 'superglue-rte'],
    ['RTE', 'rte'],
  ];
  for (const [alias, name] of cases) assert.equal(canonicalTaskName(alias), name, alias);
  assert.equal(getTask('sst-2').name, 'sst2');
  assert.equal(getTask('stsb', { stsbRounding: 'fixed' }).name, 'stsb-fixed');
  assert.deepEqual(getTask('cb').metricNames, ['accuracy', 'f1_multiclass']);
  assert.equal(getTask('stsb').labelWords, null);
  assert.equal(getTask('cola').primaryMetric, 'matthews_correlation');
});

test('an unknown task is invalid_config listing the known names', () => {
  assert.throws(
    () => getTask('imdb'),
    (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_config' && e.message.startsWith('Unknown task "imdb". Known tasks: cola, sst2, rte,'),
  );
  assert.throws(() => loadSplits('nope', '.'), softError('invalid_config'));
});

const ids = (xs: Example[]): string[] => xs.map((x) => x.id as string);
const disjoint = (...parts: Example[][]): boolean => {
  const all = parts.flatMap(ids);
  return new Set(all).size === all.length;
};

test('loadSplits on the bundled slices', () => {
  const data = bundledDataDir();
  const sst = loadSplits('sst2', path.join(data, 'sst2'));
  assert.deepEqual([sst.train.length, sst.validation.length, sst.test.length], [360, 40, 200]);
  assert.equal(sst.splitProtocol, 'torch-randperm-42');
  assert.ok(disjoint(sst.train, sst.validation));
  assert.equal(sst.files.train, path.join(data, 'sst2', 'train.tsv'));
  assert.match(sst.notes.join(' '), /40 rows held out/);
  for (const name of ['rte', 'cola']) {
    const s = loadSplits(name, data);
    assert.deepEqual([s.train.length, s.validation.length, s.test.length], [400, 100, 100], name);
    assert.ok(disjoint(s.validation, s.test));
    assert.equal(s.splitProtocol, 'torch-randperm-42');
  }
  assert.deepEqual(loadSplits('rte', data), loadSplits('rte', data)); // deterministic
  const other = loadSplits('rte', data, { seed: 1 });
  assert.equal(other.splitProtocol, 'softprompt-seeded');
  assert.notDeepEqual(ids(other.validation), ids(loadSplits('rte', data).validation));
  const capped = loadSplits('cola', data, { maxTrain: 10, maxEval: 7 });
  assert.deepEqual([capped.train.length, capped.validation.length, capped.test.length], [10, 7, 7]);
  assert.throws(() => loadSplits('wnli', data), softError('file_not_found'));
  assert.throws(() => loadSplits('sst2', path.join(data, 'no-such-dir')), softError('file_not_found', /does not exist/));
});

test('loadSplits on the full data: reference sizes', { skip: !HAVE_SHARED && 'no shared data' }, () => {
  const sizes: Array<[string, number, number, number]> = [
    ['rte', 2490, 138, 139],
    ['cola', 8551, 521, 522],
    ['mrpc', 3668, 204, 204],
    ['stsb', 5749, 750, 750],
    ['sst2', 66349, 1000, 872],
    ['cb', 250, 28, 28],
    ['wsc', 554, 52, 52],
    ['boolq', 32, 1635, 1635],
    ['multirc', 154, 2424, 2424],
    ['wic', 32, 319, 319],
  ];
  for (const [name, tr, va, te] of sizes) {
    const s = loadSplits(name, SHARED_DATA);
    assert.deepEqual([s.train.length, s.validation.length, s.test.length], [tr, va, te], name);
    assert.equal(s.splitProtocol, 'torch-randperm-42', name);
    assert.ok(disjoint(s.train, s.validation, s.test), name);
  }
  const mnli = loadSplits('mnli', SHARED_DATA);
  assert.deepEqual([mnli.train.length, mnli.validation.length, mnli.test.length], [7999, 1000, 1000]);
  assert.match(mnli.notes.join(' '), /no mismatched dev set/);
  assert.match(loadSplits('wic', SHARED_DATA).notes.join(' '), /FewGLUE/);
  // RTE from GLUE and from SuperGLUE: same 277 dev rows in the same order, so the same permutation picks the same rows
  assert.match(loadSplits('rte', SHARED_DATA).validation[0]?.source ?? '', /^sentence1: "Bea Arthur and I first met/);
  assert.match(loadSplits('superglue-rte', SHARED_DATA).validation[0]?.source ?? '', /^premise: Bea Arthur and I first met/);
});
