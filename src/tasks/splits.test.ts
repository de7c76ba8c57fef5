import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SoftpromptError } from '../errors.js';
import { Permuter } from './permutation.js';
import { applySplitProtocol, largeValidationSize } from './splits.js';
import type { Example } from './types.js';

const rows = (n: number, tag: string): Example[] => Array.from({ length: n }, (_, i) => ({ source: `${tag}${i}`, target: '0', label: 0, id: `${tag}${i}` }));
const ids = (xs: Example[]): string[] => xs.map((x) => x.id as string);
const disjoint = (...parts: Example[][]): boolean => {
  const all = parts.flatMap(ids);
  return new Set(all).size === all.length;
};

test('small datasets: dev halves ⌊n/2⌋ / rest, train untouched (RTE, CoLA, MRPC, STS-B sizes)', () => {
  for (const [nTrain, nDev, v, t] of [
    [2490, 277, 138, 139],
    [8551, 1043, 521, 522],
    [3668, 408, 204, 204],
    [5749, 1500, 750, 750],
  ] as const) {
    const p = new Permuter();
    const { splits } = applySplitProtocol('small', { train: rows(nTrain, 't'), dev: rows(nDev, 'd') }, p);
    assert.equal(splits.train.length, nTrain);
    assert.equal(splits.validation.length, v);
    assert.equal(splits.test.length, t);
    assert.deepEqual(ids(splits.train), ids(rows(nTrain, 't'))); // original order
    assert.ok(disjoint(splits.validation, splits.test));
    assert.equal(new Set([...ids(splits.validation), ...ids(splits.test)]).size, nDev);
    assert.equal(p.protocol, 'torch-randperm-42');
  }
});

test('small: validation is the first half of randperm(n, seed 42)', () => {
  // torch.randperm(277, generator=torch.Generator().manual_seed(42))[:3] = [207, 84, 253]
  const { splits } = applySplitProtocol('small', { train: [], dev: rows(277, 'd') }, new Permuter());
  assert.deepEqual(ids(splits.validation).slice(0, 3), ['d207', 'd84', 'd253']);
});

test('large datasets: 1,000 held out of shuffled train, test = dev (SST-2 sizes)', () => {
  const p = new Permuter();
  const { splits, notes } = applySplitProtocol('large', { train: rows(67349, 't'), dev: rows(872, 'd') }, p);
  assert.equal(splits.validation.length, 1000);
  assert.equal(splits.train.length, 66349);
  assert.deepEqual(ids(splits.test), ids(rows(872, 'd')));
  assert.ok(disjoint(splits.train, splits.validation));
  // torch.randperm(67349, seed 42)[:2] = [6677, 49712]
  assert.deepEqual(ids(splits.validation).slice(0, 2), ['t6677', 't49712']);
  assert.deepEqual(notes, []);
  assert.equal(p.protocol, 'torch-randperm-42');
});

test('large: small train files hold out ⌊n/10⌋', () => {
  assert.equal(largeValidationSize(67349), 1000);
  assert.equal(largeValidationSize(2000), 1000);
  assert.equal(largeValidationSize(1999), 199);
  assert.equal(largeValidationSize(400), 40);
  const { splits, notes } = applySplitProtocol('large', { train: rows(400, 't'), dev: rows(200, 'd') }, new Permuter());
  assert.deepEqual([splits.train.length, splits.validation.length, splits.test.length], [360, 40, 200]);
  assert.match(notes[0] as string, /40 rows held out/);
});

test('deterministic: same seed same split, another seed another split', () => {
  const run = (seed: number): string[] => ids(applySplitProtocol('small', { train: [], dev: rows(500, 'd') }, new Permuter(seed)).splits.validation);
  assert.deepEqual(run(42), run(42));
  assert.deepEqual(run(3), run(3));
  assert.notDeepEqual(run(42), run(3));
});

test('maxTrain / maxEval follow DePT n_obs', () => {
  const p = new Permuter();
  const small = applySplitProtocol('small', { train: rows(10, 't'), dev: rows(277, 'd') }, p, { maxTrain: 3, maxEval: 5 }).splits;
  // train taken whole, so it is shuffled with randperm(10) = [2, 6, 1, …] and cut to 3
  assert.deepEqual(ids(small.train), ['t2', 't6', 't1']);
  assert.deepEqual(ids(small.validation), ['d207', 'd84', 'd253', 'd243', 'd190']);
  assert.equal(small.test.length, 5);
  const large = applySplitProtocol('large', { train: rows(67349, 't'), dev: rows(10, 'd') }, p, { maxTrain: 4, maxEval: 3 }).splits;
  assert.equal(large.train.length, 4);
  assert.deepEqual(ids(large.validation), ['t6677', 't49712', 't38268']);
  assert.deepEqual(ids(large.test), ['d2', 'd6', 'd1']);
});

test('mnli: validation = mismatched, test = matched; without mismatched, held out of train', () => {
  const p = new Permuter();
  const a = applySplitProtocol('mnli', { train: rows(30, 't'), dev: rows(10, 'm'), devMismatched: rows(8, 'x') }, p).splits;
  assert.deepEqual([a.train.length, a.validation.length, a.test.length], [30, 8, 10]);
  assert.deepEqual(ids(a.validation), ids(rows(8, 'x')));
  const b = applySplitProtocol('mnli', { train: rows(8999, 't'), dev: rows(1000, 'm'), devMismatched: null }, p);
  assert.deepEqual([b.splits.train.length, b.splits.validation.length, b.splits.test.length], [7999, 1000, 1000]);
  assert.ok(disjoint(b.splits.train, b.splits.validation));
  assert.match(b.notes.join(' '), /no mismatched dev set/);
});

test('bad counts are invalid_config', () => {
  const bad = (e: unknown): boolean => e instanceof SoftpromptError && e.code === 'invalid_config';
  assert.throws(() => applySplitProtocol('small', { train: [], dev: [] }, new Permuter(), { maxTrain: -1 }), bad);
  assert.throws(() => applySplitProtocol('large', { train: rows(5, 't'), dev: [] }, new Permuter(), { validationSize: 6 }), bad);
});
