/**
 * An HTTP server that serves many prompt adapters from one frozen model: the model's weights are loaded once,
 * each adapter is a few thousand numbers applied to the input embeddings per request.
 *
 *   GET  /health          {"status": "ok", "model": …, "adapters": n, "queue": waiting}
 *   GET  /v1/adapters     [{name, type, numVirtualTokens, rank?, maxLength?, params}]
 *   POST /v1/predict      {"adapter": "sst2", "inputs": ["a gorgeous film."], "task"?: "sst2",
 *                          "mode"?: "generate" | "rank", "labels"?: ["0","1"], "maxNewTokens"?: 20}
 *                         → {"adapter": "sst2", "predictions": ["1"]}
 *
 * Errors are JSON `{"error": {"code", "message", "path"}}` (ERROR_STATUS lists every code and its status).
 * Every limit is checked here before compute (limits.ts); the rows then go to the serving engine (engine.ts),
 * which batches them with every other request's rows (batcher.ts), on this thread between turns of the event
 * loop (LocalEngine) or on a worker thread (WorkerEngine, what `softprompt serve` uses). At most maxQueue + 1
 * requests are in flight (more: 429); one past its deadline gets 504 and its remaining work is dropped.
 * More routes plug in through `routes` (app.ts adds the OpenAI-compatible ones, adapter admin and /metrics) and
 * compute through the same engine and the same limits (RouteContext.submit).
 */
import http from 'node:http';
import { SoftpromptError } from '../errors.js';
import type { Tokenizer } from '../io/tokenizer.js';
import type { PeftMethod } from '../methods/method.js';
import { entryOf } from '../methods/registry.js';
import type { AnyModel } from '../models/registry.js';
import { encodeSources, inputLimit, predictAny, withMethod } from '../predict/index.js';
import type { EncodedExample } from '../tasks/encode.js';
import { toSource } from '../tasks/input-format.js';
import { canonicalTaskName, getTask, TASK_NAMES } from '../tasks/registry.js';
import { clip, DEFAULT_LIMITS, describeValue, jsonDepth, MAX_CHARS_PER_TOKEN, MAX_JSON_DEPTH, predictRequestSchema, type RequestLimits } from './limits.js';
import { LocalEngine, type EngineSubmitOptions, type RowResult, type ServeEngine } from './engine.js';
import { tagRequest } from './request-tags.js';

export interface ServerOptions extends Partial<RequestLimits> {
  /** the frozen model, tagged with its family (registry's loadAnyModel); may be absent when `engine` is given */
  model?: AnyModel;
  /** where requests compute (default: a LocalEngine over `model` and `adapters` on this thread) */
  engine?: ServeEngine;
  /** encoder tokens plus decoder lanes per engine step, for the default engine (default 2048) */
  tokenBudget?: number;
  /** decoder lanes running at most, for the default engine (default 64) */
  maxLanes?: number;
  modelName: string;
  tokenizer: Tokenizer;
  adapters: ReadonlyMap<string, PeftMethod>;
  /** request body size limit in bytes (default 1 MiB) */
  maxBodyBytes?: number;
  /** requests in flight besides one before new ones get 429 (default 64) */
  maxQueue?: number;
  /** a request not finished this long after it arrived gets 504; its remaining work is dropped (default 60 s) */
  requestTimeoutMs?: number;
  /** input truncation (default DEFAULT_MAX_LENGTH = 256, as predict; an adapter's own limit, e.g. DePT's s, caps it) */
  maxLength?: number;
  batchSize?: number;
  /** more routes (OpenAI-compatible, adapter admin), tried in order before the 404 */
  routes?: readonly ServeRoute[];
  /** told about every request's rows as they go to the engine (metrics) */
  observer?: ServeObserver;
}

/** What the compute core reports as it works (metrics.ts counts it). */
export interface ServeObserver {
  /** `rows` inputs of one adapter ('' for the base model) are about to be computed */
  batch(rows: number, adapter: string): void;
}

