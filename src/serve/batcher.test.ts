/**
 * Continuous batching against the unbatched path: requests of three adapters (DePT, prompt tuning, LoRA), rank
 * and generate, inputs of different lengths, merged into shared steps, give the predictions of one request at
 * a time (predictAny), the generated ids of model.generate, and rank scores equal to the forward's summed NLL
 * within the reference's own float error (its absorbed and standard cross-attention forms differ by that much).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixture } from '../../test/paths.js';
import { loadTokenizerSync } from '../io/tokenizer.js';
import { withMethod, type PeftMethod } from '../methods/method.js';
import { getMethod, readAdapter } from '../methods/registry.js';
import { loadModel } from '../models/registry.js';
import { T5Model } from '../models/t5.js';
import { encodeSources, inputLimit, predictAny } from '../predict/index.js';
import { Batcher, type BatcherOptions, type RowResult, type SubmitOptions } from './batcher.js';

const model = loadModel(fixture('t5-tiny')) as T5Model;
const lm = { kind: 'seq2seq' as const, model };
const tok = loadTokenizerSync(fixture('tokenizers', 't5'));
let seed = 11;
const rng = { nextFloat: () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 4294967296; }, normal: () => rng.nextFloat() * 2 - 1 };
const ctx = { dModel: 64, vocabSize: model.info.vocabSize, embed: (ids: Int32Array) => model.embed(ids), rng, tokenize: (t: string) => tok.encode(t) };
const dept = getMethod('dept').create({ promptLength: 4, rank: 3, maxLength: 32 }, ctx);
const loraB = dept.params().find((p) => p.name === 'lora_embedding_B')!.data;
loraB.forEach((_, i) => { loraB[i] = rng.normal() * 0.1; });
const pt = getMethod('pt').create({ promptLength: 7, init: 'SAMPLE_VOCAB', maxLength: 512 }, ctx);
const lora = readAdapter(fixture('t5-tiny', 'lora-adapter')).method;
const adapters = new Map<string, PeftMethod>([['dept', dept], ['pt', pt], ['lora', lora]]);

const texts = ['sentence: a gorgeous, witty, seductive movie.', 'sentence: dull.', 'sentence: A wonderful film with a long and winding plot that goes nowhere at all.', 'sentence: fine'];
interface Req { adapter: string; texts: string[]; options: SubmitOptions }
const requests: Req[] = [
  { adapter: 'dept', texts, options: { mode: 'rank', labels: ['0', '1'] } },
  { adapter: 'pt', texts: texts.slice(1), options: { mode: 'generate', maxNewTokens: 6 } },
  { adapter: 'lora', texts, options: { mode: 'generate', maxNewTokens: 9 } },
  { adapter: 'lora', texts: texts.slice(2), options: { mode: 'rank', labels: ['positive', 'negative', 'no'] } },
  { adapter: 'dept', texts: texts.slice(0, 2), options: { mode: 'generate', maxNewTokens: 3 } },
  { adapter: 'pt', texts, options: { mode: 'rank', labels: ['great', 'terrible'] } },
];
const rowsOf = (r: Req) => encodeSources('seq2seq', tok, r.texts, inputLimit(adapters.get(r.adapter)!)).map((e) => e.source);

/** Σ NLL of `word` after row `src` with `m`, one forward per row (the unbatched reference), in either cross-attention form. */
function referenceNll(m: PeftMethod, src: Int32Array, word: string, form: 'absorbed' | 'standard'): number {
  const w = Int32Array.from(tok.encode(word, { addSpecialTokens: true }));
  const before = model.crossAttention;
  model.crossAttention = form;
  try {
    return withMethod(model, m, () => {
      const x = m.apply(model.embed(src), new Float32Array(src.length).fill(1), 1, src.length);
      const out = model.forward({ B: 1, Te: x.Te, inputsEmbeds: x.inputsEmbeds, encoderMask: x.mask, S: w.length, labels: w });
      return out.tokenNll.reduce((a, b) => a + b, 0);
    });
  } finally {
    model.crossAttention = before;
  }
}

function runAll(opts: BatcherOptions): { results: RowResult[][]; steps: number; maxLanes: number } {
  const b = new Batcher(lm, tok, adapters, opts);
  const results: RowResult[][] = [];
  requests.forEach((r, i) => b.add({
    adapter: r.adapter, rows: rowsOf(r), options: r.options,
    settle: (o) => { if (!o.ok) throw o.error; results[i] = o.results; },
  }));
  let steps = 0, maxLanes = 0;
  while (b.step()) { steps++; maxLanes = Math.max(maxLanes, b.last.lanes); }
  assert.ok(b.idle);
  return { results, steps, maxLanes };
}

