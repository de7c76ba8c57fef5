import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SoftpromptError } from '../errors.js';
import { DataOrder } from './data-order.js';
import { Rng } from './rng.js';

test('each epoch is a permutation cut into batches of B, last one partial', () => {
  const d = new DataOrder(10, 4, new Rng(3));
  const e0 = [d.next(), d.next(), d.next()];
  assert.deepEqual(e0.map((b) => b.indices.length), [4, 4, 2]);
  assert.deepEqual(e0.map((b) => b.epoch), [0, 0, 0]);
  const all0 = e0.flatMap((b) => b.indices);
  assert.deepEqual([...all0].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const e1 = [d.next(), d.next(), d.next()];
  assert.deepEqual(e1.map((b) => b.epoch), [1, 1, 1]);
  assert.notDeepEqual(e1.flatMap((b) => b.indices), all0); // reshuffled
});

test('restore from a cursor continues the same order bit-for-bit', () => {
  const rngA = new Rng(11);
  const a = new DataOrder(7, 3, rngA);
  const seen: number[][] = [];
  for (let i = 0; i < 4; i++) seen.push(a.next().indices); // into epoch 1
  const cursor = JSON.parse(JSON.stringify(a.cursor())) as ReturnType<DataOrder['cursor']>;
  const state = rngA.getState();
  const rest = Array.from({ length: 6 }, () => a.next());

  const rngB = new Rng(0);
  const b = DataOrder.restore(cursor, rngB, state, 7, 3);
  assert.deepEqual(Array.from({ length: 6 }, () => b.next()), rest);
  assert.deepEqual(rngB.getState(), rngA.getState());
});

test('restore before any batch, and mismatches', () => {
  const r = new Rng(5);
  const a = new DataOrder(4, 2, r);
  const b = DataOrder.restore(a.cursor(), new Rng(1), r.getState(), 4, 2);
  assert.deepEqual(b.next(), a.next());
  assert.throws(() => DataOrder.restore(a.cursor(), new Rng(1), r.getState(), 5, 2), (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_config');
  assert.throws(
    () => DataOrder.restore(a.cursor(), new Rng(1), [9, 9, 9, 9], 4, 2),
    (e: unknown) => e instanceof SoftpromptError && e.code === 'malformed_file',
  );
  assert.throws(() => new DataOrder(0, 2, r), SoftpromptError);
});