/** What an extra route gets: the request, and the same compute path (engine, 429, 504) as POST /v1/predict. */
export interface RouteContext {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  arrivedAt: number;
  /** the body as JSON (size and depth limits as /v1/predict) */
  readJson(): Promise<unknown>;
  /**
   * Rows through the serving engine, batched with every other request; null when the client left meanwhile.
   * Throws (429) at once, before any promise, when the queue is full.
   */
  submit(adapter: string, rows: readonly Int32Array[], options: Omit<EngineSubmitOptions, 'signal'>): Promise<RowResult[] | null>;
  /** the engine's model facts (kind, architecture, dModel, maxPositions) */
  readonly engine: ServeEngine;
  /** the server is draining (a streamed answer should close its connection) */
  readonly closing: boolean;
}
/** Handles the request and returns true, or returns false to let the next route try. */
export type ServeRoute = (ctx: RouteContext) => Promise<boolean>;

export const SERVER_DEFAULTS = { ...DEFAULT_LIMITS, maxBodyBytes: 1 << 20, maxQueue: 64, requestTimeoutMs: 60_000 } as const;

/** Every error code the server answers with, and its HTTP status. */
export const ERROR_STATUS = {
  malformed_request: 400, // not JSON, or nested deeper than MAX_JSON_DEPTH
  invalid_request: 400, // a field missing, of the wrong type, unknown or out of range
  too_many_inputs: 400,
  input_too_long: 400,
  max_new_tokens_too_large: 400,
  invalid_data: 400, // an input that does not fit the task's format (e.g. a pair task without its tab)
  invalid_adapter: 400, // an adapter folder that does not load, or does not fit this model (admin)
  unauthorized: 401, // admin routes without the right bearer token
  admin_disabled: 403, // admin routes on a server started without --allow-adapter-admin
  unknown_adapter: 404,
  not_found: 404,
  adapter_conflict: 409, // admin: the name is taken, or pinned, or every resident adapter is pinned
  body_too_large: 413,
  queue_full: 429,
  shutting_down: 503,
  deadline_exceeded: 504,
  native: 500,
  internal: 500,
} as const;
export type ServeErrorCode = keyof typeof ERROR_STATUS;

export class HttpError extends Error {
  readonly status: number;
  constructor(readonly code: ServeErrorCode, message: string, readonly path?: string, readonly headers: Record<string, string> = {}) {
    super(message);
    this.status = ERROR_STATUS[code];
  }
}

/** Bytes of an oversized body read (and discarded) so the client gets its 413 instead of a reset. */
const DRAIN_LIMIT = 64 << 20;

