import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { loadTokenizerSync } from '../io/tokenizer.js';
import { Rng } from '../train/rng.js';
import { expectError } from '../../test/expect-error.js';
import { fixture, repoRoot } from '../../test/paths.js';
import {
  applyNoiseMask, corruptSpans, expandedLengths, noiseCounts, randomSpansNoiseMask, roundHalfEven, sentinelVocab,
  T5_SPAN_CORRUPTION, type SentinelVocab,
} from './span-corruption.js';

interface Golden {
  lenTokenizer: number;
  eosId: number;
  extraId0: number;
  extraId99: number;
  lengths: { inputLength: number; tokensLength: number; targetsLength: number }[];
  lengthsDensityHalf: { inputLength: number; tokensLength: number; targetsLength: number }[];
  counts: { length: number; noiseTokens: number; noiseSpans: number; firstNoise: boolean }[];
  cases: { ids: number[]; mask: number[]; inputs: number[]; labels: number[] }[];
}
// Made by scripts/span-corruption-golden.py from HF's run_t5_mlm_flax.py functions.
const golden = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'src/pretrain/golden/span-corruption.json'), 'utf8')) as Golden;
const VOCAB: SentinelVocab = { firstSentinelId: golden.lenTokenizer - 1, eosId: golden.eosId, numSentinels: 100 };

function spans(mask: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < mask.length; i++) {
    if (mask[i] === 1 && (i === 0 || mask[i - 1] === 0)) out.push(0);
    if (mask[i] === 1) out[out.length - 1]!++;
  }
  return out;
}

/** The original ids back from inputs + targets: each sentinel in the inputs is replaced by its target span. */
function reassemble(inputs: Int32Array, targets: Int32Array, v: SentinelVocab): number[] {
  const isSentinel = (id: number) => id <= v.firstSentinelId && id > v.firstSentinelId - v.numSentinels;
  const spanOf = new Map<number, number[]>();
  let cur: number[] | undefined;
  for (const id of targets.subarray(0, -1)) {
    if (isSentinel(id)) spanOf.set(id, (cur = []));
    else cur?.push(id);
  }
  const out: number[] = [];
  for (const id of inputs.subarray(0, -1)) out.push(...(isSentinel(id) ? spanOf.get(id) ?? [] : [id]));
  return out;
}

describe('span corruption against HF run_t5_mlm_flax.py', () => {
  it('T5 tokenizer sentinels: <extra_id_k> = len(tokenizer) − 1 − k, 100 of them', () => {
    const v = sentinelVocab(loadTokenizerSync(fixture('tokenizers', 't5')));
    assert.deepEqual(v, { firstSentinelId: golden.extraId0, eosId: golden.eosId, numSentinels: 100 });
    assert.equal(v.firstSentinelId, golden.lenTokenizer - 1);
    assert.equal(v.firstSentinelId - 99, golden.extraId99);
  });

  it('compute_input_and_target_lengths for 136 input lengths (density 0.15) and the density-0.5 rule', () => {
    for (const g of golden.lengths) {
      // HF's collator itself fails on these (its length formula allows 0 spans, its mask forces 1).
      if (g.inputLength < 10) {
        expectError(() => expandedLengths(g.inputLength), 'invalid_config', 'too short');
        continue;
      }
      assert.deepEqual(expandedLengths(g.inputLength), { tokensLength: g.tokensLength, targetsLength: g.targetsLength }, `inputLength ${g.inputLength}`);
    }
    for (const g of golden.lengthsDensityHalf) {
      assert.deepEqual(expandedLengths(g.inputLength, { noiseDensity: 0.5, meanNoiseSpanLength: 3 }),
        { tokensLength: g.tokensLength, targetsLength: g.targetsLength }, `inputLength ${g.inputLength}`);
    }
    assert.deepEqual(expandedLengths(512), { tokensLength: 568, targetsLength: 114 });
  });

  it('noise token and span counts equal those of HF masks for 87 lengths; first token never noise', () => {
    for (const g of golden.counts) {
      assert.deepEqual(noiseCounts(g.length), { noiseTokens: g.noiseTokens, noiseSpans: g.noiseSpans }, `length ${g.length}`);
      const rng = new Rng(g.length);
      for (let rep = 0; rep < 5; rep++) {
        const mask = randomSpansNoiseMask(g.length, rng);
        assert.equal(mask.reduce((a, b) => a + b, 0), g.noiseTokens);
        assert.equal(spans(mask).length, g.noiseSpans);
        assert.equal(mask[0], 0);
      }
      assert.equal(g.firstNoise, false);
    }
  });

  it('fixed masks give HF inputs and labels (create_sentinel_ids + filter_input_ids)', () => {
    assert.ok(golden.cases.length >= 10);
    for (const c of golden.cases) {
      const { inputs, targets } = applyNoiseMask(c.ids, c.mask, VOCAB);
      assert.deepEqual([...inputs], c.inputs);
      assert.deepEqual([...targets], c.labels);
    }
  });

  it('roundHalfEven is numpy round', () => {
    assert.deepEqual([0.5, 1.5, 2.5, 3.5, 4.5, 1.4999, 2.5001, 7].map(roundHalfEven), [0, 2, 2, 4, 4, 1, 3, 7]);
  });
});

