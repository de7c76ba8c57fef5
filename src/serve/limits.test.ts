/**
 * Limits and timeouts of `softprompt serve`, over real HTTP on 127.0.0.1 (tiny T5 + a PEFT LoRA adapter):
 * oversized and deeply nested bodies, huge values in errors, per-request caps, the bounded queue (429), the
 * deadline (504), a busy port and SIGTERM through the CLI.
 */
import { startServe } from '../../test/serve-child.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import { join } from 'node:path';
import { fixture, repoRoot } from '../../test/paths.js';
import { loadTokenizerSync } from '../io/tokenizer.js';
import { readAdapter } from '../methods/registry.js';
import { loadModel } from '../models/registry.js';
import { jsonDepth } from './limits.js';
import { LocalEngine } from './engine.js';
import { createServer, parseRequest, predictRequest, type ServerOptions } from './server.js';

const model = loadModel(fixture('t5-tiny'));
const tok = loadTokenizerSync(fixture('tokenizers', 't5'));
const lora = readAdapter(fixture('t5-tiny', 'lora-adapter')).method;
const base: ServerOptions = { model: { kind: 'seq2seq', model }, modelName: 't5-tiny', tokenizer: tok, adapters: new Map([['lora', lora]]) };

async function listen(o: Partial<ServerOptions> = {}): Promise<{ server: http.Server; port: number }> {
  const server = createServer({ ...base, ...o });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { server, port: (server.address() as AddressInfo).port };
}
const close = (s: http.Server) => new Promise<void>((resolve) => s.close(() => resolve()));

interface Reply { status: number; headers: Record<string, string>; text: string; json: { error?: { code: string; message: string; path: string | null }; predictions?: string[] } }

/** Open `bodies.length` connections, then write every request in one go (the server sees them together). */
async function burst(port: number, bodies: readonly string[]): Promise<Reply[]> {
  return Promise.all(await burstEach(port, bodies, 30));
}

/** burst, one promise per reply */
async function burstEach(port: number, bodies: readonly string[], settleMs: number): Promise<Promise<Reply>[]> {
  const sockets = await Promise.all(bodies.map(() => new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  })));
  // let the server accept every connection first, so one poll of the event loop reads all the requests
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  const replies = sockets.map((s) => new Promise<Reply>((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('end', () => resolve(parseReply(Buffer.concat(chunks).toString('utf8'))));
  }));
  sockets.forEach((s, i) => s.write(`POST /v1/predict HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(bodies[i]!)}\r\n\r\n${bodies[i]!}`));
  return replies;
}

