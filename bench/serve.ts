/**
 * `npm run bench -- serve [--duration 10] [--bin bin/softprompt.js] [--big-inputs 256] [--big-tokens 512]
 *   [--threads 1] [--out bench/results/serve.json]`
 * A load probe of `softprompt serve` on loopback: the server is the real CLI in its own process (t5-tiny, a DePT
 * and a prompt-tuning adapter saved from the registry with their tensors moved off init); the client is
 * autocannon, bounded by its connection count. It measures
 *   1. req/s and latency p50/p99 at concurrency 1, 8 and 32 of a mixed stream: rank and generate requests
 *      (one input each, maxNewTokens 8), alternating between the two adapters;
 *   2. the same stream at concurrency 4, and /health, while one request of --big-inputs inputs and
 *      --big-tokens new tokens runs: small-request p50/p99 and /health p99 against the big request's own time.
 * Writes JSON to --out and prints a table. Targets (issue 10): throughput at 32 ≥ 5× at 1; small-request p99
 * ≤ 200 ms during the big request. `--bin` points at another build's bin/softprompt.js for a before/after.
 * `--threads` is the server's engine threads (default 1: t5-tiny's kernels are too small to share, and on a
 * loaded machine every multi-threaded kernel call waits for its pool threads to be scheduled; 0 = one per core).
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadTokenizerSync } from '../src/io/tokenizer.js';
import { getMethod, saveAdapter } from '../src/methods/registry.js';
import { loadModel } from '../src/models/registry.js';
import { flag, median, repoRoot } from './util.js';

interface Load {
  concurrency: number;
  requests: number;
  errors: number;
  non2xx: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

const REVIEWS = ['a gorgeous, witty, seductive movie.', 'this movie is dull.', 'an ambitious film that mostly works.', 'not worth the ticket.'];

/** The mixed stream: rank and generate, DePT and PT, one input each. */
function mixedRequests(): autocannon.Request[] {
  const out: autocannon.Request[] = [];
  for (let i = 0; i < 8; i++) {
    const adapter = i % 2 === 0 ? 'dept' : 'pt';
    const body = i % 4 < 2
      ? { adapter, task: 'sst2', mode: 'rank', inputs: [REVIEWS[i % REVIEWS.length]!] }
      : { adapter, task: 'sst2', inputs: [REVIEWS[i % REVIEWS.length]!], maxNewTokens: 8 };
    out.push({ method: 'POST', path: '/v1/predict', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }
  return out;
}

function load(url: string, connections: number, seconds: number, requests: autocannon.Request[]): Promise<Load> {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections, duration: seconds, requests, timeout: 120 }, (err, r) => {
      if (err) return reject(err);
      resolve({
        concurrency: connections, requests: r.requests.total, errors: r.errors + r.timeouts, non2xx: r.non2xx,
        rps: r.requests.total / (r.duration || seconds), p50_ms: r.latency.p50, p99_ms: r.latency.p99, max_ms: r.latency.max,
      });
    });
  });
}

/** Adapters saved the way `softprompt train` saves them, tensors moved off their init. */
function saveAdapters(dir: string): [string, string][] {
  const model = loadModel(join(repoRoot(), 'test', 'fixtures', 't5-tiny'));
  const tok = loadTokenizerSync(join(repoRoot(), 'test', 'fixtures', 'tokenizers', 't5'));
  let s = 17;
  const rng = { nextFloat: () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 4294967296; }, normal: () => rng.nextFloat() * 2 - 1 };
  const info = model.info;
  const out: [string, string][] = [];
  for (const [name, method, settings] of [['dept', 'dept', { promptLength: 8, rank: 4, maxLength: 64 }], ['pt', 'pt', { promptLength: 12, init: 'SAMPLE_VOCAB', maxLength: 512 }]] as const) {
    const m = getMethod(method).create(settings, { dModel: info.dModel, vocabSize: info.vocabSize, embed: (ids) => model.embed(ids), tokenize: (t) => tok.encode(t), rng });
    for (const p of m.params()) for (let i = 0; i < p.data.length; i++) p.data[i] += 0.05 * rng.normal();
    const d = join(dir, name);
    saveAdapter(d, m, { baseModel: 't5-tiny', tokenizer: null, modelInfo: { dModel: info.dModel, numLayers: info.numLayers, numHeads: info.numHeads, kind: info.kind } });
    out.push([name, d]);
  }
  return out;
}

function startServer(bin: string, adapters: [string, string][], threads: string): Promise<{ child: ChildProcess; url: string }> {
  const args = [bin, 'serve', '--model', join(repoRoot(), 'test', 'fixtures', 't5-tiny'), '--tokenizer', join(repoRoot(), 'test', 'fixtures', 'tokenizers', 't5'),
    ...adapters.flatMap(([n, d]) => ['--adapter', `${n}=${d}`]), '--port', '0', '--max-queue', '256', '--request-timeout-ms', '600000', '--threads', threads];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      const m = /on (http:\/\/[^\s]+)/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.on('exit', (code) => reject(new Error(`softprompt serve exited (${code}) before listening: ${out}`)));
  });
}

