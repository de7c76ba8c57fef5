/**
 * LLaMA configuration: the field names of Hugging Face's `config.json` (LlamaConfig), unchanged, with HF's
 * defaults. RoPE settings are read from transformers 5's `rope_parameters` or from the older `rope_theta` +
 * `rope_scaling` pair, and resolved into `rope`.
 */
import { preview, SoftpromptError } from '../errors.js';
import { SUPPORTED_ROPE_TYPES, type RopeParams } from './rope.js';
import { configNumber } from './config-fields.js';

export interface LlamaConfig {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  /** GQA: key/value heads, each serving num_attention_heads / num_key_value_heads query heads */
  num_key_value_heads: number;
  head_dim: number;
  hidden_act: string;
  max_position_embeddings: number;
  rms_norm_eps: number;
  tie_word_embeddings: boolean;
  attention_dropout: number;
  pad_token_id: number | null;
  bos_token_id: number | null;
  /** one id, several (Llama 3 instruct), or none */
  eos_token_id: number[] | null;
  rope_theta: number;
  /** the resolved rope_type and its parameters */
  rope: RopeParams;
}

/** LlamaConfig.__init__ defaults (num_key_value_heads and head_dim default from the other fields). */
const DEFAULTS = {
  vocab_size: 32000,
  hidden_size: 4096,
  intermediate_size: 11008,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  hidden_act: 'silu',
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-6,
  tie_word_embeddings: false,
  attention_dropout: 0,
  pad_token_id: null,
  bos_token_id: 1,
  eos_token_id: 2,
  rope_theta: 10000,
} as const;

/** hidden_act values whose LlamaMLP is SwiGLU, down(silu(gate(x)) * up(x)) */
const SILU_NAMES = ['silu', 'swish'];

type Json = Record<string, unknown>;

function invalid(key: string, file: string, what: string, got: unknown): SoftpromptError {
  return new SoftpromptError('invalid_config', `${key} in ${file} must be ${what}, got ${preview(got)}.`, { path: key, file });
}

/** Llama fields default to positive integers. */
function num(j: Json, key: string, file: string, fallback: number | undefined, opts: { integer?: boolean; positive?: boolean } = {}): number {
  return configNumber(j, key, file, fallback, { integer: opts.integer ?? true, positive: opts.positive ?? true });
}

/** A token id field: absent → HF default, null → none. */
function tokenId(j: Json, key: 'pad_token_id' | 'bos_token_id', file: string): number | null {
  if (!(key in j)) return DEFAULTS[key];
  const v = j[key];
  if (v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw invalid(key, file, 'a token id or null', v);
  return v;
}

function eosIds(j: Json, file: string): number[] | null {
  const v = 'eos_token_id' in j ? j['eos_token_id'] : DEFAULTS.eos_token_id;
  if (v === null) return null;
  const ids = Array.isArray(v) ? v : [v];
  if (ids.length === 0 || !ids.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0)) {
    throw invalid('eos_token_id', file, 'a token id, a list of token ids or null', v);
  }
  return ids as number[];
}

/** rope_parameters (transformers >= 5) or rope_theta + rope_scaling (transformers 4). */
function parseRope(j: Json, file: string): { theta: number; rope: RopeParams } {
  const params = j['rope_parameters'];
  const v5 = typeof params === 'object' && params !== null;
  const field = v5 ? 'rope_parameters' : 'rope_scaling';
  const scaling = (v5 ? params : j['rope_scaling']) as Json | null | undefined;
  if (scaling !== undefined && scaling !== null && (typeof scaling !== 'object' || Array.isArray(scaling))) {
    throw invalid(field, file, 'an object or null', scaling);
  }
  const s: Json = scaling ?? {};
  const theta = v5 && s['rope_theta'] !== undefined
    ? num(s, 'rope_theta', `${file} (${field})`, undefined, { integer: false })
    : num(j, 'rope_theta', file, DEFAULTS.rope_theta, { integer: false });
  const type = s['rope_type'] ?? s['type'] ?? 'default';
  const where = `${file} (${field})`;
  switch (type) {
    case 'default':
      return { theta, rope: { type: 'default', theta } };
    case 'linear':
      return { theta, rope: { type: 'linear', theta, factor: num(s, 'factor', where, undefined, { integer: false }) } };
    case 'llama3': {
      const rope: RopeParams = {
        type: 'llama3', theta,
        factor: num(s, 'factor', where, undefined, { integer: false }),
        lowFreqFactor: num(s, 'low_freq_factor', where, undefined, { integer: false }),
        highFreqFactor: num(s, 'high_freq_factor', where, undefined, { integer: false }),
        originalMaxPositionEmbeddings: num(s, 'original_max_position_embeddings', where, undefined),
      };
      if (!(rope.highFreqFactor > rope.lowFreqFactor)) {
        throw invalid(`${field}.high_freq_factor`, file, `> low_freq_factor (${rope.lowFreqFactor})`, rope.highFreqFactor);
      }
      return { theta, rope };
    }
    default:
      throw new SoftpromptError('unsupported',
        `${field} rope_type ${JSON.stringify(type)} in ${file} is not supported; this version implements ${SUPPORTED_ROPE_TYPES.join(', ')}.`,
        { path: `${field}.rope_type`, file });
  }
}

