import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fixture } from '../../test/paths.js';
import { lengthGroupedOrder } from './length-grouped.js';

interface Case { batchSize: number; lengths: number[]; permutation: number[]; order: number[] }

test('lengthGroupedOrder equals HF get_length_grouped_indices on the same permutation (golden from transformers)', () => {
  const { cases } = JSON.parse(readFileSync(fixture('length-grouped.json'), 'utf8')) as { cases: Case[] };
  assert.equal(cases.length, 5);
  for (const c of cases) {
    const got = lengthGroupedOrder(c.permutation, c.lengths, c.batchSize);
    assert.deepEqual(got, c.order, `N=${c.lengths.length}, B=${c.batchSize}`);
    assert.equal(c.lengths[got[0]!], Math.max(...c.lengths), 'the longest example comes first');
  }
});

test('grouping pads less: summed per-batch maximum length drops against the plain shuffle', () => {
  const { cases } = JSON.parse(readFileSync(fixture('length-grouped.json'), 'utf8')) as { cases: Case[] };
  const c = cases[2]!; // N = 1000, B = 16
  const padded = (order: number[]) => {
    let s = 0;
    for (let i = 0; i < order.length; i += c.batchSize) s += Math.max(...order.slice(i, i + c.batchSize).map((j) => c.lengths[j]!)) * Math.min(c.batchSize, order.length - i);
    return s;
  };
  const grouped = padded(lengthGroupedOrder(c.permutation, c.lengths, c.batchSize)), plain = padded(c.permutation);
  assert.ok(grouped < 0.75 * plain, `padded tokens grouped ${grouped} vs shuffled ${plain}`);
});