export function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/** The body as text, or a 413 once past `limit`; the rest of an oversized body is read and dropped (up to DRAIN_LIMIT). */
export function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new HttpError('body_too_large', `Request body exceeds ${limit} bytes (--max-body-bytes).`, undefined, { connection: 'close' });
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > DRAIN_LIMIT) {
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > DRAIN_LIMIT) reject(tooLarge()); // settled promises ignore this; the socket closes after the 413
      else if (size <= limit) chunks.push(c);
    });
    req.on('end', () => (size > limit ? reject(tooLarge()) : resolve(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

export function describeAdapter(name: string, m: PeftMethod): Record<string, string | number> {
  return { name, type: m.type, numVirtualTokens: m.numVirtualTokens, params: m.numParams(), ...entryOf(m).facts(m) };
}

function limitsOf(o: ServerOptions): RequestLimits {
  return { maxInputs: o.maxInputs ?? DEFAULT_LIMITS.maxInputs, maxInputTokens: o.maxInputTokens ?? DEFAULT_LIMITS.maxInputTokens, maxNewTokensCap: o.maxNewTokensCap ?? DEFAULT_LIMITS.maxNewTokensCap };
}

/** JSON text → value, refusing depth past MAX_JSON_DEPTH before the (recursive) parser sees it. */
export function parseBody(text: string): unknown {
  if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    throw new HttpError('malformed_request', `Request body nests deeper than ${MAX_JSON_DEPTH} levels.`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError('malformed_request', clip(`Request body is not valid JSON: ${(err as Error).message}`, 200));
  }
}

/** A validated request, encoded: the rows an engine computes. */
export interface ParsedRequest {
  adapter: string;
  method: PeftMethod;
  examples: EncodedExample[];
  /** rank: the label words; generate: null */
  labels: readonly string[] | null;
  maxNewTokens: number;
  maxLength: number;
}

function kindOf(o: ServerOptions): AnyModel['kind'] {
  const kind = o.engine?.kind ?? o.model?.kind;
  if (kind === undefined) throw new SoftpromptError('invalid_config', 'The server needs a model or an engine.', { path: 'model' });
  return kind;
}

/** Check every limit and encode: throws HttpError (or a typed SoftpromptError) naming the field at fault. */
export function parseRequest(o: ServerOptions, body: unknown): ParsedRequest {
  const l = limitsOf(o);
  // the caps are checked before the schema so a 100k-item array is refused without validating each item
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const inputs = (body as Record<string, unknown>)['inputs'];
    if (Array.isArray(inputs) && inputs.length > l.maxInputs) {
      throw new HttpError('too_many_inputs', `At most ${l.maxInputs} inputs per request (--max-inputs), got ${inputs.length}.`, 'inputs');
    }
    const mnt = (body as Record<string, unknown>)['maxNewTokens'];
    if (typeof mnt === 'number' && mnt > l.maxNewTokensCap) {
      throw new HttpError('max_new_tokens_too_large', `maxNewTokens is at most ${l.maxNewTokensCap} (--max-new-tokens-cap), got ${describeValue(mnt)}.`, 'maxNewTokens');
    }
  }
  const parsed = predictRequestSchema(l).safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.slice(0, 5).map((k) => JSON.stringify(clip(k, 40))).join(', ');
      throw new HttpError('invalid_request', `Unknown field(s) ${keys}; a request has adapter, inputs, task, mode, labels, maxNewTokens.`, clip(issue.keys[0]!, 40));
    }
    const path = issue.path.map(String).join('.');
    let got: unknown = body;
    for (const k of issue.path) got = got !== null && typeof got === 'object' ? (got as Record<PropertyKey, unknown>)[k as PropertyKey] : undefined;
    throw new HttpError('invalid_request', clip(`${path === '' ? 'request' : path}: ${issue.message}, got ${describeValue(got)}.`), path === '' ? undefined : path);
  }
  const r = parsed.data;
  const method = o.adapters.get(r.adapter);
  if (method === undefined) {
    throw new HttpError('unknown_adapter', clip(`No adapter ${JSON.stringify(clip(r.adapter, 60))}; this server has ${[...o.adapters.keys()].map((k) => `"${k}"`).join(', ')}.`, 1000), 'adapter');
  }
  const texts = typeof r.inputs === 'string' ? [r.inputs] : r.inputs;
  const task = r.task === undefined ? undefined : canonicalTaskName(r.task);
  if (r.task !== undefined && task === undefined) {
    throw new HttpError('invalid_request', `Unknown task ${describeValue(r.task)}. Known tasks: ${TASK_NAMES.join(', ')}.`, 'task');
  }
  const maxLength = inputLimit(method, o.maxLength);
  // decoder-only models read DePT's causal format: `${source} Label : `, then generate the label
  const sources = texts.map((t, i) => {
    const tooLong = (n: string) => new HttpError('input_too_long', `inputs[${i}] has ${n}; at most ${l.maxInputTokens} tokens per input (--max-input-tokens).`, `inputs.${i}`);
    if (t.length > l.maxInputTokens * MAX_CHARS_PER_TOKEN) throw tooLong(`${t.length} characters`);
    const s = toSource({ text: t }, task === undefined ? {} : { task }, `inputs[${i}]`);
    const n = o.tokenizer.encode(s).length;
    if (n > l.maxInputTokens) throw tooLong(`${n} tokens`);
    return s;
  });
  const examples = encodeSources(kindOf(o), o.tokenizer, sources, maxLength);
  let labels: readonly string[] | null = null;
  if (r.mode === 'rank') {
    labels = r.labels ?? (task === undefined ? null : getTask(task).labelWords);
    if (labels === null) throw new HttpError('invalid_request', 'mode "rank" needs "labels" (or a classification "task").', 'labels');
  }
  return { adapter: r.adapter, method, examples, labels, maxNewTokens: r.maxNewTokens, maxLength };
}

/**
 * Validate and compute one request directly, unbatched, one predict batch after another (predictAny): the
 * reference the engine's answers are tested against, and what POST /v1/predict answers.
 */
