/**
 * The whole app as `softprompt serve` runs it: the model on the WorkerEngine thread, this thread holding only the
 * tokenizer and its copies of the adapters. A random GPT-2 (real GPT-2 tokenizer) with DePT adapters: OpenAI
 * completions and chat through the worker equal naive greedy decoding (full forwards on this thread, no KV
 * cache); streamed tokens leave the server before the engine has answered; /health and /metrics answer while a
 * big request computes; adapters loaded and unloaded at run time are loaded and dropped on the worker.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { fixture, repoRoot } from '../../test/paths.js';
import { buildRandomGpt2 } from '../../test/random-causal.js';
import { loadTokenizerSync } from '../io/tokenizer.js';
import { withMethod, type PeftMethod } from '../methods/method.js';
import { getMethod, loadAdapter, saveAdapter } from '../methods/registry.js';
import { loadCausalModel } from '../models/registry.js';
import type { CausalLM } from '../models/types.js';
import { createApp } from './app.js';
import type { EngineSubmitOptions, RowResult, ServeEngine } from './engine.js';
import { shutdown } from './server.js';
import { WorkerEngine } from './worker-engine.js';

const MODEL = buildRandomGpt2({ seed: 11, nPositions: 512 });
const gpt2 = loadCausalModel(MODEL); // this thread's copy: the references only
const tok = loadTokenizerSync(MODEL);
const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-app-worker-'));
const TOKEN = 'admin-token-0123456789';
const C = gpt2.info.dModel, V = gpt2.info.vocabSize;

let seed = 7;
const rng = { nextFloat: () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 4294967296; }, normal: () => rng.nextFloat() * 2 - 1 };

/** A DePT adapter moved off its init (a prompt that changes the output), saved under the adapters root. */
function savedDept(name: string): string {
  const m = getMethod('dept').create({ promptLength: 3, rank: 2, maxLength: 64 },
    { dModel: C, vocabSize: V, embed: (ids: Int32Array) => gpt2.embed(ids), rng, tokenize: (t: string) => tok.encode(t) });
  for (const p of m.params()) p.data.forEach((_, i) => { p.data[i] = rng.normal() * 0.5; });
  const dir = path.join(ROOT, name);
  saveAdapter(dir, m, { baseModel: 'gpt2-random', tokenizer: null, modelInfo: { dModel: C, numLayers: gpt2.info.numLayers, numHeads: gpt2.info.numHeads, kind: 'causal' } });
  return dir;
}
const dirs = { sst2: savedDept('sst2'), rte: savedDept('rte'), mrpc: savedDept('mrpc') };
const methods = Object.fromEntries(Object.entries(dirs).map(([n, d]) => [n, loadAdapter(d)])) as Record<keyof typeof dirs, PeftMethod>;

function argmax(a: Float32Array, from: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (a[from + j]! > a[from + best]!) best = j;
  return best;
}

/** Greedy continuation by full forwards: [method(prompt embeddings) ; raw embeddings of the tokens so far]. */
function naive(model: CausalLM, method: PeftMethod | null, prompt: number[], k: number): string {
  const ids = Int32Array.from(prompt);
  const x = method === null ? { inputsEmbeds: model.embed(ids), Te: ids.length } : method.apply(model.embed(ids), new Float32Array(ids.length).fill(1), 1, ids.length);
  const out: number[] = [];
  const step = () => {
    const T = x.Te + out.length;
    const X = new Float32Array(T * C);
    X.set(x.inputsEmbeds);
    if (out.length > 0) X.set(model.embed(Int32Array.from(out)), x.Te * C);
    const r = model.forward({ B: 1, T, inputsEmbeds: X, attentionMask: new Float32Array(T).fill(1), labels: new Int32Array(T).fill(-100) }, { keepLogits: true });
    return argmax(r.logits!, (T - 1) * V, V);
  };
  const run = () => { while (out.length < k) { const t = step(); if (t === tok.eosId) break; out.push(t); } };
  if (method === null) run(); else withMethod(model, method, run);
  return tok.decode(out, { skipSpecialTokens: true });
}

/**
 * The worker engine, with a gate the streaming test closes: the engine's answer (which ends a response) is held
 * until the gate opens, so whatever the client receives before that was sent from the token events alone.
 */
class GatedEngine implements ServeEngine {
  gate: Promise<void> = Promise.resolve();
  constructor(readonly inner: WorkerEngine) {}
  get kind() { return this.inner.kind; }
  get info() { return this.inner.info; }
  async submit(adapter: string, rows: readonly Int32Array[], options: EngineSubmitOptions): Promise<RowResult[]> {
    const r = await this.inner.submit(adapter, rows, options);
    await this.gate;
    return r;
  }
  stats() { return this.inner.stats(); }
  addAdapter(name: string, source: PeftMethod | string) { return this.inner.addAdapter(name, source); }
  removeAdapter(name: string) { return this.inner.removeAdapter(name); }
  close() { return this.inner.close(); }
}

