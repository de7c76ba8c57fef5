/**
 * Continuous batching of decoder-only models (src/models/gpt2-stepwise.ts, llama-stepwise.ts) against the unbatched path:
 * generate requests of DePT, prompt tuning, LoRA (every linear layer) and the base model,
 * prompts of different lengths, merged into shared steps, give the ids of GPT2Model.generate on each row alone,
 * the texts of predictAny one request at a time; rank requests (run exclusively) equal predictAny too. LLaMA (the
 * grouped-query fixture) the same on raw ids.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixture } from '../../test/paths.js';
import { buildRandomGpt2 } from '../../test/random-causal.js';
import { SoftpromptError } from '../errors.js';
import { loadTokenizerSync } from '../io/tokenizer.js';
import { withMethod, type PeftMethod } from '../methods/method.js';
import { getMethod } from '../methods/registry.js';
import { GPT2Model } from '../models/gpt2.js';
import { LlamaModel } from '../models/llama.js';
import { loadCausalModel } from '../models/registry.js';
import { encodeSources, inputLimit, predictAny, type Decoder } from '../predict/index.js';
import { Batcher, BASE_MODEL, type RowResult, type SubmitOptions } from './batcher.js';

const dir = buildRandomGpt2({ seed: 23, nLayer: 2 });
const model = loadCausalModel(dir) as GPT2Model;
const lm = { kind: 'causal' as const, model };
const tok = loadTokenizerSync(dir);
let seed = 5;
const rng = { nextFloat: () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 4294967296; }, normal: () => rng.nextFloat() * 2 - 1 };
const ctx = { dModel: model.info.dModel, vocabSize: model.info.vocabSize, embed: (ids: Int32Array) => model.embed(ids), rng, tokenize: (t: string) => tok.encode(t), model };
const moved = (m: PeftMethod, scale: number) => {
  for (const p of m.params()) p.data.forEach((_, i) => { p.data[i] += rng.normal() * scale; });
  return m;
};
const dept = moved(getMethod('dept').create({ promptLength: 4, rank: 3, maxLength: 40 }, ctx), 0.5);
const pt = moved(getMethod('pt').create({ promptLength: 6, init: 'SAMPLE_VOCAB', maxLength: 512 }, ctx), 0.3);
const lora = moved(getMethod('lora').create({ loraR: 4, targetModules: ['all-linear'], maxLength: 512 }, ctx), 0.3);
const adapters = new Map<string, PeftMethod>([['dept', dept], ['pt', pt], ['lora', lora]]);

const texts = ['a gorgeous, witty, seductive movie.', 'dull.', 'A wonderful film with a long and winding plot that goes nowhere at all.', 'fine'];
interface Req { adapter: string; texts: string[]; options: SubmitOptions }
const requests: Req[] = [
  { adapter: 'dept', texts, options: { mode: 'generate', maxNewTokens: 7 } },
  { adapter: 'pt', texts: texts.slice(1), options: { mode: 'generate', maxNewTokens: 12 } },
  { adapter: 'lora', texts, options: { mode: 'generate', maxNewTokens: 9 } },
  { adapter: 'lora', texts: texts.slice(2), options: { mode: 'rank', labels: ['positive', 'negative'] } },
  { adapter: BASE_MODEL, texts: texts.slice(0, 3), options: { mode: 'generate', raw: true, maxNewTokens: 10 } },
  { adapter: 'dept', texts: texts.slice(0, 2), options: { mode: 'generate', raw: true, maxNewTokens: 5 } },
];
const rowsOf = (r: Req) => (r.options.raw === true
  ? r.texts.map((t) => Int32Array.from(tok.encode(t)))
  : encodeSources('causal', tok, r.texts, inputLimit(adapters.get(r.adapter)!)).map((e) => e.source));

/** The row alone through GPT2Model.generate (KV cache, B = 1): ids up to and including EOS. */
function alone(m: PeftMethod | null, src: Int32Array, maxNewTokens: number): number[] {
  const x = m === null ? { inputsEmbeds: model.embed(src), mask: new Float32Array(src.length).fill(1), Te: src.length } : m.apply(model.embed(src), new Float32Array(src.length).fill(1), 1, src.length);
  const run = () => model.generate(x.inputsEmbeds, x.mask, 1, x.Te, { maxNewTokens, eosId: tok.eosId });
  const ids = Array.from((m === null ? run() : withMethod(model, m, run)).ids);
  const end = ids.indexOf(tok.eosId);
  return end < 0 ? ids : ids.slice(0, end + 1);
}

function runAll(tokenBudget: number): { results: RowResult[][]; maxLanes: number; streamed: number[][][] } {
  const b = new Batcher(lm, tok, adapters, { tokenBudget });
  const results: RowResult[][] = [];
  const streamed = requests.map((r) => r.texts.map((): number[] => []));
  requests.forEach((r, i) => b.add({
    adapter: r.adapter, rows: rowsOf(r), options: { ...r.options, onToken: (row, id) => streamed[i]![row]!.push(id) },
    settle: (o) => { if (!o.ok) throw o.error; results[i] = o.results; },
  }));
  for (const name of adapters.keys()) assert.ok(b.batches(name), `${name} shares steps`);
  let maxLanes = 0;
  while (b.step()) maxLanes = Math.max(maxLanes, b.last.lanes);
  assert.ok(b.idle);
  return { results, maxLanes, streamed };
}