test('mixed adapters and modes in shared steps give the unbatched predictions, ids and scores', () => {
  // all at once; a small budget admitting rows over several steps; few lanes at a time
  for (const opts of [{ tokenBudget: 4096 }, { tokenBudget: 40 }, { tokenBudget: 4096, maxLanes: 4 }]) {
    const budget = JSON.stringify(opts);
    const { results, maxLanes } = runAll(opts);
    if (opts.maxLanes === undefined) assert.ok(maxLanes > 10, `${maxLanes} lanes shared a step`);
    else assert.ok(maxLanes <= 4 + requests.length * 3, `${maxLanes} lanes (at most 4, and each request's first row)`);
    requests.forEach((r, i) => {
      const m = adapters.get(r.adapter)!;
      const examples = rowsOf(r).map((source) => ({ source, target: new Int32Array(0) }));
      const direct = withMethod(model, m, () => predictAny(lm, m, tok, examples, r.options.labels ?? null, { batchSize: 16, maxNewTokens: r.options.maxNewTokens }));
      assert.deepEqual(results[i]!.map((x) => x.text), direct, `request ${i} (${r.adapter}, ${r.options.mode}), budget ${budget}`);
      rowsOf(r).forEach((src, k) => {
        const got = results[i]![k]!;
        if (r.options.mode === 'generate') {
          const x = m.apply(model.embed(src), new Float32Array(src.length).fill(1), 1, src.length);
          const gen = withMethod(model, m, () => model.generate(x.inputsEmbeds, x.mask, 1, x.Te, { maxNewTokens: r.options.maxNewTokens! }));
          const ids = Array.from(gen.ids);
          const end = ids.indexOf(model.info.eosId);
          assert.deepEqual(got.ids, end < 0 ? ids : ids.slice(0, end + 1));
          return;
        }
        r.options.labels!.forEach((word, w) => {
          const a = referenceNll(m, src, word, 'absorbed'), s = referenceNll(m, src, word, 'standard');
          const tol = 4 * Math.abs(a - s) + 1e-6 * Math.abs(s);
          assert.ok(Math.abs(got.scores[w]! - s) <= tol, `request ${i} row ${k} "${word}": batched ${got.scores[w]} vs ${s} (reference forms differ by ${Math.abs(a - s)})`);
        });
      });
    });
  }
});

test('a short request joins a long one between steps and finishes first; a cancelled request leaves at the next step', () => {
  const b = new Batcher(lm, tok, adapters, { tokenBudget: 4096 });
  const long = Array.from({ length: 24 }, (_, i) => Int32Array.from(tok.encode(`review ${i}: it goes on and on`)));
  let longDone = -1, shortDone = -1, step = 0;
  b.add({ adapter: 'pt', rows: long, options: { mode: 'generate', maxNewTokens: 40 }, settle: () => { longDone = step; } });
  for (let i = 0; i < 5; i++) { b.step(); step++; }
  const addedAt = step;
  b.add({ adapter: 'lora', rows: [Int32Array.from(tok.encode('fine.'))], options: { mode: 'rank', labels: ['0', '1'] }, settle: () => { shortDone = step; } });
  const doomed = b.add({ adapter: 'dept', rows: long.slice(0, 4), options: { mode: 'generate', maxNewTokens: 40 }, settle: () => assert.fail('a cancelled request settles') });
  b.step(); step++;
  assert.equal(b.last.lanes, 24 + 2 + 4); // the long request's lanes, the rank row's two words, the doomed rows
  doomed.cancel();
  while (b.step()) {
    step++;
    assert.ok(b.last.lanes <= 26, `${b.last.lanes} lanes after the cancel`);
  }
  assert.ok(shortDone - addedAt <= 3, `the short request took ${shortDone - addedAt} steps`); // two-token words: 2 decoder steps
  assert.ok(longDone > shortDone, `long done at step ${longDone}, short at ${shortDone}`);
});

test('maxLanes: a big request runs at most that many lanes; a small one still joins at once and finishes first', () => {
  const b = new Batcher(lm, tok, adapters, { tokenBudget: 4096, maxLanes: 8 });
  const long = Array.from({ length: 24 }, (_, i) => Int32Array.from(tok.encode(`review ${i}: it goes on and on`)));
  let longDone = -1, shortDone = -1, step = 0;
  b.add({ adapter: 'pt', rows: long, options: { mode: 'generate', maxNewTokens: 30 }, settle: () => { longDone = step; } });
  for (let i = 0; i < 3; i++) {
    b.step(); step++;
    assert.ok(b.last.lanes <= 8, `${b.last.lanes} lanes`);
  }
  const addedAt = step;
  b.add({ adapter: 'lora', rows: [Int32Array.from(tok.encode('fine.'))], options: { mode: 'rank', labels: ['0', '1'] }, settle: () => { shortDone = step; } });
  while (b.step()) {
    step++;
    assert.ok(b.last.lanes <= 8 + 2, `${b.last.lanes} lanes`);
  }
  assert.ok(shortDone - addedAt <= 3, `the short request took ${shortDone - addedAt} steps`);
  assert.ok(longDone > shortDone + 20, `long done at step ${longDone}: its 24 rows ran 8 at a time`);
});
