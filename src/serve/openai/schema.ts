/**
 * The request bodies of /v1/completions and /v1/chat/completions as this server reads them. Fields OpenAI
 * clients send by default are accepted; fields the server cannot honour are refused when set to anything but
 * their neutral value (n > 1, temperature > 0, penalties, logprobs, logit_bias, echo, suffix, tools), so a client
 * never gets silently different semantics. Unknown fields are ignored, as OpenAI-compatible servers do.
 */
import { z } from 'zod';

const neutral = <T extends z.ZodType>(schema: T) => schema.nullish();

const common = {
  model: z.string().min(1).max(4096),
  max_tokens: z.number().int().min(1).nullish(),
  /** greedy decoding only: 0 (or absent) */
  temperature: z.number().min(0).max(2).nullish(),
  /** any value: the greedy token is in every nucleus */
  top_p: z.number().gt(0).max(1).nullish(),
  n: neutral(z.literal(1, { error: 'n must be 1: one choice per prompt' })),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  stop: z.union([z.string().min(1).max(200), z.array(z.string().min(1).max(200)).max(4)], { error: 'expected a string or up to 4 strings (1-200 characters each)' }).nullish(),
  presence_penalty: neutral(z.literal(0, { error: 'presence_penalty must be 0 (penalties are not supported)' })),
  frequency_penalty: neutral(z.literal(0, { error: 'frequency_penalty must be 0 (penalties are not supported)' })),
  logit_bias: neutral(z.record(z.string(), z.number()).refine((m) => Object.keys(m).length === 0, 'logit_bias is not supported')),
  /** decoding is greedy, so every seed gives the same answer */
  seed: z.number().int().nullish(),
  user: z.string().max(1000).nullish(),
};

export const completionRequestSchema = z.looseObject({
  ...common,
  prompt: z.union([z.string(), z.array(z.string()).min(1)], { error: 'expected a string or a non-empty array of strings (token-id prompts are not supported)' }),
  echo: neutral(z.literal(false, { error: 'echo is not supported' })),
  logprobs: neutral(z.literal(0, { error: 'logprobs are not supported' })),
  best_of: neutral(z.literal(1, { error: 'best_of must be 1' })),
  suffix: neutral(z.literal('', { error: 'suffix is not supported' })),
});

const textPart = z.object({ type: z.literal('text'), text: z.string() });

const message = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant'], { error: 'expected role "system", "developer", "user" or "assistant" (tools are not supported)' }),
  content: z.union([z.string(), z.array(textPart)], { error: 'expected a string or an array of {"type": "text", "text"} parts' }),
  name: z.string().max(200).optional(),
});

export const chatRequestSchema = z.looseObject({
  ...common,
  messages: z.array(message).min(1),
  max_completion_tokens: z.number().int().min(1).nullish(),
  logprobs: neutral(z.literal(false, { error: 'logprobs are not supported' })),
  top_logprobs: neutral(z.literal(0, { error: 'top_logprobs are not supported' })),
  tools: neutral(z.array(z.unknown()).max(0, 'tools are not supported')),
  tool_choice: neutral(z.literal('none', { error: 'tool_choice is not supported' })),
  response_format: neutral(z.object({ type: z.literal('text', { error: 'only response_format {"type": "text"} is supported' }) })),
});

export type CompletionRequest = z.output<typeof completionRequestSchema>;
export type ChatRequest = z.output<typeof chatRequestSchema>;
