/**
 * The engine on a worker thread: the addon loads there, answers for mixed adapters equal the unbatched path on
 * this thread, typed errors cross the boundary, and the HTTP server's /health answers in milliseconds while a
 * large request computes (the event loop never waits for the model).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fixture } from '../../test/paths.js';
import { SoftpromptError } from '../errors.js';
import { loadTokenizerSync } from '../io/tokenizer.js';
import type { PeftMethod } from '../methods/method.js';
import { getMethod, loadAdapter, saveAdapter } from '../methods/registry.js';
import { loadAnyModel } from '../models/registry.js';
import { createServer, parseRequest, predictRequest, shutdown, type ServerOptions } from './server.js';
import { WorkerEngine } from './worker-engine.js';

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-worker-engine-'));
const MODEL = fixture('t5-tiny');
const TOKENIZER = fixture('tokenizers', 't5');
const lm = loadAnyModel(MODEL);
const tok = loadTokenizerSync(TOKENIZER);

let seed = 3;
const rng = { nextFloat: () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 4294967296; }, normal: () => rng.nextFloat() * 2 - 1 };

/** A registry method with its tensors moved off init (a "trained" adapter), saved and read back. */
function saved(name: string, settings: { maxLength: number } & Record<string, unknown>): string {
  const info = lm.model.info;
  const m = getMethod(name).create(settings, { dModel: info.dModel, vocabSize: info.vocabSize, embed: (ids) => lm.model.embed(ids), tokenize: (t) => tok.encode(t), rng });
  for (const p of m.params()) for (let i = 0; i < p.data.length; i++) p.data[i] += 0.1 * rng.normal();
  const dir = path.join(ROOT, name);
  saveAdapter(dir, m, { baseModel: 'tiny', tokenizer: null, modelInfo: { dModel: info.dModel, numLayers: info.numLayers, numHeads: info.numHeads, kind: info.kind } });
  return dir;
}

const dirs: [string, string][] = [
  ['dept', saved('dept', { promptLength: 4, rank: 3, maxLength: 48 })],
  ['pt', saved('pt', { promptLength: 6, init: 'SAMPLE_VOCAB', maxLength: 512 })],
  ['lora', fixture('t5-tiny', 'lora-adapter')],
];
const adapters = new Map<string, PeftMethod>(dirs.map(([n, d]) => [n, loadAdapter(d)]));
const local: ServerOptions = { model: lm, modelName: 't5-tiny', tokenizer: tok, adapters };

let engine: WorkerEngine;
before(async () => { engine = await WorkerEngine.start({ model: MODEL, tokenizer: TOKENIZER, adapters: dirs }); });
after(async () => {
  await engine.close();
  fs.rmSync(ROOT, { recursive: true, force: true });
});

const texts = ['a gorgeous, witty, seductive movie.', 'this movie is dull.', 'A wonderful film, long and winding and going nowhere.'];

describe('WorkerEngine', () => {
  test('concurrent requests of three adapters on the worker equal the unbatched path on this thread', async () => {
    const bodies = [
      { adapter: 'dept', task: 'sst2', mode: 'rank', inputs: texts },
      { adapter: 'pt', task: 'sst2', inputs: texts, maxNewTokens: 5 },
      { adapter: 'lora', task: 'sst2', inputs: texts.slice(1), maxNewTokens: 7 },
      { adapter: 'lora', task: 'sst2', mode: 'rank', inputs: texts },
      { adapter: 'pt', mode: 'rank', labels: ['great', 'bad', 'fine'], inputs: texts },
    ];
    const got = await Promise.all(bodies.map((b) => {
      const p = parseRequest({ ...local, engine }, b);
      return engine.submit(p.adapter, p.examples.map((e) => e.source), p.labels === null ? { mode: 'generate', maxNewTokens: p.maxNewTokens } : { mode: 'rank', labels: p.labels });
    }));
    bodies.forEach((b, i) => assert.deepEqual(got[i]!.map((r) => r.text), predictRequest(local, b).predictions, JSON.stringify(b)));
  });

  test('streaming: onToken sees every generated token of every row, in order, before the answer', async () => {
    const p = parseRequest({ ...local, engine }, { adapter: 'pt', inputs: texts, maxNewTokens: 6 });
    const seen: number[][] = texts.map(() => []);
    const rows = await engine.submit('pt', p.examples.map((e) => e.source), { mode: 'generate', maxNewTokens: 6, onToken: (row, id) => seen[row]!.push(id) });
    assert.deepEqual(seen, rows.map((r) => r.ids));
    assert.ok(seen.every((ids) => ids.length > 0));
  });

  test('typed errors cross the thread boundary: an unknown adapter, a model folder that is not one', async () => {
    await assert.rejects(engine.submit('nope', [Int32Array.of(5, 1)], { mode: 'generate' }), (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_config' && /nope/.test(e.message));
    await assert.rejects(WorkerEngine.start({ model: ROOT, adapters: [] }), (e: unknown) => e instanceof SoftpromptError && e.message.includes(ROOT));
  });

  test('/health answers in milliseconds while a large request computes on the worker', async (t) => {
    const server: http.Server = createServer({ ...local, engine, maxNewTokensCap: 512 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const big = JSON.stringify({ adapter: 'pt', inputs: Array.from({ length: 32 }, (_, i) => `review ${i}: a film that goes on and on`), maxNewTokens: 64 });
      const t0 = Date.now();
      let bigDone = 0;
      const bigReply = fetch(`${base}/v1/predict`, { method: 'POST', body: big }).then(async (r) => { bigDone = Date.now(); return r.status; });
      const latencies: number[] = [];
      let queued = 0;
      await new Promise((resolve) => setTimeout(resolve, 50));
      while (bigDone === 0 && latencies.length < 50) {
        const h0 = performance.now();
        const h = await (await fetch(`${base}/health`)).json() as { queue: number };
        if (bigDone === 0) {
          latencies.push(performance.now() - h0);
          queued = Math.max(queued, h.queue);
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(await bigReply, 200);
      const bigMs = bigDone - t0;
      const worst = Math.max(...latencies);
      t.diagnostic(`${latencies.length} /health checks during a ${bigMs} ms request: worst ${worst.toFixed(1)} ms, median ${latencies.sort((a, b) => a - b)[latencies.length >> 1]!.toFixed(1)} ms`);
      assert.equal(queued, 1, 'the big request was in flight while /health answered');
      assert.ok(latencies.length >= 3, `${latencies.length} health checks while the big request ran (${bigMs} ms)`);
      // behavioural, generous: a blocked event loop would make one check wait for most of the big request
      assert.ok(worst < Math.max(100, bigMs / 5), `worst /health latency ${worst.toFixed(1)} ms during a ${bigMs} ms request`);
    } finally {
      await shutdown(server);
    }
  });
});