let worker: WorkerEngine;
let engine: GatedEngine;
let server: http.Server;
let url: string;
let client: OpenAI;
before(async () => {
  worker = await WorkerEngine.start({ model: MODEL, adapters: [['sst2', dirs.sst2]] });
  engine = new GatedEngine(worker);
  ({ server } = createApp({ engine, modelName: 'gpt2-random', tokenizer: tok, adapters: new Map([['sst2', methods.sst2]]),
    maxNewTokensCap: 512, maxAdapters: 2, admin: { token: TOKEN, root: ROOT } }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = new OpenAI({ apiKey: 'unused', baseURL: `${url}/v1`, maxRetries: 0 });
});
after(async () => {
  await shutdown(server, 1000);
  await worker.close();
  fs.rmSync(ROOT, { recursive: true, force: true });
});

const prompts = ['The movie was', 'A wonderful film about', 'It'];

describe('the app with the model on the worker thread', () => {
  test('completions (adapter and base model, several prompts) and chat equal naive greedy decoding on this thread', async () => {
    for (const [model, method] of [['sst2', methods.sst2], ['gpt2-random', null]] as const) {
      const r = await client.completions.create({ model, prompt: prompts, max_tokens: 9 });
      prompts.forEach((p, i) => assert.equal(r.choices[i]!.text, naive(gpt2, method, tok.encode(p), 9), `${model} ${p}`));
    }
    const chat = await client.chat.completions.create({ model: 'sst2', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 6 });
    const want = naive(gpt2, methods.sst2, tok.encode('User: Hello there\nAssistant:'), 6);
    const cut = want.indexOf('\nUser:');
    assert.equal(chat.choices[0]!.message.content, (cut < 0 ? want : want.slice(0, cut)).trimStart());
    const models: string[] = [];
    for await (const m of client.models.list()) models.push(m.id);
    assert.deepEqual(models, ['gpt2-random', 'sst2']);
  });

  test('stream: every token\'s chunk reaches the client before the engine has answered; the chunks join to the non-streamed text', async () => {
    for (const chat of [false, true]) {
      const whole = chat
        ? (await client.chat.completions.create({ model: 'sst2', messages: [{ role: 'user', content: 'Tell me' }], max_tokens: 12 })).choices[0]!.message.content!
        : (await client.completions.create({ model: 'sst2', prompt: prompts[0]!, max_tokens: 12 })).choices[0]!.text;
      let open!: () => void;
      engine.gate = new Promise<void>((resolve) => { open = resolve; });
      const stream = chat
        ? await client.chat.completions.create({ model: 'sst2', messages: [{ role: 'user', content: 'Tell me' }], max_tokens: 12, stream: true })
        : await client.completions.create({ model: 'sst2', prompt: prompts[0]!, max_tokens: 12, stream: true });
      const texts: string[] = [];
      let finish: string | null = null;
      let beforeAnswer = -1;
      let opened = false;
      const release = () => { opened = true; open(); };
      const timer = setTimeout(release, 20_000); // without streaming nothing arrives until then
      for await (const c of stream as AsyncIterable<OpenAI.Completion | OpenAI.ChatCompletionChunk>) {
        const ch = c.choices[0];
        if (ch === undefined) continue;
        const delta = 'text' in ch ? ch.text : (ch.delta.content ?? '');
        if (delta !== '') texts.push(delta);
        finish = ch.finish_reason ?? finish;
        if (!opened && texts.length >= 2) {
          beforeAnswer = texts.length;
          release();
        }
      }
      clearTimeout(timer);
      engine.gate = Promise.resolve();
      assert.equal(texts.join(''), whole, chat ? 'chat' : 'completion');
      assert.ok(beforeAnswer >= 2, `${beforeAnswer} text chunks arrived while the engine's answer was held`);
      assert.ok(texts.length >= 3, `one chunk per token, got ${texts.length}`);
      assert.ok(finish !== null);
    }
  });

  test('/health and /metrics answer while a big request computes on the worker, long before it finishes', async (t) => {
    const body = JSON.stringify({ model: 'sst2', prompt: Array.from({ length: 32 }, (_, i) => `review ${i}: a film that goes on and on`), max_tokens: 96 });
    const t0 = performance.now();
    let bigDone = 0;
    const big = fetch(`${url}/v1/completions`, { method: 'POST', body }).then(async (r) => { await r.arrayBuffer(); bigDone = performance.now(); return r.status; });
    const during: { ms: number; route: string }[] = [];
    const steps: number[] = [];
    let inFlight = 0;
    await new Promise((resolve) => setTimeout(resolve, 30));
    while (bigDone === 0 && during.length < 60) {
      const route = during.length % 2 === 0 ? '/health' : '/metrics';
      const h0 = performance.now();
      const r = await fetch(`${url}${route}`);
      const text = await r.text();
      if (bigDone !== 0) break;
      during.push({ ms: performance.now() - h0, route });
      if (route === '/health' && (JSON.parse(text) as { queue: number }).queue >= 1) inFlight++;
      if (route === '/metrics') {
        assert.match(text, /softprompt_queue_depth 1/);
        steps.push(Number(/softprompt_engine_steps (\d+)/.exec(text)![1]));
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(await big, 200);
    const bigMs = bigDone - t0;
    const ms = during.map((d) => d.ms).sort((a, b) => a - b);
    const median = ms[ms.length >> 1] ?? Infinity, worst = ms.at(-1) ?? Infinity;
    t.diagnostic(`${during.length} /health + /metrics answers during a ${bigMs.toFixed(0)} ms request: median ${median.toFixed(1)} ms, worst ${worst.toFixed(1)} ms`);
    assert.ok(during.length >= 4, `${during.length} answers while the big request ran (${bigMs.toFixed(0)} ms)`);
    assert.ok(inFlight >= 2, '/health saw the big request in flight');
    assert.ok(steps.at(-1)! > steps[0]!, `/metrics shows the engine stepping during the request: ${steps[0]} … ${steps.at(-1)}`);
    // relative, not absolute: a thread blocked by compute would make answers wait for most of the big request
    assert.ok(median < bigMs / 10 && worst < bigMs / 3, `median ${median.toFixed(1)} ms, worst ${worst.toFixed(1)} ms during a ${bigMs.toFixed(0)} ms request`);
  });

  test('adapter admin loads and drops adapters on the worker: LRU past --max-adapters, DELETE', async () => {
    const call = async (method: string, p: string, body?: unknown) => {
      const r = await fetch(`${url}${p}`, { method, headers: { authorization: `Bearer ${TOKEN}` }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      return { status: r.status, json: await r.json() as Record<string, unknown> };
    };
    const loaded = await call('POST', '/v1/adapters', { name: 'rte', path: 'rte' });
    assert.equal(loaded.status, 201);
    const r = await client.completions.create({ model: 'rte', prompt: prompts[1]!, max_tokens: 7 });
    assert.equal(r.choices[0]!.text, naive(gpt2, methods.rte, tok.encode(prompts[1]!), 7));
    assert.notEqual(r.choices[0]!.text, naive(gpt2, methods.sst2, tok.encode(prompts[1]!), 7), 'the loaded adapter, not the startup one');

    // --max-adapters 2 with sst2 pinned: loading mrpc evicts rte, here and on the worker
    const next = await call('POST', '/v1/adapters', { name: 'mrpc', path: 'mrpc' });
    assert.equal(next.status, 201);
    assert.deepEqual(next.json['evicted'], ['rte']);
    const gone = await client.completions.create({ model: 'rte', prompt: 'x', max_tokens: 2 }).catch((e: unknown) => e);
    assert.ok(gone instanceof OpenAI.NotFoundError);
    await assert.rejects(worker.submit('rte', [Int32Array.of(1, 2)], { mode: 'generate', raw: true, maxNewTokens: 2 }), /No adapter "rte"/);
    const m = await client.completions.create({ model: 'mrpc', prompt: prompts[0]!, max_tokens: 5 });
    assert.equal(m.choices[0]!.text, naive(gpt2, methods.mrpc, tok.encode(prompts[0]!), 5));

    assert.equal((await call('DELETE', '/v1/adapters/mrpc')).status, 200);
    await assert.rejects(worker.submit('mrpc', [Int32Array.of(1, 2)], { mode: 'generate', raw: true, maxNewTokens: 2 }), /No adapter "mrpc"/);
    assert.equal((await call('DELETE', '/v1/adapters/sst2')).status, 409, 'startup adapters are pinned');
  });
});

test('softprompt serve refuses at startup, typed, an adapter whose LoRA targets this model does not have (checked on the worker)', () => {
  const r = spawnSync(process.execPath, [path.join(repoRoot(), 'bin', 'softprompt.js'), 'serve', '--model', MODEL, '--adapter', `t5lora=${fixture('t5-tiny', 'lora-adapter')}`, '--port', '0'],
    { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 6, r.stderr);
  assert.match(r.stderr, /targets module "decoder\.block\.0\.layer\.0\.SelfAttention\.q", which this model does not have/);
});
