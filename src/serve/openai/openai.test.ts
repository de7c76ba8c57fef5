/**
 * The OpenAI-compatible routes through the official `openai` client against a running server on 127.0.0.1: a
 * random GPT-2 (real GPT-2 tokenizer) with a DePT adapter, and tiny T5 for text-to-text. Every completion is
 * checked against a naive greedy reference that re-runs the full forward (no KV cache) for each new token, with
 * the adapter applied to the prompt's embeddings only, as in generation.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { fixture } from '../../../test/paths.js';
import { buildRandomGpt2 } from '../../../test/random-causal.js';
import { loadTokenizerSync, type Tokenizer } from '../../io/tokenizer.js';
import { withMethod, type PeftMethod } from '../../methods/method.js';
import { getMethod } from '../../methods/registry.js';
import { loadCausalModel, loadModel } from '../../models/registry.js';
import type { CausalLM, Seq2SeqLM } from '../../models/types.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../app.js';
import { readChatTemplate } from './chat-template.js';
import { engineOf, shutdown } from '../server.js';

const dir = buildRandomGpt2({ seed: 11 });
const gpt2 = loadCausalModel(dir);
const tok = loadTokenizerSync(dir);
let seed = 5;
const rng = { nextFloat: () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 4294967296; }, normal: () => rng.nextFloat() * 2 - 1 };
const dept = getMethod('dept').create({ promptLength: 3, rank: 2, maxLength: 40 },
  { dModel: gpt2.info.dModel, vocabSize: gpt2.info.vocabSize, embed: (ids: Int32Array) => gpt2.embed(ids), rng, tokenize: (t: string) => tok.encode(t) });
for (const p of dept.params()) p.data.forEach((_, i) => { p.data[i] = rng.normal() * 0.5; }); // a prompt that moves the output
const C = gpt2.info.dModel, V = gpt2.info.vocabSize;

function argmax(a: Float32Array, from: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (a[from + j]! > a[from + best]!) best = j;
  return best;
}

/** Greedy continuation by full forwards: [method(prompt embeddings) ; raw embeddings of the tokens so far]. */
function naiveCausal(model: CausalLM, method: PeftMethod | null, prompt: number[], k: number): number[] {
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
  return out;
}

const text = (ids: number[], t: Tokenizer = tok) => t.decode(ids, { skipSpecialTokens: true });

let server: http.Server;
let client: OpenAI;
before(async () => {
  ({ server } = createApp({ model: { kind: 'causal', model: gpt2 }, modelName: 'gpt2-random', tokenizer: tok, adapters: new Map([['sst2', dept]]), maxNewTokensCap: 64 }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  client = new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, maxRetries: 0 });
});
after(() => shutdown(server, 1000));

