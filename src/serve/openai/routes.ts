/**
 * OpenAI-compatible routes beside the native ones (vLLM's convention: `model` names an adapter, or the base model
 * for none):
 *
 *   GET  /v1/models             {"object": "list", "data": [{"id": <base model>}, {"id": <adapter>, "parent": <base>}…]}
 *   POST /v1/completions        {"model", "prompt": string | string[], "max_tokens"?: 16, "stop"?, "stream"?}
 *   POST /v1/chat/completions   {"model", "messages": [{role, content}], "max_tokens"?: min(256, cap), "stop"?, "stream"?}
 *
 * Decoding is greedy: `temperature` must be 0 or absent (400 `sampling_not_supported` otherwise). `stream: true`
 * answers server-sent events in OpenAI's chunk format ending with `data: [DONE]`; the tokens are computed before
 * the first event (through the serving engine for a T5 adapter, else one batch per event-loop turn), then sent
 * one delta per token. Decoder-only models
 * (GPT-2, LLaMA) continue the prompt; T5 answers /v1/completions text-to-text (the prompt is its encoder input)
 * and refuses chat (400 `unsupported_model`); chat-template.ts says how messages become a prompt. Prompts are never truncated: longer than the adapter or the model
 * allows is a 400 `context_length_exceeded`. Every limit of /v1/predict applies (inputs, tokens per input,
 * max_tokens cap, queue, deadline, body size).
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { SoftpromptError } from '../../errors.js';
import type { PeftMethod } from '../../methods/method.js';
import type { AnyModel } from '../../models/registry.js';
import { LocalEngine } from '../engine.js';
import { clip, DEFAULT_LIMITS, describeValue, MAX_CHARS_PER_TOKEN } from '../limits.js';
import { tagRequest } from '../request-tags.js';
import { send, type RouteContext, type ServeRoute, type ServerOptions } from '../server.js';
import { ChatTemplateError, PLAIN_CHAT, type ChatFormat } from './chat-template.js';
import { OpenAIError, sendOpenAIError } from './errors.js';
import { generateBatch, type GeneratedRow } from './generate.js';
import { chatRequestSchema, completionRequestSchema, type ChatRequest, type CompletionRequest } from './schema.js';
import { finishText, type FinishedText } from './text.js';

/** OpenAI's default max_tokens for completions; chat defaults to min(CHAT_DEFAULT_MAX_TOKENS, --max-new-tokens-cap). */
export const COMPLETION_DEFAULT_MAX_TOKENS = 16;
export const CHAT_DEFAULT_MAX_TOKENS = 256;

/** @param chat how messages become a prompt (chat-template.ts: the tokenizer's Jinja template, or the plain one) */
export function openaiRoute(o: ServerOptions, chat: ChatFormat = PLAIN_CHAT): ServeRoute {
  const lm = o.model;
  if (lm === undefined) throw new SoftpromptError('invalid_config', 'The OpenAI-compatible routes need the model on this thread (ServerOptions.model).', { path: 'model' });
  return async (ctx) => {
    const { req, res, url } = ctx;
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      send(res, 200, listModels(o));
      return true;
    }
    const isChat = url.pathname === '/v1/chat/completions';
    if (req.method !== 'POST' || (!isChat && url.pathname !== '/v1/completions')) return false;
    try {
      await complete(o, lm, ctx, isChat ? chat : null);
    } catch (err) {
      if (res.headersSent) res.destroy();
      else sendOpenAIError(res, err, ctx.closing ? { connection: 'close' } : {});
    }
    return true;
  };
}

const created = () => Math.floor(Date.now() / 1000);
const startedAt = created();

function listModels(o: ServerOptions) {
  const entry = (id: string, parent: string | null) => ({ id, object: 'model', created: startedAt, owned_by: 'softprompt', root: o.modelName, parent });
  return { object: 'list', data: [entry(o.modelName, null), ...[...o.adapters.keys()].map((n) => entry(n, o.modelName))] };
}

/** The first issue of a failed parse, as OpenAI's 400: the field path as `param`, the offending value described briefly. */
function invalid(body: unknown, issue: { path: PropertyKey[]; message: string }): OpenAIError {
  const path = issue.path.map(String).join('.');
  let got: unknown = body;
  for (const k of issue.path) got = got !== null && typeof got === 'object' ? (got as Record<PropertyKey, unknown>)[k] : undefined;
  return new OpenAIError(400, 'invalid_request', clip(`${path === '' ? 'request' : path}: ${issue.message}, got ${describeValue(got)}.`), path === '' ? null : path);
}

interface Plan {
  model: string;
  /** the adapter, or null for the base model */
  method: PeftMethod | null;
  prompts: Int32Array[];
  maxNewTokens: number;
  stops: string[];
  stream: boolean;
  includeUsage: boolean;
  trimStart: boolean;
}

