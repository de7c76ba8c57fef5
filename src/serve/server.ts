/**
 * An HTTP server that serves many prompt adapters from one frozen model: the model's weights are loaded once,
 * each adapter is a few thousand numbers applied to the input embeddings per request.
 *
 *   GET  /health          {"status": "ok", "model": …, "adapters": n}
 *   GET  /v1/adapters     [{name, type, numVirtualTokens, rank?, maxLength?, params}]
 *   POST /v1/predict      {"adapter": "sst2", "inputs": ["a gorgeous film."], "task"?: "sst2",
 *                          "mode"?: "generate" | "rank", "labels"?: ["0","1"], "maxNewTokens"?: 20}
 *                         → {"adapter": "sst2", "predictions": ["1"]}
 *
 * Errors are JSON `{"error": {"code", "message", "path"}}` with 400 (bad request), 404 (unknown adapter or
 * route), 413 (body too large) or 500. Requests are computed one at a time (the engine uses every core).
 */
import http from 'node:http';
import { z } from 'zod';
import { SoftpromptError } from '../errors.js';
import type { Tokenizer } from '../io/tokenizer.js';
import type { PeftMethod } from '../methods/method.js';
import { entryOf } from '../methods/registry.js';
import type { AnyModel } from '../models/registry.js';
import { encodeSources, inputLimit, predictAny, withMethod } from '../predict/index.js';
import { toSource } from '../tasks/input-format.js';
import { canonicalTaskName, getTask } from '../tasks/registry.js';
import { parseWith } from '../validate.js';

export interface ServerOptions {
  /** the frozen model, tagged with its family (registry's loadAnyModel) */
  model: AnyModel;
  modelName: string;
  tokenizer: Tokenizer;
  adapters: ReadonlyMap<string, PeftMethod>;
  /** inputs per request at most (default 256) */
  maxInputs?: number;
  /** request body size limit in bytes (default 1 MiB) */
  maxBodyBytes?: number;
  /** input truncation (default DEFAULT_MAX_LENGTH = 256, as predict; an adapter's own limit, e.g. DePT's s, caps it) */
  maxLength?: number;
  batchSize?: number;
}

const PredictRequest = z.object({
  adapter: z.string().min(1),
  inputs: z.union([z.string(), z.array(z.string()).min(1)]),
  task: z.string().optional(),
  mode: z.enum(['generate', 'rank']).default('generate'),
  labels: z.array(z.string().min(1)).min(2).optional(),
  maxNewTokens: z.number().int().min(1).max(512).default(20),
});

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly path?: string) {
    super(message);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new HttpError(413, 'body_too_large', `Request body exceeds ${limit} bytes.`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function describeAdapter(name: string, m: PeftMethod): Record<string, string | number> {
  return { name, type: m.type, numVirtualTokens: m.numVirtualTokens, params: m.numParams(), ...entryOf(m).facts(m) };
}

export function predictRequest(o: ServerOptions, body: unknown): { adapter: string; predictions: string[] } {
  const r = parseWith(PredictRequest, body, 'request');
  const method = o.adapters.get(r.adapter);
  if (method === undefined) {
    throw new HttpError(404, 'unknown_adapter', `No adapter "${r.adapter}"; this server has ${[...o.adapters.keys()].map((k) => `"${k}"`).join(', ')}.`, 'adapter');
  }
  const texts = typeof r.inputs === 'string' ? [r.inputs] : r.inputs;
  const maxInputs = o.maxInputs ?? 256;
  if (texts.length > maxInputs) throw new HttpError(400, 'too_many_inputs', `At most ${maxInputs} inputs per request, got ${texts.length}.`, 'inputs');
  const task = r.task === undefined ? undefined : canonicalTaskName(r.task);
  if (r.task !== undefined && task === undefined) getTask(r.task); // throws invalid_config listing the tasks
  const maxLength = inputLimit(method, o.maxLength);
  // decoder-only models read DePT's causal format: `${source} Label : `, then generate the label
  const sources = texts.map((t, i) => toSource({ text: t }, task === undefined ? {} : { task }, `inputs[${i}]`));
  const examples = encodeSources(o.model.kind, o.tokenizer, sources, maxLength);
  let labels: readonly string[] | null = null;
  if (r.mode === 'rank') {
    labels = r.labels ?? (task === undefined ? null : getTask(task).labelWords);
    if (labels === null) throw new HttpError(400, 'invalid_request', 'mode "rank" needs "labels" (or a classification "task").', 'labels');
  }
  const predictions = withMethod(o.model.model, method, () => predictAny(o.model, method, o.tokenizer, examples, labels,
    { batchSize: o.batchSize ?? 16, maxNewTokens: r.maxNewTokens, maxLength }));
  return { adapter: r.adapter, predictions };
}

export function createServer(o: ServerOptions): http.Server {
  const limit = o.maxBodyBytes ?? 1 << 20;
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const handle = async (): Promise<void> => {
      if (req.method === 'GET' && url.pathname === '/health') {
        return send(res, 200, { status: 'ok', model: o.modelName, adapters: o.adapters.size });
      }
      if (req.method === 'GET' && url.pathname === '/v1/adapters') {
        return send(res, 200, { adapters: [...o.adapters].map(([n, m]) => describeAdapter(n, m)) });
      }
      if (req.method === 'POST' && url.pathname === '/v1/predict') {
        const text = await readBody(req, limit);
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch (err) {
          throw new HttpError(400, 'malformed_request', `Request body is not valid JSON: ${(err as Error).message}`);
        }
        return send(res, 200, predictRequest(o, body));
      }
      throw new HttpError(404, 'not_found', `No route ${req.method} ${url.pathname}; see GET /health, GET /v1/adapters, POST /v1/predict.`);
    };
    handle().catch((err: unknown) => {
      if (res.headersSent) return res.destroy();
      if (err instanceof HttpError) return send(res, err.status, { error: { code: err.code, message: err.message, path: err.path ?? null } });
      if (err instanceof SoftpromptError) {
        const status = err.code === 'native' ? 500 : 400;
        return send(res, status, { error: { code: err.code, message: err.message, path: err.path ?? null } });
      }
      send(res, 500, { error: { code: 'internal', message: err instanceof Error ? err.message : String(err), path: null } });
    });
  });
}