describe('OpenAI-compatible routes (openai client, decoder-only model)', () => {
  const prompt = 'The movie was';

  test('models.list: the base model, then each adapter with the base as its parent', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.deepEqual(ids, ['gpt2-random', 'sst2']);
  });

  test('completions.create equals naive greedy decoding, with the adapter and without; usage counts tokens', async () => {
    const p = tok.encode(prompt);
    for (const [model, method] of [['sst2', dept], ['gpt2-random', null]] as const) {
      const r = await client.completions.create({ model, prompt, max_tokens: 8 });
      const want = naiveCausal(gpt2, method, p, 8);
      assert.equal(r.object, 'text_completion');
      assert.equal(r.model, model);
      assert.equal(r.choices.length, 1);
      assert.equal(r.choices[0]!.text, text(want), model);
      assert.equal(r.choices[0]!.finish_reason, want.length === 8 ? 'length' : 'stop');
      assert.deepEqual(r.usage, { prompt_tokens: p.length, completion_tokens: want.length + (want.length < 8 ? 1 : 0), total_tokens: p.length + want.length + (want.length < 8 ? 1 : 0) });
    }
    const a = await client.completions.create({ model: 'sst2', prompt, max_tokens: 8 });
    const b = await client.completions.create({ model: 'gpt2-random', prompt, max_tokens: 8 });
    assert.notEqual(a.choices[0]!.text, b.choices[0]!.text, 'the adapter changes the continuation');
  });

  test('several prompts in one request (right-padded batch) equal one prompt at a time', async () => {
    const prompts = ['A wonderful film about', 'It', 'The acting is dull and the plot'];
    const r = await client.completions.create({ model: 'sst2', prompt: prompts, max_tokens: 6 });
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2]);
    for (let i = 0; i < prompts.length; i++) {
      assert.equal(r.choices[i]!.text, text(naiveCausal(gpt2, dept, tok.encode(prompts[i]!), 6)));
    }
  });

  test('stop: the text ends before the first stop sequence, finish_reason "stop", fewer tokens counted', async () => {
    const full = await client.completions.create({ model: 'sst2', prompt, max_tokens: 12 });
    const whole = full.choices[0]!.text;
    const stop = whole.slice(1, 4);
    assert.ok(stop.length === 3 && whole.indexOf(stop) >= 1, `a stop string inside ${JSON.stringify(whole)}`);
    const r = await client.completions.create({ model: 'sst2', prompt, max_tokens: 12, stop: [stop, 'never appears'] });
    assert.equal(r.choices[0]!.text, whole.slice(0, whole.indexOf(stop)));
    assert.equal(r.choices[0]!.finish_reason, 'stop');
    assert.ok(r.usage!.completion_tokens < 12 && r.usage!.completion_tokens >= 1);
  });

  test('stream: chunks concatenate to the non-streamed text, end with finish_reason; usage when asked', async () => {
    const whole = (await client.completions.create({ model: 'sst2', prompt, max_tokens: 10 })).choices[0]!.text;
    const stream = await client.completions.create({ model: 'sst2', prompt, max_tokens: 10, stream: true, stream_options: { include_usage: true } });
    let got = '';
    const finishes: (string | null)[] = [];
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    for await (const c of stream) {
      chunks++;
      if (c.usage) usage = c.usage;
      for (const ch of c.choices) { got += ch.text; finishes.push(ch.finish_reason); }
    }
    assert.equal(got, whole);
    assert.ok(chunks >= 3, `one chunk per token, got ${chunks}`);
    assert.equal(finishes.at(-1), 'length');
    assert.ok(finishes.slice(0, -1).every((f) => f === null));
    assert.deepEqual(usage, { prompt_tokens: tok.encode(prompt).length, completion_tokens: 10, total_tokens: tok.encode(prompt).length + 10 });
  });

  test('chat.completions: the documented template, greedy reply, streamed the same', async () => {
    const messages = [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'Hello there' }];
    const r = await client.chat.completions.create({ model: 'sst2', messages, max_tokens: 7 });
    const templ = 'Be brief.\n\nUser: Hello there\nAssistant:';
    const want = text(naiveCausal(gpt2, dept, tok.encode(templ), 7));
    const cut = want.indexOf('\nUser:');
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices[0]!.message.role, 'assistant');
    assert.equal(r.choices[0]!.message.content, (cut < 0 ? want : want.slice(0, cut)).trimStart());
    assert.equal(r.usage!.prompt_tokens, tok.encode(templ).length);

    const stream = await client.chat.completions.create({ model: 'sst2', messages, max_tokens: 7, stream: true });
    let content = '';
    let role: string | undefined;
    let finish: string | null = null;
    for await (const c of stream) {
      const d = c.choices[0]!;
      role ??= d.delta.role;
      content += d.delta.content ?? '';
      finish = d.finish_reason;
    }
    assert.equal(role, 'assistant');
    assert.equal(content, r.choices[0]!.message.content);
    assert.equal(finish, r.choices[0]!.finish_reason);
  });

  test('errors arrive as the client\'s typed errors with OpenAI\'s shape: unknown model, sampling, n, too long', async () => {
    const unknown = await client.completions.create({ model: 'nope', prompt }).catch((e: unknown) => e);
    assert.ok(unknown instanceof OpenAI.NotFoundError);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.code, 'model_not_found');
    assert.equal(unknown.param, 'model');
    assert.equal(unknown.type, 'invalid_request_error');
    assert.match(unknown.message, /"gpt2-random", "sst2"/);

    const sampling = await client.completions.create({ model: 'sst2', prompt, temperature: 0.7 }).catch((e: unknown) => e);
    assert.ok(sampling instanceof OpenAI.BadRequestError);
    assert.equal(sampling.code, 'sampling_not_supported');
    assert.equal(sampling.param, 'temperature');
    const greedy = await client.completions.create({ model: 'sst2', prompt, temperature: 0, max_tokens: 3 });
    assert.equal(greedy.choices[0]!.text, text(naiveCausal(gpt2, dept, tok.encode(prompt), 3)));

    const n = await client.completions.create({ model: 'sst2', prompt, n: 2 }).catch((e: unknown) => e);
    assert.ok(n instanceof OpenAI.BadRequestError);
    assert.equal(n.param, 'n');

    const cap = await client.completions.create({ model: 'sst2', prompt, max_tokens: 65 }).catch((e: unknown) => e);
    assert.ok(cap instanceof OpenAI.BadRequestError);
    assert.equal(cap.code, 'max_new_tokens_too_large');

    // DePT's maxLength is 40: a longer prompt is refused, not truncated; the base model takes it
    const long = 'word '.repeat(45);
    const tooLong = await client.completions.create({ model: 'sst2', prompt: long, max_tokens: 2 }).catch((e: unknown) => e);
    assert.ok(tooLong instanceof OpenAI.BadRequestError);
    assert.equal(tooLong.code, 'context_length_exceeded');
    assert.equal((await client.completions.create({ model: 'gpt2-random', prompt: long, max_tokens: 2 })).choices.length, 1);
    // n_positions is 128: prompt + max_tokens past it is refused before compute
    const past = await client.completions.create({ model: 'gpt2-random', prompt: 'word '.repeat(100), max_tokens: 40 }).catch((e: unknown) => e);
    assert.ok(past instanceof OpenAI.BadRequestError);
    assert.match(past.message, /maximum context length is 128 tokens/);
  });
});