/** Validate a request into what to compute; every refusal happens here, before the queue. */
function plan(o: ServerOptions, lm: AnyModel, body: unknown, format: ChatFormat | null): Plan {
  const chat = format !== null;
  const cap = o.maxNewTokensCap ?? DEFAULT_LIMITS.maxNewTokensCap;
  const maxInputs = o.maxInputs ?? DEFAULT_LIMITS.maxInputs;
  const maxInputTokens = o.maxInputTokens ?? DEFAULT_LIMITS.maxInputTokens;
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) { // caps before the schema walks a huge array
    const b = body as Record<string, unknown>;
    const many = chat ? b['messages'] : b['prompt'];
    if (Array.isArray(many) && many.length > maxInputs) {
      throw new OpenAIError(400, 'too_many_inputs', `At most ${maxInputs} ${chat ? 'messages' : 'prompts'} per request (--max-inputs), got ${many.length}.`, chat ? 'messages' : 'prompt');
    }
  }
  const parsed = chat ? chatRequestSchema.safeParse(body) : completionRequestSchema.safeParse(body);
  if (!parsed.success) throw invalid(body, parsed.error.issues[0]!);
  const r: CompletionRequest | ChatRequest = parsed.data;
  if ((r.temperature ?? 0) > 0) {
    throw new OpenAIError(400, 'sampling_not_supported', `temperature ${r.temperature}: this server decodes greedily; send temperature 0 or leave it out.`, 'temperature');
  }
  const maxParam = chat && (r as ChatRequest).max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  const asked = chat ? ((r as ChatRequest).max_completion_tokens ?? r.max_tokens) : r.max_tokens;
  const maxNewTokens = asked ?? (chat ? Math.min(CHAT_DEFAULT_MAX_TOKENS, cap) : Math.min(COMPLETION_DEFAULT_MAX_TOKENS, cap));
  if (maxNewTokens > cap) throw new OpenAIError(400, 'max_new_tokens_too_large', `${maxParam} is at most ${cap} (--max-new-tokens-cap), got ${maxNewTokens}.`, maxParam);

  let method: PeftMethod | null = null;
  if (r.model !== o.modelName) {
    const m = o.adapters.get(r.model);
    if (m === undefined) {
      const known = [o.modelName, ...o.adapters.keys()].map((k) => `"${k}"`).join(', ');
      throw new OpenAIError(404, 'model_not_found', clip(`The model ${JSON.stringify(clip(r.model, 60))} does not exist; this server has ${known} (GET /v1/models).`, 1000), 'model');
    }
    method = m;
  }
  if (chat && lm.kind !== 'causal') {
    throw new OpenAIError(400, 'unsupported_model', `Chat needs a decoder-only model; this ${lm.model.info.architecture} model answers /v1/completions (text-to-text) instead.`, 'model');
  }

  let texts: string[];
  if (chat) {
    const messages = (r as ChatRequest).messages.map((m) => ({ role: m.role, content: typeof m.content === 'string' ? m.content : m.content.map((p) => p.text).join('') }));
    try {
      texts = [format.render(messages)];
    } catch (err) {
      if (err instanceof ChatTemplateError) throw new OpenAIError(400, 'chat_template_error', clip(err.message), 'messages');
      throw err;
    }
  } else {
    const prompt = (r as CompletionRequest).prompt;
    texts = typeof prompt === 'string' ? [prompt] : prompt;
  }
  const param = chat ? 'messages' : 'prompt';
  const adapterLimit = method?.maxInputLength ?? Infinity;
  const virtual = method?.numVirtualTokens ?? 0;
  const positions = lm.kind === 'causal' ? (lm.model.info.maxPositions ?? Infinity) : Infinity;
  const prompts = texts.map((t, i) => {
    const which = texts.length > 1 ? `prompt[${i}]` : chat ? 'The conversation' : 'The prompt';
    const tooLong = (n: string, limit: number, by: string) => new OpenAIError(400, 'context_length_exceeded', `${which} has ${n}; at most ${limit} tokens ${by}.`, param);
    if (t.length > maxInputTokens * MAX_CHARS_PER_TOKEN) throw tooLong(`${t.length} characters`, maxInputTokens, 'per prompt (--max-input-tokens)');
    const ids = Int32Array.from(o.tokenizer.encode(t, { addSpecialTokens: format?.templated !== true }));
    if (ids.length === 0) throw new OpenAIError(400, 'invalid_request', `${which} is empty (no tokens).`, param);
    if (ids.length > maxInputTokens) throw tooLong(`${ids.length} tokens`, maxInputTokens, 'per prompt (--max-input-tokens)');
    if (ids.length > adapterLimit) throw tooLong(`${ids.length} tokens`, adapterLimit, `for adapter "${r.model}"`);
    if (ids.length + virtual + maxNewTokens > positions) {
      throw new OpenAIError(400, 'context_length_exceeded', `This model's maximum context length is ${positions} tokens; ${which.toLowerCase()} needs ${ids.length + virtual + maxNewTokens} (${ids.length} prompt, ${virtual} virtual, ${maxNewTokens} to generate).`, param);
    }
    return ids;
  });
  const stops = r.stop == null ? [] : typeof r.stop === 'string' ? [r.stop] : [...r.stop];
  if (chat) stops.push(...format.stops);
  return { model: r.model, method, prompts, maxNewTokens, stops, stream: r.stream === true, includeUsage: r.stream_options?.include_usage === true, trimStart: format?.trimStart === true };
}

