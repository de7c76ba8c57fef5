/**
 * OpenAI-compatible routes beside the native ones (vLLM's convention: `model` names an adapter, or the base model
 * for none):
 *
 *   GET  /v1/models             {"object": "list", "data": [{"id": <base model>}, {"id": <adapter>, "parent": <base>}…]}
 *   POST /v1/completions        {"model", "prompt": string | string[], "max_tokens"?: 16, "stop"?, "stream"?}
 *   POST /v1/chat/completions   {"model", "messages": [{role, content}], "max_tokens"?: min(256, cap), "stop"?, "stream"?}
 *
 * Decoding is greedy: `temperature` must be 0 or absent (400 `sampling_not_supported` otherwise). Every prompt
 * computes through the serving engine (engine.ts; on its worker thread under `softprompt serve`), batched with
 * the other requests where the engine batches the adapter. `stream: true` answers server-sent events in OpenAI's
 * chunk format ending with `data: [DONE]`, one delta per token as the engine decides it (text.ts TextStream holds
 * back partial characters and what may be the start of a stop sequence). Decoder-only models
 * (GPT-2, LLaMA) continue the prompt; T5 answers /v1/completions text-to-text (the prompt is its encoder input)
 * and refuses chat (400 `unsupported_model`); chat-template.ts says how messages become a prompt. Prompts are never truncated: longer than the adapter or the model
 * allows is a 400 `context_length_exceeded`. Every limit of /v1/predict applies (inputs, tokens per input,
 * max_tokens cap, queue, deadline, body size).
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { SoftpromptError } from '../../errors.js';
import type { PeftMethod } from '../../methods/method.js';
import type { ModelInfo } from '../../models/types.js';
import { BASE_MODEL, type RowResult } from '../engine.js';
import type { GeneratedRow } from '../generate.js';
import { clip, DEFAULT_LIMITS, describeValue, MAX_CHARS_PER_TOKEN } from '../limits.js';
import { tagRequest } from '../request-tags.js';
import { send, type RouteContext, type ServeRoute, type ServerOptions } from '../server.js';
import { ChatTemplateError, PLAIN_CHAT, type ChatFormat } from './chat-template.js';
import { OpenAIError, sendOpenAIError } from './errors.js';
import { chatRequestSchema, completionRequestSchema, type ChatRequest, type CompletionRequest } from './schema.js';
import { finishText, TextStream } from './text.js';

/** OpenAI's default max_tokens for completions; chat defaults to min(CHAT_DEFAULT_MAX_TOKENS, --max-new-tokens-cap). */
export const COMPLETION_DEFAULT_MAX_TOKENS = 16;
export const CHAT_DEFAULT_MAX_TOKENS = 256;