describe('span corruption properties', () => {
  it('any length and seed: exact noise count, span count, first span kept, all spans non-empty', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 3000 }), fc.integer(), (length, seed) => {
      const { noiseTokens, noiseSpans } = noiseCounts(length);
      assert.equal(noiseTokens, Math.min(Math.max(roundHalfEven(length * 0.15), 1), length - 1));
      const mask = randomSpansNoiseMask(length, new Rng(seed));
      const s = spans(mask);
      assert.equal(mask.length, length);
      assert.equal(s.reduce((a, b) => a + b, 0), noiseTokens);
      assert.equal(s.length, noiseSpans);
      assert.equal(mask[0], 0);
    }), { numRuns: 300 });
  });

  it('packed rows corrupt to exactly inputLength inputs and targetsLength targets, and reassemble to the row', () => {
    fc.assert(fc.property(fc.integer({ min: 10, max: 700 }), fc.integer(), (inputLength, seed) => {
      const { tokensLength, targetsLength } = expandedLengths(inputLength);
      const rng = new Rng(seed);
      const ids = Array.from({ length: tokensLength }, () => 2 + rng.nextInt(31000));
      const { inputs, targets } = corruptSpans(ids, rng, VOCAB);
      assert.equal(inputs.length, inputLength);
      assert.equal(targets.length, targetsLength);
      assert.equal(inputs[inputs.length - 1], VOCAB.eosId);
      assert.equal(targets[targets.length - 1], VOCAB.eosId);
      assert.equal(targets[0], VOCAB.firstSentinelId);
      assert.deepEqual(reassemble(inputs, targets, VOCAB), ids);
    }), { numRuns: 200 });
  });

  it('span lengths follow the uniform-composition law (568 tokens: 85 noise in 28 spans, 483 kept in 28)', () => {
    // Every composition of n into m positive parts is equally likely, so one part has
    // P(len = k) = C(n − k − 1, m − 2) / C(n − 1, m − 1). Tolerance: 5σ of a binomial over the masks drawn.
    const logC = (n: number, k: number) => logFactorial(n) - logFactorial(k) - logFactorial(n - k);
    const pmf = (n: number, m: number, k: number) => Math.exp(logC(n - k - 1, m - 2) - logC(n - 1, m - 1));
    const masks = 3000;
    const rng = new Rng(7);
    const noiseHist = new Map<number, number>(), keepHist = new Map<number, number>();
    let totalNoise = 0, totalKeep = 0;
    for (let r = 0; r < masks; r++) {
      const mask = randomSpansNoiseMask(568, rng);
      for (const l of spans(mask)) { noiseHist.set(l, (noiseHist.get(l) ?? 0) + 1); totalNoise++; }
      for (const l of spans(mask.map((b) => 1 - b))) { keepHist.set(l, (keepHist.get(l) ?? 0) + 1); totalKeep++; }
    }
    assert.equal(totalNoise, masks * 28);
    assert.equal(totalKeep, masks * 28);
    for (const [hist, n, ks] of [[noiseHist, 85, [1, 2, 3, 4, 6]], [keepHist, 483, [1, 5, 10, 17, 30]]] as const) {
      for (const k of ks) {
        const p = pmf(n, 28, k);
        const got = (hist.get(k) ?? 0) / (masks * 28);
        const tol = 5 * Math.sqrt((p * (1 - p)) / masks);
        assert.ok(Math.abs(got - p) < tol, `n=${n} P(len=${k}): got ${got.toFixed(4)}, expected ${p.toFixed(4)} ± ${tol.toFixed(4)}`);
      }
    }
  });

  it('same seed, same masks; the Rng state resumes the stream', () => {
    const a = new Rng(3), b = new Rng(3);
    assert.deepEqual(randomSpansNoiseMask(100, a), randomSpansNoiseMask(100, b));
    const resumed = Rng.fromState(a.getState());
    const next = randomSpansNoiseMask(300, a);
    assert.deepEqual(randomSpansNoiseMask(300, resumed), next);
    assert.notDeepEqual(randomSpansNoiseMask(300, new Rng(4)), next);
  });

  it('bad options, too short sequences, too many spans for the sentinels, mask size', () => {
    expectError(() => expandedLengths(1), 'invalid_config', 'inputLength');
    expectError(() => noiseCounts(1), 'invalid_config', 'length ≥ 2');
    expectError(() => randomSpansNoiseMask(10, new Rng(0), { noiseDensity: 1.2, meanNoiseSpanLength: 3 }), 'invalid_config', 'noiseDensity');
    expectError(() => randomSpansNoiseMask(10, new Rng(0), { noiseDensity: 0.9, meanNoiseSpanLength: 1 }), 'invalid_config', 'non-noise');
    expectError(() => applyNoiseMask([5, 6, 7], [0, 1], VOCAB), 'shape_mismatch', 'mask');
    expectError(() => corruptSpans(new Array(3000).fill(9), new Rng(0), { ...VOCAB, numSentinels: 10 }, T5_SPAN_CORRUPTION), 'invalid_data', '10 spans');
  });
});

function logFactorial(n: number): number {
  let s = 0;
  for (let i = 2; i <= n; i++) s += Math.log(i);
  return s; // log(n!)
}