function parseReply(raw: string): Reply {
  const [head, text = ''] = raw.split('\r\n\r\n', 2) as [string, string?];
  const [statusLine, ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
  return { status: Number(statusLine!.split(' ')[1]), headers, text, json: JSON.parse(text) as Reply['json'] };
}

async function post(port: number, body: string): Promise<Reply> {
  const r = await fetch(`http://127.0.0.1:${port}/v1/predict`, { method: 'POST', body });
  const text = await r.text();
  return { status: r.status, headers: Object.fromEntries(r.headers), text, json: JSON.parse(text) as Reply['json'] };
}

/** A request that computes for a while: `n` inputs, `k` generated tokens each (t5-tiny generates all k). */
const slow = (n: number, k: number) => JSON.stringify({ adapter: 'lora', inputs: Array.from({ length: n }, (_, i) => `review number ${i}: a film`), maxNewTokens: k });

describe('serve limits (default settings)', () => {
  let server: http.Server;
  let port = 0;
  before(async () => ({ server, port } = await listen()));
  after(() => close(server));

  test('a 2 MB body gets the 413 JSON error (not a reset), and the server keeps serving', async () => {
    const r = await post(port, JSON.stringify({ adapter: 'lora', inputs: ['x'.repeat(2 << 20)] }));
    assert.equal(r.status, 413);
    assert.equal(r.json.error?.code, 'body_too_large');
    assert.match(r.json.error!.message, /1048576 bytes/);
    assert.equal((await post(port, JSON.stringify({ adapter: 'lora', inputs: ['a fine film.'], maxNewTokens: 2 }))).status, 200);
  });

  test('300k-deep JSON is a 400 malformed_request, not a stack overflow', async () => {
    const deep = '['.repeat(300_000) + ']'.repeat(300_000);
    const r = await post(port, deep);
    assert.equal(r.status, 400);
    assert.equal(r.json.error?.code, 'malformed_request');
    assert.match(r.json.error!.message, /deeper than 32/);
    const inside = await post(port, `{"adapter": "lora", "inputs": ${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`);
    assert.equal(inside.status, 400);
    assert.equal(inside.json.error?.code, 'malformed_request');
  });

  test('errors never echo a huge value: 100k numbers or a 100 KB string come back in a small error', async () => {
    const numbers = Array.from({ length: 100_000 }, (_, i) => i);
    const asInputs = await post(port, JSON.stringify({ adapter: 'lora', inputs: numbers }));
    assert.equal(asInputs.status, 400);
    assert.equal(asInputs.json.error?.code, 'too_many_inputs');
    assert.ok(asInputs.text.length < 2048, `${asInputs.text.length} bytes`);
    const asAdapter = await post(port, JSON.stringify({ adapter: numbers, inputs: ['x'] }));
    assert.equal(asAdapter.status, 400);
    assert.equal(asAdapter.json.error?.code, 'invalid_request');
    assert.equal(asAdapter.json.error?.path, 'adapter');
    assert.match(asAdapter.json.error!.message, /an array of 100000 items/);
    assert.ok(asAdapter.text.length < 2048, `${asAdapter.text.length} bytes`);
    for (const body of [{ adapter: 'lora', inputs: ['x'], mode: 'y'.repeat(100_000) }, { adapter: 'z'.repeat(100_000), inputs: ['x'] },
      { adapter: 'lora', inputs: ['x'], task: 't'.repeat(100_000) }, { adapter: 'lora', inputs: ['x'], ['k'.repeat(100_000)]: 1 }]) {
      const r = await post(port, JSON.stringify(body));
      assert.ok(r.status === 400 || r.status === 404, String(r.status));
      assert.ok(r.text.length < 2048, `${r.text.length} bytes for ${Object.keys(body).join(',')}`);
    }
  });

  test('validation errors have their own code: invalid_request naming the field (unknown field, unknown task, wrong type)', async () => {
    const unknownField = await post(port, JSON.stringify({ adapter: 'lora', inputs: ['x'], max_new_tokens: 4 }));
    assert.equal(unknownField.status, 400);
    assert.equal(unknownField.json.error?.code, 'invalid_request');
    assert.match(unknownField.json.error!.message, /"max_new_tokens"/);
    assert.equal(unknownField.json.error?.path, 'max_new_tokens');
    const task = await post(port, JSON.stringify({ adapter: 'lora', inputs: ['x'], task: 'nope' }));
    assert.deepEqual([task.status, task.json.error?.code, task.json.error?.path], [400, 'invalid_request', 'task']);
    const type = await post(port, JSON.stringify({ adapter: 'lora', inputs: ['x'], maxNewTokens: 2.5 }));
    assert.deepEqual([type.status, type.json.error?.code, type.json.error?.path], [400, 'invalid_request', 'maxNewTokens']);
    const array = await post(port, '[1, 2]');
    assert.deepEqual([array.status, array.json.error?.code], [400, 'invalid_request']);
  });
});

test('caps: too many inputs, too many tokens in an input, maxNewTokens past the cap → 400 naming the field and the limit', async () => {
  const { server, port } = await listen({ maxInputs: 4, maxInputTokens: 16, maxNewTokensCap: 8 });
  try {
    const many = await post(port, JSON.stringify({ adapter: 'lora', inputs: ['a', 'b', 'c', 'd', 'e'] }));
    assert.deepEqual([many.status, many.json.error?.code, many.json.error?.path], [400, 'too_many_inputs', 'inputs']);
    assert.match(many.json.error!.message, /At most 4 inputs .* got 5/);
    const long = 'a fine film with a long and winding plot that goes on and on, through twists, turns and detours';
    assert.ok(tok.encode(long).length > 16, 'the long input has more than 16 tokens');
    const tokens = await post(port, JSON.stringify({ adapter: 'lora', inputs: ['short', long] }));
    assert.deepEqual([tokens.status, tokens.json.error?.code, tokens.json.error?.path], [400, 'input_too_long', 'inputs.1']);
    assert.match(tokens.json.error!.message, new RegExp(`has ${tok.encode(long).length} tokens; at most 16`));
    const chars = await post(port, JSON.stringify({ adapter: 'lora', inputs: ['w'.repeat(100_000)] }));
    assert.deepEqual([chars.status, chars.json.error?.code], [400, 'input_too_long']);
    assert.match(chars.json.error!.message, /100000 characters/);
    const mnt = await post(port, JSON.stringify({ adapter: 'lora', inputs: ['short'], maxNewTokens: 9 }));
    assert.deepEqual([mnt.status, mnt.json.error?.code, mnt.json.error?.path], [400, 'max_new_tokens_too_large', 'maxNewTokens']);
    assert.match(mnt.json.error!.message, /at most 8 .* got 9/);
    const ok = await post(port, JSON.stringify({ adapter: 'lora', inputs: ['a', 'b', 'c', 'a fine film'], maxNewTokens: 8 }));
    assert.equal(ok.status, 200);
    assert.equal(ok.json.predictions?.length, 4);
  } finally {
    await close(server);
  }
});

test('queue bound: with --max-queue 1, of 5 requests arriving together 2 are computed and 3 get 429 with Retry-After', async () => {
  const { server, port } = await listen({ maxQueue: 1 });
  try {
    const replies = await burst(port, Array.from({ length: 5 }, () => slow(8, 16)));
    const ok = replies.filter((r) => r.status === 200);
    const full = replies.filter((r) => r.status === 429);
    assert.equal(ok.length, 2, replies.map((r) => r.status).join(','));
    assert.equal(full.length, 3);
    for (const r of ok) assert.equal(r.json.predictions?.length, 8);
    for (const r of full) {
      assert.equal(r.json.error?.code, 'queue_full');
      assert.ok(Number(r.headers['retry-after']) >= 1, `Retry-After ${r.headers['retry-after']}`);
    }
  } finally {
    await close(server);
  }
});

test('deadline: a request not done by --request-timeout-ms gets 504 and its remaining work is dropped; a short one beside it is answered', async () => {
  const engine = new LocalEngine(base.model!, tok, base.adapters);
  const longBody = slow(32, 48);
  const rows = parseRequest(base, JSON.parse(longBody)).examples.map((e) => e.source);
  const t0 = Date.now();
  await engine.submit('lora', rows, { mode: 'generate', maxNewTokens: 48 });
  const computeMs = Date.now() - t0;
  assert.ok(computeMs >= 40, `the long request computes for ${computeMs} ms`);
  const timeoutMs = Math.floor(computeMs / 4);
  const { server, port } = await listen({ requestTimeoutMs: timeoutMs, engine });
  try {
    const [long, short] = await Promise.all(await burstEach(port, [longBody, JSON.stringify({ adapter: 'lora', inputs: ['fine.'], maxNewTokens: 1 })], 30));
    assert.equal(long.status, 504);
    assert.equal(long.json.error?.code, 'deadline_exceeded');
    assert.match(long.json.error!.message, new RegExp(`past the ${timeoutMs} ms deadline`));
    assert.equal(short.status, 200);
    const steps = engine.stats().steps;
    await new Promise((resolve) => setTimeout(resolve, computeMs));
    assert.ok(engine.stats().steps - steps <= 1, `${engine.stats().steps - steps} steps ran after the deadline`);
    assert.equal(engine.stats().depth, 0);
  } finally {
    await close(server);
  }
});

test('/health and a small request answer while a long request computes (its steps interleave); the long one is unchanged', async () => {
  const { server, port } = await listen({ batchSize: 4 });
  try {
    const bigBody = slow(32, 24);
    const expected = predictRequest({ ...base, batchSize: 16 }, JSON.parse(bigBody)).predictions;
    const done: string[] = [];
    const big = post(port, bigBody).then((r) => { done.push('big'); return r; });
    await new Promise((resolve) => setTimeout(resolve, 30)); // the big request is computing
    const health = fetch(`http://127.0.0.1:${port}/health`).then(async (r) => { done.push('health'); return r.json() as Promise<{ queue: number }>; });
    const small = post(port, JSON.stringify({ adapter: 'lora', inputs: ['a fine film.'], maxNewTokens: 2 })).then((r) => { done.push('small'); return r; });
    const [b, h, s] = await Promise.all([big, health, small]);
    assert.equal(done[2], 'big', done.join(','));
    assert.ok(h.queue >= 1, `queue ${h.queue}`);
    assert.equal(s.status, 200);
    assert.deepEqual(b.json.predictions, expected);
  } finally {
    await close(server);
  }
});

test('a client that disconnects has the rest of its request dropped', async () => {
  const { server, port } = await listen({ batchSize: 2 });
  try {
    const body = slow(32, 24); // 16 batches of 2
    const t0 = Date.now();
    predictRequest({ ...base, batchSize: 2 }, JSON.parse(body));
    const fullMs = Date.now() - t0;
    const abort = new AbortController();
    const aborted = fetch(`http://127.0.0.1:${port}/v1/predict`, { method: 'POST', body, signal: abort.signal }).catch((e: Error) => e.name);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const t1 = Date.now();
    abort.abort();
    assert.equal(await aborted, 'AbortError');
    let queue = 1;
    while (queue > 0) queue = ((await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { queue: number }).queue;
    const leftMs = Date.now() - t1;
    // generous bound (timing on a shared machine): the skip itself is tested exactly with the fake queue above
    assert.ok(leftMs < 0.75 * fullMs, `the server was busy ${leftMs} ms after the disconnect; the whole request computes in ${fullMs} ms`);
  } finally {
    await close(server);
  }
});

test('jsonDepth counts nesting and ignores brackets inside strings', () => {
  assert.equal(jsonDepth('{"a": [1, {"b": "[[[{{{"}]}'), 3);
  assert.equal(jsonDepth('"\\"[["'), 0);
  assert.equal(jsonDepth('1'), 0);
});

describe('softprompt serve (CLI)', () => {
  const BIN = join(repoRoot(), 'bin', 'softprompt.js');
  const args = ['serve', '--model', fixture('t5-tiny'), '--tokenizer', fixture('tokenizers', 't5'), '--adapter', `lora=${fixture('t5-tiny', 'lora-adapter')}`];

  test('a busy port is a usage error naming the port (exit 2), not a crash', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const r = spawnSync(process.execPath, [BIN, ...args, '--port', String(port)], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`Port ${port} on 127\\.0\\.0\\.1 is already in use`));
      assert.doesNotMatch(r.stderr, /bug/);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  test('SIGTERM: the queued requests are finished, then the server exits 0', async () => {
    const { child, port, exited, stdout, stderr } = await startServe(args.slice(1));
    // three requests arrive together; SIGTERM goes out when the first answer is back (the second is computing,
    // the third waits in the queue): both must still be answered before the process exits
    const replies = await burstEach(port, [slow(16, 24), slow(16, 24), slow(16, 24)], 300);
    await Promise.race(replies);
    child.kill('SIGTERM');
    const statuses = (await Promise.all(replies)).map((r) => r.status);
    assert.deepEqual(statuses, [200, 200, 200]);
    assert.equal(await exited, 0, stderr());
    assert.match(stdout(), /SIGTERM, finishing queued requests/);
  });
});
