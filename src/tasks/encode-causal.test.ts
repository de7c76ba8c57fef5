/** Causal (decoder-only) encoding with the committed real GPT-2 and LLaMA-2 tokenizers: ids, -100 layout, truncation, right padding. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture } from '../../test/paths.js';
import { loadTokenizerSync } from '../io/tokenizer.js';
import { collateCausal, encodeCausalExample, encodeCausalSource, prefixLabels } from './encode-causal.js';

const gpt2 = loadTokenizerSync(fixture('tokenizers', 'gpt2'));
const llama = loadTokenizerSync(fixture('tokenizers', 'llama2'));
const EOT = 50256; // GPT-2 <|endoftext|>: its eos, and its pad (it has no pad token)

test('GPT-2: source = ids of `${source} Label : ` (no special tokens), target = target ids + <|endoftext|>', () => {
  assert.deepEqual(gpt2.encode('Hello world'), [15496, 995]);
  assert.equal(gpt2.eosId, EOT);
  assert.equal(gpt2.padId, EOT);
  const ex = encodeCausalExample(gpt2, { source: 'Hello world', target: '1' }, 32);
  assert.deepEqual([...ex.source], [15496, 995, 36052, 1058, 220]); // "Hello", " world", " Label", " :", " "
  assert.deepEqual([...ex.target], [16, EOT]); // "1", eos
  assert.deepEqual([...encodeCausalSource(gpt2, 'Hello world', 32)], [15496, 995, 36052, 1058, 220]);
});

test('LLaMA: the tokenizer prepends <s>; the target gets </s> and no <s>', () => {
  const ex = encodeCausalExample(llama, { source: 'Hello world', target: 'positive' }, 32);
  assert.deepEqual([...ex.source], [1, 15043, 3186, 15796, 584, 29871]);
  assert.deepEqual([...ex.target], [6374, 2]);
});

test('truncation drops the source tail first, then the target tail; the pair always fits max_length', () => {
  const long = 'Hello world '.repeat(20).trim(); // 40 tokens + " Label : " (3)
  const ex = encodeCausalExample(gpt2, { source: long, target: '1' }, 10);
  assert.equal(ex.source.length + ex.target.length, 10);
  assert.deepEqual([...ex.source], [15496, 995, 18435, 995, 18435, 995, 18435, 995]); // the start is kept ("Hello", " world", " Hello", …)
  assert.deepEqual([...ex.target], [16, EOT]);
  // a target longer than max_length: one source token survives, the target loses its tail (its EOS too)
  const t = encodeCausalExample(gpt2, { source: 'Hello world', target: 'Hello world Hello world Hello world' }, 4);
  assert.deepEqual([...t.source], [15496]);
  assert.deepEqual([...t.target], [15496, 995, 18435]);
  assert.deepEqual([...encodeCausalSource(gpt2, long, 6)], [15496, 995, 18435, 995, 18435, 995]);
});

test('collation right-pads with the pad id; labels are -100 on source and padding, target ids on the target', () => {
  const a = encodeCausalExample(gpt2, { source: 'Hello world', target: '1' }, 32); // 5 + 2
  const b = encodeCausalExample(gpt2, { source: 'Hello', target: '0' }, 32); // "Hello", " Label", " :", " " + 2
  const batch = collateCausal([a, b], [1, 0], { padId: gpt2.padId });
  assert.deepEqual([batch.B, batch.T, batch.tokens], [2, 7, 13]);
  assert.deepEqual([...batch.ids], [
    15496, 36052, 1058, 220, 15, EOT, EOT,
    15496, 995, 36052, 1058, 220, 16, EOT,
  ]);
  assert.deepEqual([...batch.mask], [1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual([...batch.labels], [
    -100, -100, -100, -100, 15, EOT, -100,
    -100, -100, -100, -100, -100, 16, EOT,
  ]);
  const padded = collateCausal([a], [0], { padId: gpt2.padId, padTo: 9 });
  assert.deepEqual([...padded.mask], [1, 1, 1, 1, 1, 1, 1, 0, 0]);
  assert.deepEqual([...padded.labels].slice(5), [16, EOT, -100, -100]);
  assert.throws(() => collateCausal([a], [0], { padId: 0, padTo: 6 }), /does not fit/);
  // the l virtual tokens get -100 labels in front of every row
  assert.deepEqual([...prefixLabels(Int32Array.from([7, 8, 9, 10]), 2, 2, 2)], [-100, -100, 7, 8, -100, -100, 9, 10]);
});
