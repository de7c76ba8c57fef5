import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import { exportedPermutation, Mt19937, Permuter, seededPermutation, splitIndicesDir } from './permutation.js';

test('MT19937 matches std::mt19937', () => {
  // C++ std::mt19937 with the default seed 5489: first outputs 3499211612, 581869302, 3890346734, and the
  // 10000th is 4123659995 (required by the C++ standard, [rand.predef]).
  const g = new Mt19937(5489);
  assert.deepEqual([g.next32(), g.next32(), g.next32()], [3499211612, 581869302, 3890346734]);
  for (let i = 4; i < 10000; i++) g.next32();
  assert.equal(g.next32(), 4123659995);
  // seed 42 (torch.manual_seed(42)'s engine): computed with Python's MT19937 set to init_genrand(42)
  const h = new Mt19937(42);
  assert.deepEqual([h.next32(), h.next32(), h.next32()], [1608637542, 3421126067, 4083286876]);
});

test('randperm(10, seed 42) is the torch value', () => {
  // torch 2.13.0+cpu: torch.randperm(10, generator=torch.Generator().manual_seed(42)).tolist()
  //   → [2, 6, 1, 8, 4, 5, 0, 9, 3, 7]
  // (seed 7 → [5, 0, 3, 4, 1, 7, 9, 6, 8, 2]; randperm(5, seed 0) → [4, 0, 1, 3, 2])
  assert.deepEqual(exportedPermutation(10), [2, 6, 1, 8, 4, 5, 0, 9, 3, 7]);
  assert.deepEqual(seededPermutation(10, 42), [2, 6, 1, 8, 4, 5, 0, 9, 3, 7]);
  assert.deepEqual(seededPermutation(10, 7), [5, 0, 3, 4, 1, 7, 9, 6, 8, 2]);
  assert.deepEqual(seededPermutation(5, 0), [4, 0, 1, 3, 2]);
  assert.deepEqual(seededPermutation(0, 42), []);
  assert.deepEqual(seededPermutation(1, 42), [0]);
});

test('first indices of exported permutations (spot check)', () => {
  // torch 2.13.0+cpu, seed 42: randperm(277)[:5] = [207, 84, 253, 243, 190];
  // randperm(1043)[:5] = [911, 408, 813, 657, 710]; randperm(67349)[:5] = [6677, 49712, 38268, 32909, 23395]
  assert.deepEqual(exportedPermutation(277)?.slice(0, 5), [207, 84, 253, 243, 190]);
  assert.deepEqual(exportedPermutation(1043)?.slice(0, 5), [911, 408, 813, 657, 710]);
  assert.deepEqual(exportedPermutation(67349)?.slice(0, 5), [6677, 49712, 38268, 32909, 23395]);
  assert.equal(exportedPermutation(12345), null);
});

test('the TS re-creation equals every exported torch permutation', () => {
  const dir = splitIndicesDir();
  assert.ok(dir !== undefined, 'split-indices/ not found');
  const sizes = fs
    .readdirSync(dir)
    .filter((f) => /^\d+\.json$/.test(f))
    .map((f) => Number(path.basename(f, '.json')));
  assert.ok(sizes.length >= 20);
  for (const n of sizes) assert.deepEqual(seededPermutation(n, 42), exportedPermutation(n), `n = ${n}`);
});

test('Permuter reports the protocol it used', () => {
  const p = new Permuter();
  p.perm(277);
  assert.equal(p.protocol, 'torch-randperm-42');
  p.perm(12345);
  assert.equal(p.protocol, 'softprompt-seeded');
  assert.deepEqual(p.fallbacks, [12345]);
  const q = new Permuter(7);
  assert.deepEqual(q.perm(10), [5, 0, 3, 4, 1, 7, 9, 6, 8, 2]);
  assert.equal(q.protocol, 'softprompt-seeded');
  assert.throws(() => new Permuter(-1), (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_config');
});