function unsupportedIf(cond: boolean, key: string, file: string, msg: string): void {
  if (cond) throw new SoftpromptError('unsupported', `${key} in ${file}: ${msg}`, { path: key, file });
}

export function parseLlamaConfig(json: unknown, file = 'config.json'): LlamaConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SoftpromptError('invalid_config', `${file} must hold a JSON object.`, { file });
  }
  const j = json as Json;
  if (j['model_type'] !== undefined && j['model_type'] !== 'llama') {
    throw new SoftpromptError('unsupported', `${file} describes model_type "${String(j['model_type'])}", not llama.`, { path: 'model_type', file });
  }
  const hidden_size = num(j, 'hidden_size', file, DEFAULTS.hidden_size);
  const num_attention_heads = num(j, 'num_attention_heads', file, DEFAULTS.num_attention_heads);
  const num_key_value_heads = num(j, 'num_key_value_heads', file, num_attention_heads);
  if (num_attention_heads % num_key_value_heads !== 0) {
    throw invalid('num_key_value_heads', file, `a divisor of num_attention_heads (${num_attention_heads})`, num_key_value_heads);
  }
  if (j['head_dim'] === undefined && hidden_size % num_attention_heads !== 0) {
    throw invalid('hidden_size', file, `a multiple of num_attention_heads (${num_attention_heads}) when head_dim is not given`, hidden_size);
  }
  const head_dim = num(j, 'head_dim', file, Math.floor(hidden_size / num_attention_heads));
  if (head_dim % 2 !== 0) throw invalid('head_dim', file, 'even (RoPE rotates pairs)', head_dim);
  const hidden_act = j['hidden_act'] ?? DEFAULTS.hidden_act;
  if (typeof hidden_act !== 'string') throw invalid('hidden_act', file, 'a string', hidden_act);
  unsupportedIf(!SILU_NAMES.includes(hidden_act), 'hidden_act', file,
    `${JSON.stringify(hidden_act)} is not supported; LLaMA's MLP is implemented for ${SILU_NAMES.join(' / ')} (SwiGLU).`);
  unsupportedIf(j['attention_bias'] === true, 'attention_bias', file, 'q/k/v/o projection biases are not supported.');
  unsupportedIf(j['mlp_bias'] === true, 'mlp_bias', file, 'MLP projection biases are not supported.');
  const attention_dropout = num(j, 'attention_dropout', file, DEFAULTS.attention_dropout, { integer: false, positive: false });
  if (attention_dropout >= 1) throw invalid('attention_dropout', file, '< 1', attention_dropout);
  const { theta, rope } = parseRope(j, file);
  return {
    vocab_size: num(j, 'vocab_size', file, DEFAULTS.vocab_size),
    hidden_size,
    intermediate_size: num(j, 'intermediate_size', file, DEFAULTS.intermediate_size),
    num_hidden_layers: num(j, 'num_hidden_layers', file, DEFAULTS.num_hidden_layers),
    num_attention_heads,
    num_key_value_heads,
    head_dim,
    hidden_act,
    max_position_embeddings: num(j, 'max_position_embeddings', file, DEFAULTS.max_position_embeddings),
    rms_norm_eps: num(j, 'rms_norm_eps', file, DEFAULTS.rms_norm_eps, { integer: false, positive: false }),
    tie_word_embeddings: j['tie_word_embeddings'] === undefined ? DEFAULTS.tie_word_embeddings : j['tie_word_embeddings'] === true,
    attention_dropout,
    pad_token_id: tokenId(j, 'pad_token_id', file),
    bos_token_id: tokenId(j, 'bos_token_id', file),
    eos_token_id: eosIds(j, file),
    rope_theta: theta,
    rope,
  };
}
