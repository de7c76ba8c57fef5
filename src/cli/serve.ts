/**
 * `softprompt serve`: one frozen model, many adapters, a small JSON HTTP API (src/serve/server.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { loadTokenizerSync } from '../io/tokenizer.js';
import { loadAdapter } from '../methods/registry.js';
import type { PeftMethod } from '../methods/method.js';
import { ADMIN_TOKEN_ENV } from '../serve/admin.js';
import { createApp, DEFAULT_MAX_ADAPTERS } from '../serve/app.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../serve/log.js';
import { readChatTemplate } from '../serve/openai/chat-template.js';
import { SERVER_DEFAULTS, shutdown } from '../serve/server.js';
import { WorkerEngine } from '../serve/worker-engine.js';
import { usageError } from './errors.js';
import { REVISION_FLAG, REVISION_HELP, resolveHubAdapters, resolveHubFlags } from './hub-paths.js';
import { intArg } from './options.js';

interface ServeOptions {
  model: string;
  tokenizer?: string;
  adapter: string[];
  host: string;
  port: number;
  threads?: number;
  maxInputs: number;
  maxInputTokens: number;
  maxNewTokensCap: number;
  maxQueue: number;
  requestTimeoutMs: number;
  maxBodyBytes: number;
  allowAdapterAdmin?: boolean;
  adminToken?: string;
  adaptersRoot?: string;
  maxAdapters: number;
  logLevel: LogLevel;
  tokenBudget: number;
  maxLanes: number;
}

/** "name=dir" or "dir" (named after its folder). */
export function parseAdapterArg(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function adapterEntries(args: readonly string[]): [string, string][] {
  const seen = new Set<string>();
  return args.map((a) => {
    const eq = a.indexOf('=');
    const dir = eq > 0 ? a.slice(eq + 1) : a;
    const name = eq > 0 ? a.slice(0, eq) : (dir.replace(/\/+$/, '').split('/').pop() ?? dir);
    if (name === '' || dir === '') throw usageError(`--adapter ${JSON.stringify(a)}: expected NAME=DIR or DIR.`, { path: '--adapter' });
    if (seen.has(name)) throw usageError(`--adapter: the name "${name}" is used twice; give NAME=DIR.`, { path: '--adapter' });
    seen.add(name);
    return [name, dir];
  });
}

export function serveCommand(): Command {
  return new Command('serve')
    .summary('serve many adapters of one frozen model over HTTP')
    .description('Load one model and several adapters, then answer JSON requests:\n'
      + '  GET /health, GET /v1/adapters,\n  POST /v1/predict {"adapter", "inputs", "task"?, "mode"?, "labels"?, "maxNewTokens"?}\n'
      + 'The model computes on a worker thread (the HTTP thread only parses, queues and answers, so /health and\n'
      + '/metrics answer in milliseconds under any load). Its engine batches the rows of every request and adapter\n'
      + 'in flight into shared steps (one decoder token per step for every running row, new rows joining between\n'
      + 'steps), so short requests finish beside long ones.')
    .requiredOption('--model <dir>', 'Hugging Face model folder')
    .option('--tokenizer <dir>', 'tokenizer folder (default: the model folder)')
    .option(REVISION_FLAG, REVISION_HELP)
    .requiredOption('--adapter <name=dir>', 'an adapter to serve (repeatable); NAME defaults to the folder name', parseAdapterArg, [])
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port (0: any free port)', intArg, 8080)
    .option('--threads <n>', 'compute threads (0: one per core)', intArg)
    .option('--max-inputs <n>', 'inputs per request at most (more: 400 too_many_inputs)', positiveInt, SERVER_DEFAULTS.maxInputs)
    .option('--max-input-tokens <n>', 'tokens per input at most, before truncation to the adapter\'s length (more: 400 input_too_long)', positiveInt, SERVER_DEFAULTS.maxInputTokens)
    .option('--max-new-tokens-cap <n>', 'largest "maxNewTokens" a request may ask (more: 400 max_new_tokens_too_large)', positiveInt, SERVER_DEFAULTS.maxNewTokensCap)
    .option('--max-queue <n>', 'requests queued besides the one computing (more: 429 queue_full with Retry-After)', nonNegativeInt, SERVER_DEFAULTS.maxQueue)
    .option('--request-timeout-ms <n>', 'a request not done this long after arrival gets 504 deadline_exceeded; its remaining batches are skipped', positiveInt, SERVER_DEFAULTS.requestTimeoutMs)
    .option('--max-body-bytes <n>', 'request body size at most (more: 413 body_too_large)', positiveInt, SERVER_DEFAULTS.maxBodyBytes)
    .option('--allow-adapter-admin', 'let POST /v1/adapters and DELETE /v1/adapters/{name} load and unload adapters (needs --admin-token and --adapters-root)')
    .option('--admin-token <token>', `bearer token of the admin routes (default: $${ADMIN_TOKEN_ENV})`)
    .option('--adapters-root <dir>', 'folder the admin routes load adapters from; their paths must stay inside it')
    .option('--max-adapters <n>', 'adapters resident at most; loading more evicts the least recently used one not given at startup', positiveInt, DEFAULT_MAX_ADAPTERS)
    .option('--log-level <level>', `access-log level on stderr, one JSON line per request (${LOG_LEVELS.join(', ')})`, logLevel, 'info')
    .option('--token-budget <n>', 'encoder tokens admitted plus decoder rows running per engine step', positiveInt, 2048)
    .option('--max-lanes <n>', 'decoder rows running at most (more wait; each request\'s first row always joins): shorter steps for small requests beside big ones', positiveInt, 64)
    .addHelpText('after', `
Errors are JSON {"error": {"code", "message", "path"}}:
  400 malformed_request (not JSON, or nested deeper than 32) · invalid_request (a field missing, of the wrong
      type or unknown; an unknown task) · too_many_inputs · input_too_long · max_new_tokens_too_large ·
      invalid_data (an input that does not fit the task's format)
  404 unknown_adapter · not_found    413 body_too_large    429 queue_full (Retry-After: seconds)
  503 shutting_down    504 deadline_exceeded    500 native · internal
  Admin routes: 400 invalid_adapter · 401 unauthorized · 403 admin_disabled · 409 adapter_conflict
SIGTERM / SIGINT: stop accepting, finish the queued requests, exit 0. A port in use exits 2.

OpenAI-compatible routes (\`model\` = an adapter name, or the base model's --model for none):
  GET /v1/models · POST /v1/completions · POST /v1/chat/completions ("stream": true: server-sent events).
  Greedy decoding only (temperature 0 or absent); T5 answers completions text-to-text and refuses chat.
  Chat renders the tokenizer's chat_template when it has one, else "User: …\\nAssistant:" lines (see README).
  Their errors use OpenAI's shape {"error": {"message", "type", "param", "code"}}.
GET /metrics: Prometheus text (requests, latency, batch rows, queue depth, tokens generated).

Examples:
  $ softprompt serve --model ./t5-base --adapter sst2=runs/sst2-dept/adapter --adapter rte=runs/rte-dept/adapter
  $ curl -s localhost:8080/v1/predict -d '{"adapter": "sst2", "task": "sst2", "inputs": ["a gorgeous film."]}'
  $ curl -s localhost:8080/v1/completions -d '{"model": "sst2", "prompt": "sentence: a gorgeous film.", "max_tokens": 5}'
`)
    .action(async (o: ServeOptions & { revision?: string }) => runServe({
      ...o, ...await resolveHubFlags({ model: o.model, tokenizer: o.tokenizer, revision: o.revision }), adapter: await resolveHubAdapters(adapterEntries(o.adapter), o.revision),
    }));
}

export async function runServe(o: ServeOptions): Promise<void> {
  const admin = adminSettings(o); // before the model loads: a bad flag fails at once
  const entries = adapterEntries(o.adapter);
  if (entries.length > o.maxAdapters) {
    throw usageError(`--max-adapters ${o.maxAdapters} is fewer than the ${entries.length} adapters given at startup.`, { path: '--max-adapters' });
  }
  const tokenizer = loadTokenizerSync(o.tokenizer ?? o.model);
  const tokenizerPath = o.tokenizer ?? o.model;
  const chatTemplate = readChatTemplate(fs.statSync(tokenizerPath).isDirectory() ? tokenizerPath : path.dirname(tokenizerPath));
  // the model, and the adapters as the engine uses them, live on the worker thread
  const engine = await WorkerEngine.start({
    model: o.model, ...(o.tokenizer === undefined ? {} : { tokenizer: o.tokenizer }), adapters: entries,
    ...(o.threads === undefined ? {} : { threads: o.threads }), batcher: { tokenBudget: o.tokenBudget, maxLanes: o.maxLanes },
  });
  // this thread's copies (a few numbers each for prompt methods): request limits and GET /v1/adapters
  const adapters = new Map<string, PeftMethod>();
  try {
    for (const [name, dir] of entries) adapters.set(name, loadAdapter(dir, { expectDModel: engine.info.dModel }));
  } catch (err) {
    await engine.close();
    throw err;
  }
  const { server } = createApp({
    engine, modelName: o.model, tokenizer, adapters, maxInputs: o.maxInputs, maxInputTokens: o.maxInputTokens,
    maxNewTokensCap: o.maxNewTokensCap, maxQueue: o.maxQueue, requestTimeoutMs: o.requestTimeoutMs, maxBodyBytes: o.maxBodyBytes,
    maxAdapters: o.maxAdapters, admin, logger: createLogger(o.logLevel), chatTemplate, tokenBudget: o.tokenBudget,
  });
  return new Promise<void>((resolve, reject) => {
    server.on('error', (err: NodeJS.ErrnoException) => {
      void engine.close();
      reject(listenError(err, o.host, o.port));
    });
    server.listen(o.port, o.host, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : o.port;
      process.stdout.write(`softprompt serving ${adapters.size} adapter(s) of ${o.model} on http://${o.host}:${port}\n`);
      const stop = (signal: string) => {
        process.stdout.write(`softprompt serve: ${signal}, finishing queued requests\n`);
        shutdown(server).then(() => engine.close()).then(() => resolve(), reject);
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
  });
}

/** A port in use or not allowed is the user's --port / --host, so a usage error naming it (exit 2). */
export function listenError(err: NodeJS.ErrnoException, host: string, port: number): Error {
  if (err.code === 'EADDRINUSE') {
    return usageError(`Port ${port} on ${host} is already in use.`, { path: '--port', hint: 'stop the other server or choose another --port (0: any free port).' });
  }
  if (err.code === 'EACCES') return usageError(`Not allowed to listen on ${host}:${port}.`, { path: '--port', hint: 'ports below 1024 need privileges; choose another --port.' });
  if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') return usageError(`Cannot listen on host ${host}: ${err.code}.`, { path: '--host' });
  return err;
}

/** --allow-adapter-admin needs a token (flag or environment) and an existing adapters root. */
function adminSettings(o: ServeOptions): { token: string; root: string } | null {
  if (o.allowAdapterAdmin !== true) return null;
  const token = o.adminToken ?? process.env[ADMIN_TOKEN_ENV];
  if (token === undefined || token.length < 16) {
    throw usageError(`--allow-adapter-admin needs a bearer token of at least 16 characters: --admin-token or $${ADMIN_TOKEN_ENV}.`, { path: '--admin-token' });
  }
  if (o.adaptersRoot === undefined) throw usageError('--allow-adapter-admin needs --adapters-root <dir>, the folder adapters are loaded from.', { path: '--adapters-root' });
  if (!fs.existsSync(o.adaptersRoot) || !fs.statSync(o.adaptersRoot).isDirectory()) {
    throw usageError(`--adapters-root ${o.adaptersRoot} is not a folder.`, { path: '--adapters-root' });
  }
  return { token, root: o.adaptersRoot };
}

function logLevel(value: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${LOG_LEVELS.join(', ')}.`);
  return value as LogLevel;
}

function positiveInt(value: string): number {
  const n = intArg(value);
  if (n < 1) throw new InvalidArgumentError('expected an integer ≥ 1.');
  return n;
}

function nonNegativeInt(value: string): number {
  const n = intArg(value);
  if (n < 0) throw new InvalidArgumentError('expected an integer ≥ 0.');
  return n;
}
