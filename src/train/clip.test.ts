import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatError, SoftpromptError } from '../errors.js';
import { assertFinite, clipGradNorm, gradNorm } from './clip.js';
import { makeParam } from './params.js';

test('global norm over all params; clipped to max_norm/(norm+1e-6)', () => {
  const a = makeParam('a', 'g', [2]);
  const b = makeParam('b', 'g', [1]);
  a.grad.set([3, 0]);
  b.grad.set([4]);
  assert.equal(gradNorm([a, b]), 5);
  const pre = clipGradNorm([a, b], 1);
  assert.equal(pre, 5);
  const coef = 1 / (5 + 1e-6);
  assert.deepEqual([...a.grad, ...b.grad], [Math.fround(3 * coef), 0, Math.fround(4 * coef)]);
  assert.ok(Math.abs(gradNorm([a, b]) - 1) < 1e-6);
});

test('a norm below max_norm leaves gradients untouched', () => {
  const a = makeParam('a', 'g', [2]);
  a.grad.set([0.3, 0.4]);
  assert.ok(Math.abs(clipGradNorm([a], 1) - 0.5) < 1e-7);
  assert.deepEqual([...a.grad], [Math.fround(0.3), Math.fround(0.4)]);
});

test('assertFinite names step, value, checkpoint and a hint', () => {
  assertFinite(1.5, 3);
  try {
    assertFinite(NaN, 1200, 'runs/x/checkpoint-1000');
    assert.fail('expected a throw');
  } catch (e) {
    assert.ok(e instanceof SoftpromptError);
    assert.equal(e.code, 'non_finite_loss');
    assert.equal(e.message, 'Training loss is NaN at step 1200. The last good checkpoint is runs/x/checkpoint-1000.');
    assert.match(e.hint ?? '', /Lower --lr .* rerun with --resume/);
    assert.match(e.hint ?? '', /check the data/);
    assert.match(formatError(e), /hint: Lower --lr/);
  }
  assert.throws(
    () => assertFinite(Infinity, 7),
    (e: unknown) =>
      e instanceof SoftpromptError &&
      e.message === 'Training loss is Infinity at step 7. No checkpoint has been saved yet.' &&
      e.exitCode === 10,
  );
  assert.throws(() => assertFinite(-Infinity, 7, undefined, 'gradient norm'), /gradient norm is -Infinity at step 7/);
});
