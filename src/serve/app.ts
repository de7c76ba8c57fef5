/**
 * The whole server as `softprompt serve` runs it: the native routes (server.ts), the OpenAI-compatible ones
 * (openai/routes.ts), adapter admin (admin.ts), GET /metrics (metrics.ts) and access logs (log.ts, observe.ts),
 * over one adapter registry (adapters.ts: startup adapters pinned, run-time ones bounded with LRU eviction).
 *
 *   const engine = await WorkerEngine.start({ model: dir, adapters: [['sst2', adapterDir]] }); // the model on a worker
 *   const { server } = createApp({ engine, modelName, tokenizer, adapters, logger: createLogger('info') });
 *   server.listen(8080);   …   await shutdown(server); await engine.close();
 *
 * Every route computes through the one engine (a LocalEngine on this thread when `model` is given instead);
 * `adapters` are this thread's copies, for request limits and descriptions.
 */
import type http from 'node:http';
import type { Logger } from 'pino';
import type { PeftMethod } from '../methods/method.js';
import { AdapterRegistry } from './adapters.js';
import type { ServeEngine } from './engine.js';
import { adminRoute } from './admin.js';
import { ServeMetrics } from './metrics.js';
import { observeServer } from './observe.js';
import { jinjaChat, PLAIN_CHAT } from './openai/chat-template.js';
import { openaiRoute } from './openai/routes.js';
import { createServer, defaultEngine, queueDepth, type ServerOptions } from './server.js';

export interface AppOptions extends Omit<ServerOptions, 'adapters' | 'routes' | 'observer'> {
  /** the startup adapters (pinned) */
  adapters: ReadonlyMap<string, PeftMethod>;
  /** adapters resident at most, startup ones included (default 64, and never fewer than the startup ones) */
  maxAdapters?: number;
  /** run-time loading and unloading; null or absent: off (the admin routes answer 403) */
  admin?: { token: string; root: string } | null;
  /** access log; absent: none */
  logger?: Logger;
  /** the tokenizer's Jinja chat_template (openai/chat-template.ts readChatTemplate); absent: the plain template */
  chatTemplate?: string | null;
}

export const DEFAULT_MAX_ADAPTERS = 64;

export function createApp(o: AppOptions): { server: http.Server; registry: AdapterRegistry; metrics: ServeMetrics } {
  const registry = new AdapterRegistry(o.adapters, Math.max(o.maxAdapters ?? DEFAULT_MAX_ADAPTERS, o.adapters.size));
  let server: http.Server | null = null;
  let engineRef: ServeEngine | null = null;
  const metrics = new ServeMetrics({ queueDepth: () => (server === null ? 0 : queueDepth(server)), adapters: () => registry.size, engine: () => engineRef?.stats() });
  // one engine for every route: the native and OpenAI requests batch together, admin adds and removes adapters there
  const engine = defaultEngine({ ...o, adapters: registry });
  engineRef = engine;
  const base: ServerOptions = { ...o, engine, adapters: registry, observer: metrics.observer };
  const tok = o.tokenizer;
  const chat = o.chatTemplate == null ? PLAIN_CHAT
    : jinjaChat(o.chatTemplate, { bos: tok.bosId === undefined ? undefined : tok.idToToken(tok.bosId), eos: tok.idToToken(tok.eosId) });
  const routes = [metrics.route(), openaiRoute(base, chat), adminRoute({ registry, engine, modelName: o.modelName, admin: o.admin ?? null })];
  server = createServer({ ...base, routes });
  observeServer(server, o.logger === undefined ? { metrics } : { metrics, logger: o.logger });
  return { server, registry, metrics };
}
