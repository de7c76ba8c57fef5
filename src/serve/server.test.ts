/**
 * The HTTP server against the library: one tiny T5, two adapters; predictions over HTTP equal direct calls,
 * batched requests equal one-input requests, and bad requests get JSON errors naming the field.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import { fixture } from '../../test/paths.js';
import { loadTokenizerSync } from '../io/tokenizer.js';
import type { PeftMethod } from '../methods/method.js';
import { getMethod, readAdapter } from '../methods/registry.js';
import { withMethod } from '../methods/method.js';
import { loadCausalModel, loadModel } from '../models/registry.js';
import { buildRandomGpt2 } from '../../test/random-causal.js';
import { encodeCausalSource } from '../tasks/encode-causal.js';
import { encodeTruncated } from '../tasks/encode.js';
import { inputLimit, predictAny, predictGenerate, predictRank } from '../predict/index.js';
import { createServer } from './server.js';

const model = loadModel(fixture('t5-tiny'));
const tok = loadTokenizerSync(fixture('tokenizers', 't5'));
let seed = 7;
const rng = { nextFloat: () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 4294967296; }, normal: () => rng.nextFloat() * 2 - 1 };
const ctx = { dModel: 64, vocabSize: model.info.vocabSize, embed: (ids: Int32Array) => model.embed(ids), rng, tokenize: (t: string) => tok.encode(t) };
const dept = getMethod('dept').create({ promptLength: 4, rank: 3, maxLength: 32 }, ctx);
const loraB = dept.params().find((p) => p.name === 'lora_embedding_B')!.data;
loraB.forEach((_, i) => { loraB[i] = rng.normal() * 0.1; });
const pt = getMethod('pt').create({ promptLength: 5, init: 'SAMPLE_VOCAB', maxLength: 512 }, ctx);
// a PEFT-trained LoRA adapter (scripts/make-weight-goldens.py): side paths attached per request, never merged
const lora = readAdapter(fixture('t5-tiny', 'lora-adapter')).method;
const adapters = new Map<string, PeftMethod>([['sst2', dept], ['pt', pt], ['lora', lora]]);

let server: http.Server;
let base = '';
before(async () => {
  server = createServer({ model: { kind: 'seq2seq', model }, modelName: 't5-tiny', tokenizer: tok, adapters });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function post(body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${base}/v1/predict`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: r.status, json: await r.json() as Record<string, unknown> };
}

const texts = ['a gorgeous, witty, seductive movie.', 'this movie is dull.', 'A wonderful film.'];
const direct = (m: PeftMethod, mode: 'rank' | 'generate') => {
  const ex = texts.map((t) => ({ source: encodeTruncated(tok, `sentence: ${t}`, inputLimit(m)), target: new Int32Array(0) }));
  return withMethod(model, m, () => (mode === 'rank' ? predictRank(model, m, tok, ex, ['0', '1'], { batchSize: 16 }) : predictGenerate(model, m, tok, ex, { batchSize: 16, maxNewTokens: 4 })));
};

describe('softprompt serve', () => {
  test('health and adapter list', async () => {
    const h = await (await fetch(`${base}/health`)).json() as Record<string, unknown>;
    assert.deepEqual(h, { status: 'ok', model: 't5-tiny', adapters: 3, queue: 0 });
    const a = await (await fetch(`${base}/v1/adapters`)).json() as { adapters: Record<string, unknown>[] };
    assert.deepEqual(a.adapters.map((x) => [x['name'], x['type'], x['numVirtualTokens']]), [['sst2', 'dept', 4], ['pt', 'prompt_tuning', 5], ['lora', 'lora', 0]]);
    assert.equal(a.adapters[0]!['rank'], 3);
  });

  test('predictions equal direct library calls, per adapter and mode; batched equals one at a time', async () => {
    for (const [name, m] of adapters) {
      const rank = await post({ adapter: name, task: 'sst2', mode: 'rank', inputs: texts });
      assert.equal(rank.status, 200);
      assert.deepEqual(rank.json['predictions'], direct(m, 'rank'));
      const gen = await post({ adapter: name, task: 'sst2', inputs: texts, maxNewTokens: 4 });
      assert.deepEqual(gen.json['predictions'], direct(m, 'generate'));
      for (let i = 0; i < texts.length; i++) {
        const one = await post({ adapter: name, task: 'sst2', mode: 'rank', inputs: texts[i] });
        assert.deepEqual(one.json['predictions'], [(rank.json['predictions'] as string[])[i]]);
      }
    }
  });

  test('a LoRA request leaves the shared frozen model as it was (side paths attached per request, never merged)', async () => {
    const ids = Int32Array.from([37, 1782, 19, 248, 5, 1]);
    const logits = () => model.forward({ B: 1, Te: 6, inputsEmbeds: model.embed(ids), encoderMask: new Float32Array(6).fill(1), S: 2, labels: Int32Array.from([209, 1]) }, { keepLogits: true }).logits!;
    const plain = logits();
    const withLora = withMethod(model, lora, logits);
    assert.notDeepEqual(withLora, plain, 'the adapter changes the logits');
    const r = await post({ adapter: 'lora', task: 'sst2', inputs: texts, maxNewTokens: 4 });
    assert.equal(r.status, 200);
    assert.deepEqual(logits(), plain);
  });

  test('errors are JSON naming the field: bad JSON, missing inputs, unknown adapter, rank without labels, unknown route', async () => {
    const bad = await post('{"adapter": ');
    assert.equal(bad.status, 400);
    assert.match(String((bad.json['error'] as Record<string, unknown>)['message']), /not valid JSON/);
    const missing = await post({ adapter: 'sst2' });
    assert.equal(missing.status, 400);
    assert.equal((missing.json['error'] as Record<string, unknown>)['path'], 'inputs');
    assert.equal((missing.json['error'] as Record<string, unknown>)['code'], 'invalid_request');
    const unknown = await post({ adapter: 'nope', inputs: ['x'] });
    assert.equal(unknown.status, 404);
    assert.match(String((unknown.json['error'] as Record<string, unknown>)['message']), /"sst2", "pt"/);
    const noLabels = await post({ adapter: 'pt', mode: 'rank', inputs: ['x'] });
    assert.equal(noLabels.status, 400);
    assert.equal((noLabels.json['error'] as Record<string, unknown>)['path'], 'labels');
    const route = await fetch(`${base}/v2/whatever`);
    assert.equal(route.status, 404);
  });
});

test('a decoder-only model (random GPT-2, real GPT-2 tokenizer) serves DePT adapters in its causal format', async () => {
  const dir = buildRandomGpt2({ seed: 3 });
  const gpt2 = loadCausalModel(dir);
  const gtok = loadTokenizerSync(dir);
  const gctx = { dModel: gpt2.info.dModel, vocabSize: gpt2.info.vocabSize, embed: (ids: Int32Array) => gpt2.embed(ids), rng, tokenize: (t: string) => gtok.encode(t) };
  const adapter = getMethod('dept').create({ promptLength: 3, rank: 2, maxLength: 40 }, gctx);
  const srv = createServer({ model: { kind: 'causal', model: gpt2 }, modelName: 'gpt2-random', tokenizer: gtok, adapters: new Map([['sst2', adapter]]) });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  try {
    const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/v1/predict`;
    const r = await fetch(url, { method: 'POST', body: JSON.stringify({ adapter: 'sst2', task: 'sst2', mode: 'rank', inputs: texts }) });
    const got = (await r.json() as { predictions: string[] }).predictions;
    const ex = texts.map((t) => ({ source: encodeCausalSource(gtok, `sentence: ${t}`, 40), target: new Int32Array(0) }));
    assert.deepEqual(got, predictAny({ kind: 'causal', model: gpt2 }, adapter, gtok, ex, ['0', '1'], { batchSize: 16, maxNewTokens: 20, maxLength: 40 }));
    assert.ok(got.every((p) => p === '0' || p === '1'));
  } finally {
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
});