test('GPT-2: mixed adapters and the base model in shared steps give each row\'s unbatched ids and predictions', () => {
  for (const budget of [4096, 40]) { // all at once; and a small budget admitting rows over several steps
    const { results, maxLanes, streamed } = runAll(budget);
    assert.ok(maxLanes >= (budget > 1000 ? 14 : 2), `${maxLanes} lanes shared a step (budget ${budget})`);
    requests.forEach((r, i) => {
      const m = r.adapter === BASE_MODEL ? null : adapters.get(r.adapter)!;
      const rows = rowsOf(r);
      if (r.options.raw !== true) {
        const examples = rows.map((source) => ({ source, target: new Int32Array(0) }));
        const direct = withMethod(model, m!, () => predictAny(lm, m!, tok, examples, r.options.labels ?? null, { batchSize: 16, maxNewTokens: r.options.maxNewTokens }));
        assert.deepEqual(results[i]!.map((x) => x.text), direct, `request ${i} (${r.adapter}, ${r.options.mode}), budget ${budget}`);
      }
      if (r.options.mode !== 'generate') return;
      rows.forEach((src, k) => {
        const want = alone(m, src, r.options.maxNewTokens!);
        assert.deepEqual(results[i]![k]!.ids, want, `request ${i} row ${k}, budget ${budget}`);
        assert.deepEqual(streamed[i]![k], want, 'onToken saw every id in order');
      });
    });
  }
});

test('GPT-2: a row whose prompt and maxNewTokens pass n_positions is refused when added, typed', () => {
  const b = new Batcher(lm, tok, adapters);
  const long = Int32Array.from({ length: 120 }, (_, i) => 100 + i);
  assert.throws(() => b.add({ adapter: 'pt', rows: [long], options: { mode: 'generate', raw: true, maxNewTokens: 10 }, settle: () => assert.fail('settled') }),
    (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_data' && /n_positions is only 128/.test(e.message));
});

test('LLaMA (grouped-query attention, RoPE): mixed adapters and the base model in shared steps give each row\'s unbatched ids', () => {
  const llama = loadCausalModel(fixture('llama-tiny')) as LlamaModel;
  const lmL = { kind: 'causal' as const, model: llama };
  assert.ok(llama.config.num_key_value_heads < llama.config.num_attention_heads, 'the fixture groups its query heads');
  // the fixture's 512 ids match no tokenizer: ids as text, and an EOS id that greedy decoding reaches
  const ids: Decoder = { decode: (x) => x.join(' '), encode: (t) => t.split(' ').map(Number), padId: 0, eosId: 17 };
  const c = { dModel: llama.info.dModel, vocabSize: llama.info.vocabSize, embed: (x: Int32Array) => llama.embed(x), rng, tokenize: (t: string) => ids.encode(t), model: llama };
  const m = new Map<string, PeftMethod>([
    ['dept', moved(getMethod('dept').create({ promptLength: 3, rank: 2, maxLength: 40 }, c), 0.5)],
    ['pt', moved(getMethod('pt').create({ promptLength: 5, init: 'SAMPLE_VOCAB', maxLength: 512 }, c), 0.3)],
    ['lora', moved(getMethod('lora').create({ loraR: 4, targetModules: ['all-linear'], maxLength: 512 }, c), 0.3)],
  ]);
  const prompts = [[5, 9, 200, 31, 7], [400], [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 11, 12], [77, 78]].map((p) => Int32Array.from(p));
  const reqs = [['dept', 8], ['pt', 6], ['lora', 9], [BASE_MODEL, 7]] as const;
  for (const budget of [4096, 12]) {
    const b = new Batcher(lmL, ids, m, { tokenBudget: budget });
    const results: RowResult[][] = [];
    reqs.forEach(([adapter, maxNewTokens], i) => b.add({ adapter, rows: prompts, options: { mode: 'generate', raw: true, maxNewTokens }, settle: (o) => { if (!o.ok) throw o.error; results[i] = o.results; } }));
    let maxLanes = 0;
    while (b.step()) maxLanes = Math.max(maxLanes, b.last.lanes);
    assert.ok(maxLanes >= (budget > 1000 ? 16 : 2), `${maxLanes} lanes shared a step`);
    reqs.forEach(([adapter, maxNewTokens], i) => prompts.forEach((src, k) => {
      const method = adapter === BASE_MODEL ? null : m.get(adapter)!;
      const x = method === null ? { inputsEmbeds: llama.embed(src), mask: new Float32Array(src.length).fill(1), Te: src.length } : method.apply(llama.embed(src), new Float32Array(src.length).fill(1), 1, src.length);
      const run = () => llama.generate(x.inputsEmbeds, x.mask, 1, x.Te, { maxNewTokens, eosId: ids.eosId });
      const want = Array.from((method === null ? run() : withMethod(llama, method, run)).ids);
      const end = want.indexOf(ids.eosId);
      assert.deepEqual(results[i]![k]!.ids, end < 0 ? want : want.slice(0, end + 1), `${adapter} row ${k}, budget ${budget}`);
    }));
  }
});
