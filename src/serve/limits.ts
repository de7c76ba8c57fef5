/**
 * Request limits the server enforces before any compute: JSON nesting depth (checked by a flat scan, so a
 * 300k-deep body never reaches the recursive JSON.parse), the request schema with caps, and short descriptions
 * of offending values (an error never echoes a 100k-item array back).
 */
import { z } from 'zod';

export interface RequestLimits {
  /** inputs per request */
  maxInputs: number;
  /** tokens per input (before the adapter's truncation); longer inputs are refused, not truncated */
  maxInputTokens: number;
  /** the largest `maxNewTokens` a request may ask for */
  maxNewTokensCap: number;
}

export const DEFAULT_LIMITS: RequestLimits = { maxInputs: 256, maxInputTokens: 1024, maxNewTokensCap: 512 };

/** Requests are two levels deep; anything past this is refused before parsing. */
export const MAX_JSON_DEPTH = 32;

/** Characters per token bound: an input longer than maxInputTokens × this is refused without tokenizing it. */
export const MAX_CHARS_PER_TOKEN = 32;

/** Deepest `[`/`{` nesting in a JSON text (strings skipped), stopping early once `limit` is passed. */
export function jsonDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return max;
}

/** A value as an error message shows it: its kind and size, and at most a short prefix of a string. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') {
    return v.length <= 40 ? JSON.stringify(v) : `a string of ${v.length} characters (${JSON.stringify(v.slice(0, 24))}…)`;
  }
  if (Array.isArray(v)) return `an array of ${v.length} item${v.length === 1 ? '' : 's'}`;
  if (typeof v === 'object') return `an object with ${Object.keys(v).length} key(s)`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return typeof v;
}

/** Cut a message to `max` characters: the last guard against echoing user data at length. */
export function clip(message: string, max = 400): string {
  return message.length <= max ? message : `${message.slice(0, max - 1)}…`;
}

export function predictRequestSchema(l: RequestLimits) {
  return z.strictObject({
    adapter: z.string().min(1).max(200),
    inputs: z.union([z.string(), z.array(z.string()).min(1)], { error: 'expected a string or a non-empty array of strings' }),
    task: z.string().max(200).optional(),
    mode: z.enum(['generate', 'rank']).default('generate'),
    labels: z.array(z.string().min(1).max(1000)).min(2).max(1000).optional(),
    maxNewTokens: z.number().int().min(1).default(Math.min(20, l.maxNewTokensCap)),
  });
}

export type PredictRequest = z.output<ReturnType<typeof predictRequestSchema>>;
