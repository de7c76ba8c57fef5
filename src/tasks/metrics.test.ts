import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SoftpromptError } from '../errors.js';
import {
  accuracy,
  averageRanks,
  evaluate,
  f1WithInvalid,
  macroF1,
  matthewsCorrcoef,
  multircF1,
  normalizeSquad,
  pearson,
  spearman,
  squadExactMatch,
  squadF1,
  stringToFloat,
} from './metrics.js';

const close = (got: number, want: number, tol = 1e-9): void => assert.ok(Math.abs(got - want) < tol, `got ${got}, want ${want}`);
const s = (xs: Array<number | string>): string[] => xs.map(String);

test('accuracy: exact match after trimming both sides', () => {
  // rows 0 and 2 match after trim, row 1 does not → 2/3
  close(accuracy([' 1', '0', 'x'], ['1', '1', 'x ']), 200 / 3);
  assert.equal(accuracy([], []), 0);
  assert.throws(() => accuracy(['1'], []), (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_data');
});

test('f1WithInvalid: invalid predictions become the opposite of the target', () => {
  // targets 1 1 0 0 1; preds 1 yes 1 0 0 → "yes" (target 1) becomes 0 → preds 1 0 1 0 0
  // tp = 1 (row 0), fn = 2 (rows 1, 4), fp = 1 (row 2): F1 = 2·1 / (2·1 + 1 + 2) = 0.4
  close(f1WithInvalid(['1', 'yes', '1', '0', '0'], s([1, 1, 0, 0, 1])), 40);
  // an invalid prediction on a 0 target becomes 1, a false positive: tp 1, fp 1, fn 0 → 2/3
  close(f1WithInvalid(['1', '2'], ['1', '0']), 200 / 3);
  // no positives anywhere: F1 undefined → 0 (sklearn's zero_division default)
  assert.equal(f1WithInvalid(['0', '0'], ['0', '0']), 0);
  assert.equal(multircF1, f1WithInvalid);
  assert.throws(() => f1WithInvalid(['1'], ['2']), (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_data');
});

test('matthewsCorrcoef: 2×2 confusion matrix by hand', () => {
  // TP 3, FN 1, FP 2, TN 4: (3·4 − 2·1) / √((3+2)(3+1)(4+2)(4+1)) = 10 / √600 = 0.4082483 (sklearn: 40.8248290463863)
  const t = s([1, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
  const p = s([1, 1, 1, 0, 1, 1, 0, 0, 0, 0]);
  close(matthewsCorrcoef(p, t), (100 * 10) / Math.sqrt(600));
  close(matthewsCorrcoef(p, t), 40.8248290463863, 1e-9);
  close(matthewsCorrcoef(t, t), 100);
  close(matthewsCorrcoef(s([0, 1, 0, 1]), s([1, 0, 1, 0])), -100);
});

test('matthewsCorrcoef: constant predictions → 0; an invalid prediction is its own class', () => {
  assert.equal(matthewsCorrcoef(['1', '1', '1'], ['1', '0', '1']), 0);
  assert.equal(matthewsCorrcoef(['1', '0'], ['1', '1']), 0); // constant targets
  // targets 1 1 0 0, preds 1 x 0 0: n = 4, correct = 3, Σ t_k·p_k = 2·1 + 2·2 = 6,
  // cov(t,p) = 3·4 − 6 = 6, cov(p,p) = 16 − (1+1+4) = 10, cov(t,t) = 16 − (4+4) = 8 → 6/√80 (sklearn: 67.08203932499369)
  close(matthewsCorrcoef(['1', 'x', '0', '0'], ['1', '1', '0', '0']), (100 * 6) / Math.sqrt(80));
});

test('pearson: by hand, non-floats parse as −1, NaN → 0', () => {
  // t = 1 2 4 (mean 7/3), p = 1 2 3 (mean 2): Σdxdy = 3, Σdx² = 14/3, Σdy² = 2 → r = 3/√(28/3) (scipy: 98.19805060619655)
  close(pearson(['1', '2', '3'], ['1', '2', '4']), (100 * 3) / Math.sqrt(28 / 3));
  // "a" → −1: t = 1 2 3, p = −1 2 3: Σdxdy = 4, Σdx² = 2, Σdy² = 26/3 → r = 4/√(52/3) (scipy: 96.07689228305227)
  close(pearson(['a', '2', '3'], ['1', '2', '3']), (100 * 4) / Math.sqrt(52 / 3));
  assert.equal(pearson(['2', '2', '2'], ['1', '2', '3']), 0); // constant predictions: scipy gives NaN
  assert.equal(pearson(['1'], ['1']), 0); // n < 2
  assert.equal(pearson(['nan', '1', '2'], ['1', '2', '3']), 0);
});

test('spearman: ties get average ranks', () => {
  assert.deepEqual(averageRanks([1, 1, 2, 3, 3]), [1.5, 1.5, 3, 4.5, 4.5]);
  assert.deepEqual(averageRanks([30, 10, 20, 10]), [4, 1.5, 3, 1.5]);
  // ranks t = 1..5 (dx = −2 −1 0 1 2), p = 1.5 1.5 3 4.5 4.5 (dy = −1.5 −1.5 0 1.5 1.5):
  // Σdxdy = 3 + 1.5 + 0 + 1.5 + 3 = 9, Σdx² = 10, Σdy² = 9 → 9/√90 (scipy: 94.86832980505137)
  close(spearman(['1', '1', '2', '3', '3'], ['1', '2', '3', '4', '5']), (100 * 9) / Math.sqrt(90));
  close(spearman(['10', '20', '30'], ['1', '2', '3']), 100); // monotone, not linear
  assert.equal(spearman(['3', '3', '3'], ['1', '2', '3']), 0);
});

test('stringToFloat follows Python float()', () => {
  assert.equal(stringToFloat('3.8'), 3.8);
  assert.equal(stringToFloat(' 2 '), 2);
  assert.equal(stringToFloat('.5'), 0.5);
  assert.equal(stringToFloat('5.'), 5);
  assert.equal(stringToFloat('1e2'), 100);
  assert.equal(stringToFloat('1_0'), 10);
  assert.equal(stringToFloat('-inf'), -Infinity);
  assert.ok(Number.isNaN(stringToFloat('NaN')));
  for (const bad of ['', 'x', '3.8.1', '1__0', '_1', '0x10', '1,5']) assert.equal(stringToFloat(bad), -1, bad);
});

test('macroF1 over given classes (CB)', () => {
  // class 0: tp 2, fp 0, fn 1 → 0.8; class 1: tp 1, fp 1, fn 1 → 0.5; class 2: tp 1, fp 1, fn 1 → 0.5
  // mean = 1.8/3 = 0.6 (sklearn fbeta_score(beta=1, labels=0..2, average='macro'): 60.0)
  close(macroF1(['0', '1', '1', '0', '2', '2', 'x'], ['0', '1', '2', '0', '1', '2', '0'], ['0', '1', '2']), 60);
  // a class that never occurs on either side scores 0 and still counts in the mean
  close(macroF1(['0', '1'], ['0', '1'], ['0', '1', '2']), 200 / 3);
});

test('SQuAD normalisation, EM and F1', () => {
  assert.equal(normalizeSquad('The  Quick, brown fox!'), 'quick brown fox');
  assert.equal(normalizeSquad('banana an apple'), 'banana apple'); // only whole-word articles
  assert.equal(normalizeSquad('théa'), 'théa'); // é is a word character, as in Python's \b
  assert.equal(normalizeSquad("A's"), 'as'); // punctuation goes before articles: a's → as
  assert.equal(normalizeSquad('éa the'), 'éa'); // Python: no \b between é and a
  // row 1: "the quick brown fox" normalises to the first ground truth → EM 1
  // row 2: "brown fox jumps" vs "quick brown fox": 2 common, P = R = 2/3 → F1 2/3; vs "fox": P 1/3, R 1 → 0.5; max 2/3
  const preds = ['the quick brown fox', 'brown fox jumps'];
  const truths = [['Quick brown fox.', 'a fox'], ['the quick brown fox', 'fox']];
  close(squadExactMatch(preds, truths), 50);
  close(squadF1(preds, truths), ((1 + 2 / 3) / 2) * 100);
  // repeated tokens count as a multiset: cat cat dog vs cat dog dog → 2 common of 3 → 2/3
  close(squadF1(['cat cat dog'], [['cat dog dog']]), 200 / 3);
  assert.equal(squadF1([''], [['']]), 0); // T5's qa_utils: no common token → 0
});

test('evaluate dispatches on the task metric names', () => {
  const m = evaluate({ metricNames: ['accuracy', 'f1'], labelWords: ['0', '1'] }, ['1', '0', '1', 'x'], ['1', '0', '0', '1']);
  // accuracy 2/4; F1: x → 0 (target 1): tp 1, fp 1, fn 1 → 0.5
  assert.deepEqual(m, { accuracy: 50, f1: 50 });
  const qa = evaluate({ metricNames: ['em', 'f1'], labelWords: null }, ['the cat'], ['Cat']);
  assert.deepEqual(qa, { em: 100, f1: 100 });
  assert.throws(
    () => evaluate({ metricNames: ['bleu'], labelWords: null }, [], []),
    (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_config' && /bleu/.test(e.message),
  );
});
