import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SoftpromptError } from '../errors.js';
import { Rng } from './rng.js';

test('xoshiro128** matches the reference C output from state {1,2,3,4}', () => {
  // Output of prng.di.unimi.it/xoshiro128starstar.c with s = {1, 2, 3, 4}.
  const r = Rng.fromState([1, 2, 3, 4]);
  assert.deepEqual(
    Array.from({ length: 6 }, () => r.nextU32()),
    [11520, 0, 5927040, 70819200, 2031721883, 1637235492],
  );
  assert.deepEqual(r.getState(), [1110993931, 286554632, 2431677446, 2165318166]);
});

test('same seed, same stream; different seeds or streams differ', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const xs = Array.from({ length: 5 }, () => a.nextU32());
  assert.deepEqual(Array.from({ length: 5 }, () => b.nextU32()), xs);
  assert.notDeepEqual(Array.from({ length: 5 }, () => new Rng(43).nextU32()), xs);
  assert.notEqual(new Rng(42, 1).nextU32(), new Rng(42, 2).nextU32());
  assert.notEqual(new Rng(2 ** 40).nextU32(), new Rng(0).nextU32()); // high bits of the seed count
});

test('getState / setState replay exactly, including normal() and shuffle()', () => {
  const r = new Rng(7);
  r.nextU32();
  const s = r.getState();
  const run = (g: Rng): number[] => [g.nextFloat(), g.normal(), g.nextInt(10), ...g.shuffle([0, 1, 2, 3, 4, 5, 6, 7])];
  const first = run(r);
  const g = new Rng(999);
  g.setState(s);
  assert.deepEqual(run(g), first);
  assert.deepEqual(JSON.parse(JSON.stringify(s)), s); // JSON-safe
});

test('distributions look right', () => {
  const r = new Rng(1);
  const n = 20000;
  let sum = 0;
  let sq = 0;
  let fmin = 1;
  let fmax = 0;
  const counts = new Array<number>(5).fill(0);
  for (let i = 0; i < n; i++) {
    const z = r.normal();
    sum += z;
    sq += z * z;
    const f = r.nextFloat();
    fmin = Math.min(fmin, f);
    fmax = Math.max(fmax, f);
    counts[r.nextInt(5)]! += 1;
  }
  assert.ok(Math.abs(sum / n) < 0.03, `mean ${sum / n}`);
  assert.ok(Math.abs(sq / n - 1) < 0.05, `var ${sq / n}`);
  assert.ok(fmin >= 0 && fmax < 1);
  for (const c of counts) assert.ok(Math.abs(c / n - 0.2) < 0.015, `counts ${counts.join(',')}`);
  const perm = r.shuffle(Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual([...perm].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  assert.notDeepEqual(perm, Array.from({ length: 100 }, (_, i) => i));
});

test('bad seeds and states are invalid_config', () => {
  assert.throws(() => new Rng(1.5), SoftpromptError);
  assert.throws(() => new Rng(0).setState([0, 0, 0, 0]), (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_config');
  assert.throws(() => new Rng(0).setState([1, 2, 3, 2 ** 32]), SoftpromptError);
});