export function predictRequest(o: ServerOptions, body: unknown): { adapter: string; predictions: string[] } {
  const p = parseRequest(o, body);
  const lm = o.model;
  if (lm === undefined) throw new SoftpromptError('invalid_config', 'predictRequest computes on this thread: it needs the model.', { path: 'model' });
  const batchSize = o.batchSize ?? 16;
  const predictions = withMethod(lm.model, p.method, () => predictAny(lm, p.method, o.tokenizer, p.examples, p.labels,
    { batchSize, maxNewTokens: p.maxNewTokens, maxLength: p.maxLength }));
  return { adapter: p.adapter, predictions };
}

export function errorBody(err: unknown): { status: number; body: unknown; headers: Record<string, string> } {
  const wrap = (status: number, code: string, message: string, path?: string, headers: Record<string, string> = {}) => ({ status, body: { error: { code, message: clip(message, 2000), path: path ?? null } }, headers });
  if (err instanceof HttpError) return wrap(err.status, err.code, err.message, err.path, err.headers);
  if (err instanceof SoftpromptError) {
    if (err.code === 'native') return wrap(500, 'native', err.message, err.path);
    return wrap(400, err.code === 'invalid_data' ? 'invalid_data' : 'invalid_request', err.message, err.path);
  }
  return wrap(500, 'internal', err instanceof Error ? err.message : String(err));
}

interface ServerState {
  engine: ServeEngine;
  /** requests admitted and not answered */
  inflight: number;
  /** mean time of recent requests from arrival to answer (exponential average), for Retry-After */
  meanRequestMs: number;
  closing: boolean;
  idleWaiters: (() => void)[];
}

/** The engine a server computes on (its own default LocalEngine, or the one given). */
export function defaultEngine(o: ServerOptions): ServeEngine {
  if (o.engine !== undefined) return o.engine;
  if (o.model === undefined) throw new SoftpromptError('invalid_config', 'The server needs a model or an engine.', { path: 'model' });
  const opts: { tokenBudget?: number; maxLanes?: number; batchSize?: number; maxLength?: number } = {};
  if (o.tokenBudget !== undefined) opts.tokenBudget = o.tokenBudget;
  if (o.maxLanes !== undefined) opts.maxLanes = o.maxLanes;
  if (o.batchSize !== undefined) opts.batchSize = o.batchSize;
  if (o.maxLength !== undefined) opts.maxLength = o.maxLength;
  return new LocalEngine(o.model, o.tokenizer, o.adapters, opts);
}
const states = new WeakMap<http.Server, ServerState>();

/** Requests admitted and not finished (metrics' queue depth); 0 for a server not made by createServer. */
export function queueDepth(server: http.Server): number {
  return states.get(server)?.inflight ?? 0;
}

/** The engine a server made by createServer computes on (admin adds and removes adapters there). */
export function engineOf(server: http.Server): ServeEngine | undefined {
  return states.get(server)?.engine;
}

export function createServer(o: ServerOptions): http.Server {
  const limit = o.maxBodyBytes ?? SERVER_DEFAULTS.maxBodyBytes;
  const timeoutMs = o.requestTimeoutMs ?? SERVER_DEFAULTS.requestTimeoutMs;
  const maxQueue = o.maxQueue ?? SERVER_DEFAULTS.maxQueue;
  const state: ServerState = { engine: defaultEngine(o), inflight: 0, meanRequestMs: 100, closing: false, idleWaiters: [] };
  const server = http.createServer((req, res) => {
    const arrivedAt = Date.now();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const handle = async (): Promise<void> => {
      if (state.closing) throw new HttpError('shutting_down', 'The server is shutting down.', undefined, { connection: 'close' });
      if (req.method === 'GET' && url.pathname === '/health') {
        return send(res, 200, { status: 'ok', model: o.modelName, adapters: o.adapters.size, queue: state.inflight });
      }
      if (req.method === 'GET' && url.pathname === '/v1/adapters') {
        return send(res, 200, { adapters: [...o.adapters].map(([n, m]) => describeAdapter(n, m)) });
      }
      if (req.method === 'POST' && url.pathname === '/v1/predict') {
        const p = parseRequest(o, parseBody(await readBody(req, limit)));
        tagRequest(res, { adapter: p.adapter });
        const rows = await submitRows(o, state, maxQueue, timeoutMs, arrivedAt, res, p.adapter, p.examples.map((e) => e.source), p.labels === null
          ? { mode: 'generate', maxNewTokens: p.maxNewTokens }
          : { mode: 'rank', labels: p.labels });
        if (rows === null) return; // the client has gone
        return send(res, 200, { adapter: p.adapter, predictions: rows.map((r) => r.text) }, state.closing ? { connection: 'close' } : {});
      }
      for (const route of o.routes ?? []) {
        const ctx: RouteContext = {
          req, res, url, arrivedAt,
          readJson: async () => parseBody(await readBody(req, limit)),
          submit: (adapter, rows, options) => submitRows(o, state, maxQueue, timeoutMs, arrivedAt, res, adapter, rows, options),
          engine: state.engine,
          get closing() { return state.closing; },
        };
        if (await route(ctx)) return;
      }
      throw new HttpError('not_found', clip(`No route ${req.method} ${url.pathname}; see GET /health, GET /v1/adapters, POST /v1/predict.`, 300));
    };
    handle().catch((err: unknown) => {
      if (res.headersSent) return res.destroy();
      const e = errorBody(err);
      send(res, e.status, e.body, state.closing ? { ...e.headers, connection: 'close' } : e.headers);
    });
  });
  states.set(server, state);
  return server;
}

