import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SoftpromptError } from '../errors.js';
import { EarlyStopping } from './early-stopping.js';

test('greater is better by default; stops after `patience` evaluations without improvement', () => {
  const es = new EarlyStopping({ patience: 2 });
  assert.deepEqual(es.update(100, 0.5), { improved: true, shouldStop: false });
  assert.deepEqual(es.update(200, 0.6), { improved: true, shouldStop: false });
  assert.deepEqual(es.update(300, 0.6), { improved: false, shouldStop: false }); // equal is not better
  assert.deepEqual(es.update(400, 0.7), { improved: true, shouldStop: false }); // counter resets
  assert.deepEqual(es.update(500, 0.65), { improved: false, shouldStop: false });
  assert.deepEqual(es.update(600, NaN), { improved: false, shouldStop: true });
  assert.equal(es.bestValue, 0.7);
  assert.equal(es.bestAt, 400);
});

test('lower is better and threshold', () => {
  const es = new EarlyStopping({ patience: 1, greaterIsBetter: false, threshold: 0.1 });
  assert.equal(es.update(1, 2.0).improved, true);
  assert.equal(es.update(2, 1.95).improved, false); // within threshold
  assert.equal(es.bestAt, 1);
});

test('state round-trips; default patience never stops', () => {
  const es = new EarlyStopping({ patience: 3 });
  es.update(1, 1);
  es.update(2, 0);
  const copy = new EarlyStopping({ patience: 3 });
  copy.loadState(JSON.parse(JSON.stringify(es.state())));
  assert.deepEqual(copy.update(3, 0), es.update(3, 0));
  const forever = new EarlyStopping();
  forever.update(1, 1);
  for (let i = 2; i < 100; i++) assert.equal(forever.update(i, 0).shouldStop, false);
  assert.throws(() => new EarlyStopping({ patience: 0 }), SoftpromptError);
});