test('a full queue answers 429 with Retry-After in OpenAI\'s error shape; the admitted requests complete', async () => {
  const { server: s } = createApp({ model: { kind: 'causal', model: gpt2 }, modelName: 'gpt2-random', tokenizer: tok, adapters: new Map([['sst2', dept]]), maxQueue: 1 });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  try {
    const port = (s.address() as AddressInfo).port;
    const body = JSON.stringify({ model: 'gpt2-random', prompt: Array.from({ length: 8 }, (_, i) => `review ${i}: it was`), max_tokens: 20 });
    // open every connection first, then write all requests at once: the server reads them in one poll
    const sockets = await Promise.all(Array.from({ length: 4 }, () => new Promise<net.Socket>((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1', () => resolve(sock));
      sock.on('error', reject);
    })));
    await new Promise((r) => setTimeout(r, 30));
    const replies = sockets.map((sock) => new Promise<{ status: number; head: string; json: { error?: Record<string, unknown>; choices?: unknown[] } }>((resolve) => {
      let raw = '';
      sock.on('data', (c: Buffer) => { raw += c.toString(); });
      sock.on('end', () => {
        const [head, text] = raw.split('\r\n\r\n', 2) as [string, string];
        resolve({ status: Number(head.split(' ')[1]), head, json: JSON.parse(text) as { error?: Record<string, unknown> } });
      });
    }));
    for (const sock of sockets) sock.write(`POST /v1/completions HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    const got = await Promise.all(replies);
    assert.deepEqual(got.map((r) => r.status).sort(), [200, 200, 429, 429]);
    for (const r of got.filter((x) => x.status === 429)) {
      assert.deepEqual(Object.keys(r.json.error!).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(r.json.error!['code'], 'queue_full');
      assert.equal(r.json.error!['type'], 'rate_limit_error');
      assert.match(r.head, /\r\nretry-after: \d+\r\n/i);
    }
    for (const r of got.filter((x) => x.status === 200)) assert.equal(r.json.choices!.length, 8);
  } finally {
    await shutdown(s, 1000);
  }
});

test('chat with the tokenizer\'s own Jinja chat_template: rendered as transformers does, raise_exception is a 400', async () => {
  const template = "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    + "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}";
  const tdir = mkdtempSync(join(tmpdir(), 'sp-chat-'));
  writeFileSync(join(tdir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|endoftext|>', chat_template: [{ name: 'tool_use', template: 'x' }, { name: 'default', template }] }));
  assert.equal(readChatTemplate(tdir), template);
  const { server: s } = createApp({ model: { kind: 'causal', model: gpt2 }, modelName: 'gpt2-random', tokenizer: tok, adapters: new Map([['sst2', dept]]), chatTemplate: readChatTemplate(tdir) });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  try {
    const c = new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${(s.address() as AddressInfo).port}/v1`, maxRetries: 0 });
    const r = await c.chat.completions.create({ model: 'sst2', messages: [{ role: 'user', content: 'Hello there' }, { role: 'assistant', content: 'Hi.' }, { role: 'user', content: 'Go on' }], max_tokens: 6 });
    const rendered = '<|user|>\nHello there<|endoftext|>\n<|assistant|>\nHi.<|endoftext|>\n<|user|>\nGo on<|endoftext|>\n<|assistant|>\n';
    const ids = tok.encode(rendered, { addSpecialTokens: false });
    assert.equal(ids.filter((t) => t === tok.eosId).length, 3, 'the eos_token text is the special token');
    assert.equal(r.usage!.prompt_tokens, ids.length);
    assert.equal(r.choices[0]!.message.content, text(naiveCausal(gpt2, dept, ids, 6)));
    const refused = await c.chat.completions.create({ model: 'sst2', messages: [{ role: 'system', content: 'x' }, { role: 'user', content: 'y' }] }).catch((e: unknown) => e);
    assert.ok(refused instanceof OpenAI.BadRequestError);
    assert.equal(refused.code, 'chat_template_error');
    assert.match(refused.message, /System role not supported/);
  } finally {
    await shutdown(s, 1000);
  }
});

