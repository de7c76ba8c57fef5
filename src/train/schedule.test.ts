import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SoftpromptError } from '../errors.js';
import { lrFactor, validateSchedule } from './schedule.js';

test('linear warmup then linear decay, HF get_linear_schedule_with_warmup', () => {
  const s = { warmupSteps: 500, totalSteps: 30000, kind: 'linear' } as const;
  assert.equal(lrFactor(0, s), 0); // the first update runs at lr 0, as in the HF Trainer
  assert.equal(lrFactor(1, s), 1 / 500);
  assert.equal(lrFactor(250, s), 0.5);
  assert.equal(lrFactor(499, s), 499 / 500);
  assert.equal(lrFactor(500, s), 1); // peak
  assert.equal(lrFactor(501, s), 29499 / 29500);
  assert.equal(lrFactor(15250, s), 0.5);
  assert.equal(lrFactor(29999, s), 1 / 29500);
  assert.equal(lrFactor(30000, s), 0);
  assert.equal(lrFactor(40000, s), 0); // clamped at 0 past T
});

test('no warmup starts at the peak; constant holds it', () => {
  assert.equal(lrFactor(0, { warmupSteps: 0, totalSteps: 10, kind: 'linear' }), 1);
  assert.equal(lrFactor(5, { warmupSteps: 0, totalSteps: 10, kind: 'linear' }), 0.5);
  const c = { warmupSteps: 4, totalSteps: 10, kind: 'constant' } as const;
  assert.deepEqual([0, 1, 2, 3, 4, 9, 10, 99].map((t) => lrFactor(t, c)), [0, 0.25, 0.5, 0.75, 1, 1, 1, 1]);
});

test('warmup == total: max(1, T−W) guards the division', () => {
  const s = { warmupSteps: 10, totalSteps: 10, kind: 'linear' } as const;
  assert.equal(lrFactor(9, s), 0.9);
  assert.equal(lrFactor(10, s), 0);
});

test('validateSchedule rejects a missing max_steps', () => {
  assert.throws(
    () => validateSchedule({ warmupSteps: 500, totalSteps: -1, kind: 'linear' }),
    (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_config' && e.path === 'schedule.totalSteps',
  );
  assert.throws(() => validateSchedule({ warmupSteps: -1, totalSteps: 10, kind: 'linear' }), SoftpromptError);
});