/** POST without a client-side timeout (fetch gives up on headers after 300 s; the big request may take longer). */
function postLong(url: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function healthLatencies(url: string, until: () => boolean): Promise<number[]> {
  const xs: number[] = [];
  while (!until()) {
    const t0 = performance.now();
    try {
      await (await fetch(`${url}/health`)).json();
      xs.push(performance.now() - t0);
    } catch {
      xs.push(Infinity); // a failed check counts as the slowest
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return xs;
}

const quantile = (xs: number[], q: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN; };

export async function runServeBench(argv: string[]): Promise<void> {
  const seconds = Number(flag(argv, '--duration', '10'));
  const bin = flag(argv, '--bin', join(repoRoot(), 'bin', 'softprompt.js'));
  const bigInputs = Number(flag(argv, '--big-inputs', '256'));
  const bigTokens = Number(flag(argv, '--big-tokens', '512'));
  const outFile = flag(argv, '--out', join(repoRoot(), 'bench', 'results', 'serve.json'));
  const dir = mkdtempSync(join(tmpdir(), 'softprompt-bench-serve-'));
  const threads = flag(argv, '--threads', '1');
  const { child, url } = await startServer(bin, saveAdapters(dir), threads);
  try {
    const mixed = mixedRequests();
    await load(url, 4, 2, mixed); // warm-up
    const levels: Load[] = [];
    for (const c of [1, 8, 32]) levels.push(await load(url, c, seconds, mixed));

    const big = { adapter: 'pt', inputs: Array.from({ length: bigInputs }, (_, i) => `review ${i}: ${REVIEWS[i % REVIEWS.length]} and then some more words about it`), maxNewTokens: bigTokens };
    let bigMs = 0;
    let bigGenerated = 0;
    const t0 = performance.now();
    const bigDone = postLong(`${url}/v1/predict`, JSON.stringify(big)).then(({ status, text }) => {
      bigMs = performance.now() - t0;
      const j = JSON.parse(text) as { predictions?: string[] };
      bigGenerated = (j.predictions ?? []).reduce((n, p) => n + p.split(/\s+/).filter(Boolean).length, 0);
      if (status !== 200) throw new Error(`the big request got ${status}: ${text.slice(0, 200)}`);
    });
    await new Promise((r) => setTimeout(r, 500)); // the big request is admitted and decoding
    const health = healthLatencies(url, () => bigMs > 0);
    const during = await load(url, 4, seconds, mixed);
    const duringEndMs = performance.now() - t0;
    await bigDone;
    const hs = await health;
    const result = {
      bench: 'serve', model: 't5-tiny', adapters: ['dept (8 tokens, rank 4)', 'pt (12 tokens)'], mix: 'rank and generate (maxNewTokens 8), one input each, alternating adapters',
      date: new Date().toISOString(), cpus: cpus().length, engine_threads: Number(threads), loadavg_1m_at_end: loadavg()[0], duration_s: seconds, bin,
      levels,
      speedup_32_over_1: levels[2]!.rps / levels[0]!.rps,
      big: { inputs: bigInputs, max_new_tokens: bigTokens, ms: Math.round(bigMs), words_generated: bigGenerated, small_load_ended_before_big: duringEndMs < bigMs },
      during_big: during,
      health_during_big: { checks: hs.length, p50_ms: median(hs), p99_ms: quantile(hs, 0.99), max_ms: Math.max(...hs) },
    };
    mkdirSync(dirname(outFile), { recursive: true });
    writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
    const row = (name: string, l: Load) => `| ${name} | ${l.rps.toFixed(1)} | ${l.p50_ms} | ${l.p99_ms} | ${l.requests} | ${l.errors + l.non2xx} |`;
    console.log('| load | req/s | p50 ms | p99 ms | requests | errors |\n|---|---|---|---|---|---|');
    for (const l of levels) console.log(row(`concurrency ${l.concurrency}`, l));
    console.log(row(`concurrency 4 during ${bigInputs}×${bigTokens}`, during));
    console.log(`\nthroughput 32 / 1: ${result.speedup_32_over_1.toFixed(2)}×   big request: ${result.big.ms} ms (small load ${result.big.small_load_ended_before_big ? 'ran inside it' : 'outlasted it'})`);
    console.log(`/health during the big request: p50 ${result.health_during_big.p50_ms.toFixed(1)} ms, p99 ${result.health_during_big.p99_ms.toFixed(1)} ms over ${hs.length} checks`);
    console.log(`machine: ${cpus().length} cpus, load average ${loadavg()[0]!.toFixed(2)} (shared; numbers are noisy); written to ${outFile}`);
  } finally {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}