test('T5: /v1/completions is text-to-text (greedy decoder output), chat is refused', async () => {
  const t5 = loadModel(fixture('t5-tiny'));
  const t5tok = loadTokenizerSync(fixture('tokenizers', 't5'));
  const { server: s } = createApp({ model: { kind: 'seq2seq', model: t5 }, modelName: 't5-tiny', tokenizer: t5tok, adapters: new Map() });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  try {
    const c = new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${(s.address() as AddressInfo).port}/v1`, maxRetries: 0 });
    const source = 'translate English to German: The house is wonderful.';
    const r = await c.completions.create({ model: 't5-tiny', prompt: source, max_tokens: 5 });
    assert.equal(r.choices[0]!.text, text(naiveSeq2Seq(t5, t5tok.encode(source), 5, t5tok.eosId), t5tok));
    const chat = await c.chat.completions.create({ model: 't5-tiny', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    assert.ok(chat instanceof OpenAI.BadRequestError);
    assert.equal(chat.code, 'unsupported_model');
  } finally {
    await shutdown(s, 1000);
  }
});

test('T5 with a DePT adapter: /v1/completions computes through the serving engine (batched steps), equal to naive greedy decoding', async () => {
  const t5 = loadModel(fixture('t5-tiny'));
  const t5tok = loadTokenizerSync(fixture('tokenizers', 't5'));
  const t5dept = getMethod('dept').create({ promptLength: 3, rank: 2, maxLength: 40 },
    { dModel: t5.info.dModel, vocabSize: t5.info.vocabSize, embed: (ids: Int32Array) => t5.embed(ids), rng, tokenize: (t: string) => t5tok.encode(t) });
  for (const p of t5dept.params()) p.data.forEach((_, i) => { p.data[i] = rng.normal() * 0.5; });
  const { server: s } = createApp({ model: { kind: 'seq2seq', model: t5 }, modelName: 't5-tiny', tokenizer: t5tok, adapters: new Map([['d', t5dept]]) });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  try {
    const c = new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${(s.address() as AddressInfo).port}/v1`, maxRetries: 0 });
    const sources = ['translate English to German: The house is wonderful.', 'sentence: a gorgeous film.'];
    const stepsBefore = engineOf(s)!.stats().steps;
    const [one, many] = await Promise.all([
      c.completions.create({ model: 'd', prompt: sources[0]!, max_tokens: 6 }),
      c.completions.create({ model: 'd', prompt: sources, max_tokens: 4 }),
    ]);
    assert.ok(engineOf(s)!.stats().steps > stepsBefore, 'the engine stepped');
    assert.equal(one.choices[0]!.text, text(naiveSeq2Seq(t5, t5tok.encode(sources[0]!), 6, t5tok.eosId, t5dept), t5tok));
    sources.forEach((src, i) => assert.equal(many.choices[i]!.text, text(naiveSeq2Seq(t5, t5tok.encode(src), 4, t5tok.eosId, t5dept), t5tok)));
    assert.equal(many.usage!.prompt_tokens, sources.reduce((n, x) => n + t5tok.encode(x).length, 0));
  } finally {
    await shutdown(s, 1000);
  }
});

/** Greedy decoding by full forwards: labels = the tokens so far + one slot, whose logits give the next token. */
function naiveSeq2Seq(model: Seq2SeqLM, source: number[], k: number, eos: number, method: PeftMethod | null = null): number[] {
  const ids = Int32Array.from(source);
  const x = method === null ? { inputsEmbeds: model.embed(ids), mask: new Float32Array(ids.length).fill(1), Te: ids.length }
    : method.apply(model.embed(ids), new Float32Array(ids.length).fill(1), 1, ids.length);
  const Te = x.Te, Vt = model.info.vocabSize;
  const out: number[] = [];
  while (out.length < k) {
    const labels = Int32Array.from([...out, 0]);
    const fwd = () => model.forward({ B: 1, Te, inputsEmbeds: x.inputsEmbeds, encoderMask: x.mask, S: labels.length, labels }, { keepLogits: true });
    const r = method === null ? fwd() : withMethod(model, method, fwd);
    const t = argmax(r.logits!, out.length * Vt, Vt);
    if (t === eos) break;
    out.push(t);
  }
  return out;
}
