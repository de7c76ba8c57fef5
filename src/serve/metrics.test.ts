/**
 * Observability of `softprompt serve`: GET /metrics parsed as Prometheus text (by a small parser here, not by
 * prom-client) with counts that move by exactly the requests sent, and one JSON access-log line per request,
 * through the library and through the CLI up to a SIGTERM.
 */
import { startServe } from '../../test/serve-child.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fixture } from '../../test/paths.js';
import { loadTokenizerSync } from '../io/tokenizer.js';
import { loadAdapter } from '../methods/registry.js';
import { loadModel } from '../models/registry.js';
import { createApp } from './app.js';
import { createLogger, type LogLevel } from './log.js';
import { shutdown } from './server.js';

const model = loadModel(fixture('t5-tiny'));
const tok = loadTokenizerSync(fixture('tokenizers', 't5'));
const LORA = fixture('t5-tiny', 'lora-adapter');
const lora = loadAdapter(LORA);

/** Prometheus text exposition → { 'name{k="v",…}': value } (labels as written), HELP/TYPE lines checked. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (meta !== null) {
      if (meta[1] === 'TYPE') { assert.match(meta[3]!, /^(counter|gauge|histogram|summary|untyped)$/); typed.add(meta[2]!); }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$/.exec(line);
    assert.ok(m !== null, `not a sample line: ${JSON.stringify(line)}`);
    assert.ok([...typed].some((n) => m[1] === n || m[1]!.startsWith(`${n}_`)), `${m[1]} has no TYPE line`);
    out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3] === '+Inf' ? Infinity : m[3]));
  }
  return out;
}

function collector(level: LogLevel = 'info') {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger(level, { write: (s: string) => { for (const l of s.split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>); } });
  return { lines, logger };
}

/** The access log is written when the response closes, a moment after the client has read it. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
}

describe('GET /metrics and the access log', () => {
  const log = collector();
  let server: http.Server;
  let url = '';
  before(async () => {
    ({ server } = createApp({ model: { kind: 'seq2seq', model }, modelName: 't5-tiny', tokenizer: tok, adapters: new Map([['lora', lora]]), logger: log.logger }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => shutdown(server, 1000));

  const predict = (adapter: string, n: number, headers: Record<string, string> = {}) => fetch(`${url}/v1/predict`, {
    method: 'POST', headers, body: JSON.stringify({ adapter, inputs: Array.from({ length: n }, (_, i) => `review ${i}: a fine film`), maxNewTokens: 3 }),
  });

  test('counts, latency histograms, batch rows, tokens and gauges move by exactly the requests sent', async () => {
    const ids: string[] = [];
    const track = async (r: Promise<Response>) => { const res = await r; ids.push(res.headers.get('x-request-id')!); await res.arrayBuffer(); return res; };
    assert.equal((await track(fetch(`${url}/health`))).status, 200);
    assert.equal((await track(predict('lora', 3))).status, 200);
    assert.equal((await track(predict('lora', 3, { 'x-request-id': 'client-id-1' }))).status, 200);
    assert.equal((await track(predict('nope', 1, { 'x-request-id': 'has spaces in it' }))).status, 404);
    const completion = await fetch(`${url}/v1/completions`, { method: 'POST', body: JSON.stringify({ model: 'lora', prompt: 'translate English to German: a house', max_tokens: 4 }) });
    ids.push(completion.headers.get('x-request-id')!);
    const usage = (await completion.json() as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
    assert.equal((await track(fetch(`${url}/no/such/route?x=1`))).status, 404);

    const scrape = await fetch(`${url}/metrics`);
    assert.match(scrape.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    const m = parseMetrics(await scrape.text());
    const req = (method: string, route: string, status: number, adapter: string) => m.get(`softprompt_http_requests_total{method="${method}",route="${route}",status="${status}",adapter="${adapter}"}`);
    assert.equal(req('GET', '/health', 200, ''), 1);
    assert.equal(req('POST', '/v1/predict', 200, 'lora'), 2);
    assert.equal(req('POST', '/v1/predict', 404, ''), 1, 'an unknown adapter name is not a label value');
    assert.equal(req('POST', '/v1/completions', 200, 'lora'), 1);
    assert.equal(req('GET', 'other', 404, ''), 1);
    const h = 'softprompt_http_request_duration_seconds';
    const lbl = 'method="POST",route="/v1/predict",status="200"';
    assert.equal(m.get(`${h}_count{${lbl}}`), 2);
    assert.ok(m.get(`${h}_sum{${lbl}}`)! > 0);
    const buckets = [...m].filter(([k]) => k.startsWith(`${h}_bucket{`) && k.includes(lbl)).map(([, v]) => v);
    assert.ok(buckets.length >= 10 && buckets.every((v, i) => i === 0 || v >= buckets[i - 1]!), 'cumulative buckets');
    assert.equal(m.get(`${h}_bucket{le="+Inf",${lbl}}`), 2);
    assert.equal(m.get('softprompt_batch_rows_sum{adapter="lora"}'), 3 + 3 + 1);
    assert.equal(m.get('softprompt_batch_rows_count{adapter="lora"}'), 3);
    assert.equal(m.get('softprompt_generated_tokens_total{adapter="lora"}'), usage.completion_tokens);
    assert.equal(m.get('softprompt_prompt_tokens_total{adapter="lora"}'), usage.prompt_tokens);
    assert.equal(m.get('softprompt_queue_depth'), 0);
    assert.equal(m.get('softprompt_adapters_resident'), 1);
    assert.ok(m.get('softprompt_engine_steps')! > 0 && m.get('softprompt_engine_tokens')! >= m.get('softprompt_engine_steps')!, 'the engine stepped and decided tokens');

    assert.equal((await predict('lora', 2)).status, 200);
    const again = parseMetrics(await (await fetch(`${url}/metrics`)).text());
    assert.equal(again.get('softprompt_http_requests_total{method="POST",route="/v1/predict",status="200",adapter="lora"}'), 3);
    assert.equal(again.get('softprompt_http_requests_total{method="GET",route="/metrics",status="200",adapter=""}'), 1);
    assert.equal(again.get('softprompt_batch_rows_sum{adapter="lora"}'), 9);

    // one log line per request, in order, ids as answered (a client's id kept when it is a short token)
    await until(() => log.lines.length === 9, `9 log lines, got ${log.lines.length}`);
    const first = log.lines.slice(0, 6);
    assert.deepEqual(first.map((l) => l['reqId']), ids);
    assert.equal(ids[2], 'client-id-1');
    assert.notEqual(ids[3], 'has spaces in it');
    assert.deepEqual(first.map((l) => [l['method'], l['route'], l['status'], l['adapter']]), [
      ['GET', '/health', 200, null], ['POST', '/v1/predict', 200, 'lora'], ['POST', '/v1/predict', 200, 'lora'],
      ['POST', '/v1/predict', 404, null], ['POST', '/v1/completions', 200, 'lora'], ['GET', 'other', 404, null],
    ]);
    for (const l of first) {
      assert.equal(l['msg'], 'request');
      assert.equal(l['level'], (l['status'] as number) >= 400 ? 40 : 30);
      assert.ok(typeof l['ms'] === 'number' && l['ms'] >= 0);
      assert.ok(typeof l['time'] === 'string' && !Number.isNaN(Date.parse(l['time'])));
    }
    assert.equal(first[5]!['path'], '/no/such/route');
    assert.equal(first[4]!['completionTokens'], usage.completion_tokens);
  });
});

test('--log-level warn: only failed requests are logged', async () => {
  const log = collector('warn');
  const { server } = createApp({ model: { kind: 'seq2seq', model }, modelName: 't5-tiny', tokenizer: tok, adapters: new Map([['lora', lora]]), logger: log.logger });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await (await fetch(`${url}/health`)).arrayBuffer();
    await (await fetch(`${url}/v1/predict`, { method: 'POST', body: '{"adapter": ' })).arrayBuffer();
    await until(() => log.lines.length === 1, 'one line');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(log.lines.map((l) => [l['status'], l['level']]), [[400, 40]]);
  } finally {
    await shutdown(server, 1000);
  }
});

test('CLI: JSON access lines on stderr, /metrics answers, SIGTERM still exits 0', async () => {
  const { child, port, exited, stderr: err } = await startServe(['--model', fixture('t5-tiny'), '--tokenizer', fixture('tokenizers', 't5'), '--adapter', `lora=${LORA}`]);
  const url = `http://127.0.0.1:${port}`;
  assert.equal((await (await fetch(`${url}/health`)).json() as { status: string }).status, 'ok');
  assert.match(await (await fetch(`${url}/metrics`)).text(), /softprompt_http_requests_total\{method="GET",route="\/health",status="200",adapter=""\} 1/);
  await until(() => err().split('\n').filter((l) => l.startsWith('{')).length === 2, `two log lines on stderr: ${err()}`);
  child.kill('SIGTERM');
  assert.equal(await exited, 0, err());
  const lines = err().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines.map((l) => [l['route'], l['status']]), [['/health', 200], ['/metrics', 200]]);
});