/** 429 when more than maxQueue + 1 requests are in flight (engine work and this-thread chunks alike). */
function admit(state: ServerState, maxQueue: number): void {
  if (state.inflight > maxQueue) {
    const retry = Math.max(1, Math.ceil(state.meanRequestMs / 1000));
    throw new HttpError('queue_full', `${state.inflight} requests are already in flight (--max-queue); retry in ${retry} s.`, undefined, { 'retry-after': String(retry) });
  }
}

/**
 * Count a request in flight while `work` runs, aborting its signal past the deadline (counted from arrival) or
 * when the client disconnects: null once the client has gone, 504 past the deadline.
 */
async function inFlight<T>(state: ServerState, arrivedAt: number, timeoutMs: number, res: http.ServerResponse, work: (signal: AbortSignal) => Promise<T>): Promise<T | null> {
  const ac = new AbortController();
  const expire = setTimeout(() => ac.abort('expired'), Math.max(0, arrivedAt + timeoutMs - Date.now()));
  const gone = () => { if (!res.writableFinished) ac.abort('gone'); };
  res.on('close', gone);
  state.inflight++;
  try {
    const value = await work(ac.signal);
    state.meanRequestMs = 0.8 * state.meanRequestMs + 0.2 * (Date.now() - arrivedAt);
    return value;
  } catch (err) {
    if (ac.signal.aborted && ac.signal.reason === 'gone') return null;
    if (ac.signal.aborted && ac.signal.reason === 'expired') {
      throw new HttpError('deadline_exceeded', `The request took ${Date.now() - arrivedAt} ms, past the ${timeoutMs} ms deadline (--request-timeout-ms); its remaining work was dropped.`);
    }
    throw err;
  } finally {
    clearTimeout(expire);
    res.off('close', gone);
    state.inflight -= 1;
    if (state.inflight === 0) for (const w of state.idleWaiters.splice(0)) w();
  }
}

/** Rows through the engine, batched with every other request's (POST /v1/predict and RouteContext.submit). */
function submitRows(o: ServerOptions, state: ServerState, maxQueue: number, timeoutMs: number, arrivedAt: number, res: http.ServerResponse,
  adapter: string, rows: readonly Int32Array[], options: Omit<EngineSubmitOptions, 'signal'>): Promise<RowResult[] | null> {
  admit(state, maxQueue);
  return inFlight(state, arrivedAt, timeoutMs, res, (signal) => {
    o.observer?.batch(rows.length, adapter);
    return state.engine.submit(adapter, rows, { ...options, signal });
  });
}

/**
 * Graceful stop: refuse new connections (and new requests on open ones, 503), finish every queued request,
 * then close. Connections still open after `graceMs` are cut.
 */
export async function shutdown(server: http.Server, graceMs = 30_000): Promise<void> {
  const state = states.get(server);
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  if (state !== undefined) {
    state.closing = true;
    if (state.inflight > 0) await new Promise<void>((resolve) => state.idleWaiters.push(resolve));
  }
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  timer.unref();
  await closed;
  clearTimeout(timer);
}
