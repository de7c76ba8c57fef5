import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expectError } from '../../test/expect-error.js';
import type { PackedCorpus } from './corpus.js';
import { expandedLengths, type SentinelVocab } from './span-corruption.js';
import { PretrainStream, type TokenizedExample } from './stream.js';

const VOCAB: SentinelVocab = { firstSentinelId: 32099, eosId: 1, numSentinels: 100 };
const INPUT = 40;
const { tokensLength: RAW, targetsLength: TARGETS } = expandedLengths(INPUT); // 44, 10

/** Chunk c holds ids 1000·(c+1) + 0..RAW−1, so every id names its chunk and position. */
function corpus(numChunks: number): PackedCorpus {
  const tokens = new Int32Array(numChunks * RAW).map((_, i) => 1000 * (Math.floor(i / RAW) + 1) + (i % RAW));
  return { tokens, chunkLength: RAW, numChunks, tokenCount: tokens.length, documents: numChunks };
}

const SUPERVISED: TokenizedExample[] = Array.from({ length: 7 }, (_, i) => ({
  inputs: Int32Array.from([500 + i, 600 + i, 1]),
  targets: Int32Array.from([700 + i, 1]),
}));

function chunkOf(row: Int32Array): number {
  const id = row.find((x) => x >= 1000 && x < 32000)!;
  return Math.floor(id / 1000) - 1;
}

/** Undo the corruption of one row: the chunk's ids back (sentinels in inputs replaced by their target spans). */
function reassemble(inputs: Int32Array, labels: Int32Array): number[] {
  const isS = (x: number) => x > VOCAB.firstSentinelId - 100 && x <= VOCAB.firstSentinelId;
  const spans = new Map<number, number[]>();
  let cur: number[] = [];
  for (const x of labels) {
    if (x === -100 || x === 1) break;
    if (isS(x)) spans.set(x, (cur = []));
    else cur.push(x);
  }
  const out: number[] = [];
  for (const x of inputs) {
    if (x === 1) break;
    out.push(...(isS(x) ? spans.get(x)! : [x]));
  }
  return out;
}