/**
 * The prompts' continuations: through the serving engine, batched with every other request, when it batches this
 * adapter (T5 with a prompt or side-path method); else (the base model, decoder-only models, methods that must be
 * attached alone) one batch per turn of the event loop on this thread (generate.ts).
 */
async function generate(o: ServerOptions, lm: AnyModel, ctx: RouteContext, p: Plan, adapter: string | undefined): Promise<GeneratedRow[] | null> {
  if (adapter !== undefined && o.engine instanceof LocalEngine && o.engine.batches(adapter)) {
    const results = await ctx.submit(adapter, p.prompts, { mode: 'generate', maxNewTokens: p.maxNewTokens });
    if (results === null) return null;
    return results.map((r) => {
      const end = r.ids.indexOf(o.tokenizer.eosId);
      return end < 0 ? { ids: r.ids, eos: false } : { ids: r.ids.slice(0, end), eos: true };
    });
  }
  const batchSize = o.batchSize ?? 16;
  const chunks: (() => GeneratedRow[])[] = [];
  for (let i = 0; i < p.prompts.length; i += batchSize) {
    const prompts = p.prompts.slice(i, i + batchSize);
    chunks.push(() => {
      o.observer?.batch(prompts.length, adapter ?? '');
      return generateBatch(lm, p.method, o.tokenizer, { prompts, maxNewTokens: p.maxNewTokens });
    });
  }
  return ctx.compute(chunks);
}

async function complete(o: ServerOptions, lm: AnyModel, ctx: RouteContext, format: ChatFormat | null): Promise<void> {
  const chat = format !== null;
  const p = plan(o, lm, await ctx.readJson(), format);
  const adapter = p.method === null ? undefined : p.model;
  tagRequest(ctx.res, { adapter });
  const rows = await generate(o, lm, ctx, p, adapter);
  if (rows === null) return; // the client left
  const done = rows.map((row) => finishText(o.tokenizer, row, p.stops, { trimStart: p.trimStart }));
  const promptTokens = p.prompts.reduce((n, x) => n + x.length, 0);
  const completionTokens = done.reduce((n, d) => n + d.tokens, 0);
  tagRequest(ctx.res, { promptTokens, completionTokens });
  const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  const head = { id: `${chat ? 'chatcmpl' : 'cmpl'}-${randomUUID().replaceAll('-', '')}`, created: created(), model: p.model };
  const close: Record<string, string> = ctx.closing ? { connection: 'close' } : {};
  if (!p.stream) {
    const choices = done.map((d, index) => (chat
      ? { index, message: { role: 'assistant', content: d.text }, logprobs: null, finish_reason: d.finishReason }
      : { index, text: d.text, logprobs: null, finish_reason: d.finishReason }));
    send(ctx.res, 200, { ...head, object: chat ? 'chat.completion' : 'text_completion', choices, usage }, close);
    return;
  }
  streamChoices(ctx.res, head, chat, done, p.includeUsage ? usage : null, close);
}

/** Server-sent events: per choice, a delta per token and one carrying finish_reason; then usage if asked; then [DONE]. */
function streamChoices(res: http.ServerResponse, head: { id: string; created: number; model: string }, chat: boolean,
  done: readonly FinishedText[], usage: Record<string, number> | null, headers: Record<string, string>): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...headers });
  const object = chat ? 'chat.completion.chunk' : 'text_completion';
  const event = (choices: unknown[], extra: Record<string, unknown> = {}) => {
    res.write(`data: ${JSON.stringify({ ...head, object, choices, ...(usage !== null ? { usage: null } : {}), ...extra })}\n\n`);
  };
  const choice = (index: number, text: string | null, finish: string | null, role = false) => (chat
    ? { index, delta: role ? { role: 'assistant', content: '' } : text === null ? {} : { content: text }, logprobs: null, finish_reason: finish }
    : { index, text: text ?? '', logprobs: null, finish_reason: finish });
  done.forEach((d, index) => {
    if (chat) event([choice(index, null, null, true)]); // the role comes first, as OpenAI sends it
    for (const delta of d.deltas) event([choice(index, delta, null)]);
    event([choice(index, null, d.finishReason)]);
  });
  if (usage !== null) event([], { usage });
  res.end('data: [DONE]\n\n');
}