/** @param chat how messages become a prompt (chat-template.ts: the tokenizer's Jinja template, or the plain one) */
export function openaiRoute(o: ServerOptions, chat: ChatFormat = PLAIN_CHAT): ServeRoute {
  const info = o.engine?.info ?? o.model?.model.info;
  if (info === undefined) throw new SoftpromptError('invalid_config', 'The OpenAI-compatible routes need the serving engine (ServerOptions.engine) or the model.', { path: 'engine' });
  return async (ctx) => {
    const { req, res, url } = ctx;
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      send(res, 200, listModels(o));
      return true;
    }
    const isChat = url.pathname === '/v1/chat/completions';
    if (req.method !== 'POST' || (!isChat && url.pathname !== '/v1/completions')) return false;
    try {
      await complete(o, info, ctx, isChat ? chat : null);
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
function plan(o: ServerOptions, info: ModelInfo, body: unknown, format: ChatFormat | null): Plan {
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
  if (chat && info.kind !== 'causal') {
    throw new OpenAIError(400, 'unsupported_model', `Chat needs a decoder-only model; this ${info.architecture} model answers /v1/completions (text-to-text) instead.`, 'model');
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
  const positions = info.kind === 'causal' ? (info.maxPositions ?? Infinity) : Infinity;
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

/** A result row's generated ids, cut before EOS (results carry EOS when it ended the row). */
function generatedRow(r: RowResult, eosId: number): GeneratedRow {
  const end = r.ids.indexOf(eosId);
  return end < 0 ? { ids: r.ids, eos: false } : { ids: r.ids.slice(0, end), eos: true };
}

async function complete(o: ServerOptions, info: ModelInfo, ctx: RouteContext, format: ChatFormat | null): Promise<void> {
  const chat = format !== null;
  const p = plan(o, info, await ctx.readJson(), format);
  const adapter = p.method === null ? undefined : p.model;
  tagRequest(ctx.res, { adapter });
  const head = { id: `${chat ? 'chatcmpl' : 'cmpl'}-${randomUUID().replaceAll('-', '')}`, created: created(), model: p.model };
  const options = { mode: 'generate' as const, raw: true, maxNewTokens: p.maxNewTokens };
  const sse = p.stream ? new EventStream(ctx.res, head, chat, p.includeUsage) : null;
  const streams = p.prompts.map(() => new TextStream(o.tokenizer, p.stops, { trimStart: p.trimStart }));
  const onToken = (row: number, id: number) => {
    const delta = streams[row]!.push(id);
    if (delta !== '') sse!.delta(row, delta);
  };
  // submit first: a full queue is a 429 before any event is sent
  const pending = ctx.submit(adapter ?? BASE_MODEL, p.prompts, sse === null ? options : { ...options, onToken });
  sse?.open(p.prompts.length, ctx.closing ? { connection: 'close' } : {});
  const results = await pending;
  if (results === null) return; // the client left
  const done = results.map((r) => finishText(o.tokenizer, generatedRow(r, o.tokenizer.eosId), p.stops, { trimStart: p.trimStart }));
  const promptTokens = p.prompts.reduce((n, x) => n + x.length, 0);
  const completionTokens = done.reduce((n, d) => n + d.tokens, 0);
  tagRequest(ctx.res, { promptTokens, completionTokens });
  const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  if (sse === null) {
    const choices = done.map((d, index) => (chat
      ? { index, message: { role: 'assistant', content: d.text }, logprobs: null, finish_reason: d.finishReason }
      : { index, text: d.text, logprobs: null, finish_reason: d.finishReason }));
    send(ctx.res, 200, { ...head, object: chat ? 'chat.completion' : 'text_completion', choices, usage }, ctx.closing ? { connection: 'close' } : {});
    return;
  }
  done.forEach((d, index) => {
    const rest = streams[index]!.finish(d.text);
    if (rest !== '') sse.delta(index, rest);
  });
  sse.end(done.map((d) => d.finishReason), usage);
}

/**
 * Server-sent events in OpenAI's chunk format: per choice the role first (chat), then a delta per token as it
 * comes, then one event carrying each finish_reason; usage if asked; then [DONE].
 */
class EventStream {
  private readonly object: string;

  constructor(private readonly res: http.ServerResponse, private readonly head: { id: string; created: number; model: string },
    private readonly chat: boolean, private readonly withUsage: boolean) {
    this.object = chat ? 'chat.completion.chunk' : 'text_completion';
  }

  open(choices: number, headers: Record<string, string>): void {
    this.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...headers });
    this.res.flushHeaders();
    if (this.chat) for (let index = 0; index < choices; index++) this.event([this.choice(index, null, null, true)]); // the role first, as OpenAI sends it
  }

  delta(index: number, text: string): void {
    this.event([this.choice(index, text, null)]);
  }

  end(finishes: readonly string[], usage: Record<string, number>): void {
    finishes.forEach((f, index) => this.event([this.choice(index, null, f)]));
    if (this.withUsage) this.event([], { usage });
    this.res.end('data: [DONE]\n\n');
  }

  private event(choices: unknown[], extra: Record<string, unknown> = {}): void {
    if (this.res.destroyed) return;
    this.res.write(`data: ${JSON.stringify({ ...this.head, object: this.object, choices, ...(this.withUsage ? { usage: null } : {}), ...extra })}\n\n`);
  }

  private choice(index: number, text: string | null, finish: string | null, role = false) {
    return this.chat
      ? { index, delta: role ? { role: 'assistant', content: '' } : text === null ? {} : { content: text }, logprobs: null, finish_reason: finish }
      : { index, text: text ?? '', logprobs: null, finish_reason: finish };
  }
}