describe('pretraining stream', () => {
  it('span rows: inputs exactly inputLength, targets exactly targetsLength, each the corruption of one whole chunk', () => {
    const c = corpus(5);
    const s = new PretrainStream(c, [], { seed: 1, inputLength: INPUT, vocab: VOCAB, padId: 0 });
    const b = s.nextBatch(3);
    assert.deepEqual([b.B, b.Te, b.S, b.supervisedRows], [3, INPUT, TARGETS, 0]);
    assert.ok(b.encoderMask.every((m) => m === 1));
    for (let r = 0; r < 3; r++) {
      const inputs = b.inputIds.subarray(r * INPUT, (r + 1) * INPUT), labels = b.labels.subarray(r * TARGETS, (r + 1) * TARGETS);
      assert.equal(inputs[INPUT - 1], 1);
      assert.equal(labels[TARGETS - 1], 1);
      const k = chunkOf(inputs);
      assert.deepEqual(reassemble(inputs, labels), [...c.tokens.subarray(k * RAW, (k + 1) * RAW)]);
    }
  });

  it('every chunk once per epoch, a new order each epoch, the same under the same seed', () => {
    const order = (seed: number, n: number) => {
      const s = new PretrainStream(corpus(6), [], { seed, inputLength: INPUT, vocab: VOCAB, padId: 0 });
      return Array.from({ length: n }, () => chunkOf(s.nextExample().inputs));
    };
    const a = order(3, 18);
    for (let e = 0; e < 3; e++) assert.deepEqual([...a.slice(6 * e, 6 * e + 6)].sort(), [0, 1, 2, 3, 4, 5]);
    assert.notDeepEqual(a.slice(0, 6), a.slice(6, 12));
    assert.deepEqual(order(3, 18), a);
    assert.notDeepEqual(order(4, 18), a);
  });

  it('resuming from the state a checkpoint stored gives the same batches as running on', () => {
    const opts = { seed: 9, inputLength: INPUT, vocab: VOCAB, padId: 0, mixtureRate: 0.3 };
    const a = new PretrainStream(corpus(4), SUPERVISED, opts);
    for (let i = 0; i < 5; i++) a.nextBatch(3);
    const saved = JSON.parse(JSON.stringify(a.state)) as typeof a.state;
    const next = [a.nextBatch(3), a.nextBatch(3)];
    const b = new PretrainStream(corpus(4), SUPERVISED, opts);
    b.restore(saved);
    assert.deepEqual([b.nextBatch(3), b.nextBatch(3)], next);
    assert.deepEqual(b.fingerprint, a.fingerprint);
    assert.notDeepEqual(new PretrainStream(corpus(5), SUPERVISED, opts).fingerprint, a.fingerprint);
    expectError(() => b.restore({ span: 1, supervised: 1, drawn: 3 }), 'invalid_config', 'span + supervised = drawn');
  });

  it('mixture: the supervised share matches the rate; supervised rows are padded (mask 0, labels −100)', () => {
    const rate = 0.25, n = 4000;
    const s = new PretrainStream(corpus(3), SUPERVISED, { seed: 2, inputLength: INPUT, vocab: VOCAB, padId: 0, mixtureRate: rate });
    let sup = 0;
    for (let i = 0; i < n / 8; i++) sup += s.nextBatch(8).supervisedRows;
    assert.ok(Math.abs(sup / n - rate) < 5 * Math.sqrt((rate * (1 - rate)) / n), `supervised share ${sup / n}`);
    assert.equal(s.state.supervised, sup);
    // a batch holding a supervised row
    let b = s.nextBatch(4);
    while (b.supervisedRows === 0) b = s.nextBatch(4);
    for (let r = 0; r < 4; r++) {
      const inputs = b.inputIds.subarray(r * INPUT, (r + 1) * INPUT);
      if (inputs[0]! >= 1000) continue;
      const i = inputs[0]! - 500;
      assert.deepEqual([...inputs.subarray(0, 3)], [500 + i, 600 + i, 1]);
      assert.ok(inputs.subarray(3).every((x) => x === 0));
      assert.deepEqual([...b.encoderMask.subarray(r * INPUT, (r + 1) * INPUT)], [1, 1, 1, ...new Array(INPUT - 3).fill(0)]);
      assert.deepEqual([...b.labels.subarray(r * b.S, (r + 1) * b.S)], [700 + i, 1, ...new Array(b.S - 2).fill(-100)]);
    }
  });

  it('supervised inputs longer than inputLength keep their head and end in EOS', () => {
    const long: TokenizedExample[] = [{ inputs: Int32Array.from({ length: 60 }, (_, i) => 100 + i), targets: Int32Array.from([5, 1]) }];
    const s = new PretrainStream(corpus(2), long, { seed: 0, inputLength: INPUT, vocab: VOCAB, padId: 0, mixtureRate: 1 });
    const b = s.nextBatch(1);
    assert.deepEqual([...b.inputIds], [...Array.from({ length: INPUT - 1 }, (_, i) => 100 + i), 1]);
    assert.equal(b.S, 2);
  });

  it('bad options are refused', () => {
    const o = { seed: 0, inputLength: INPUT, vocab: VOCAB, padId: 0 };
    expectError(() => new PretrainStream(corpus(2), [], { ...o, inputLength: 50 }), 'invalid_config', 'chunks of 44');
    expectError(() => new PretrainStream(corpus(2), [], { ...o, mixtureRate: 0.5 }), 'invalid_config', 'no supervised');
    expectError(() => new PretrainStream(corpus(2), SUPERVISED, { ...o, mixtureRate: 1.5 }), 'invalid_config', 'mixtureRate');
    expectError(() => new PretrainStream(corpus(2), [], o).nextBatch(0), 'invalid_config', 'Batch size');
  });
});
