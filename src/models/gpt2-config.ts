/**
 * GPT-2 configuration: the field names of Hugging Face's `config.json` (GPT2Config), unchanged, with named
 * defaults (those of GPT2Config.__init__, i.e. the 124M `gpt2` checkpoint).
 */
import { preview, SoftpromptError } from '../errors.js';
import { Act } from '../engine/index.js';
import { configNumber } from './config-fields.js';

export interface GPT2Config {
  vocab_size: number;
  /** longest sequence (learned absolute position embeddings wpe) */
  n_positions: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  /** MLP width; null = 4 * n_embd */
  n_inner: number | null;
  activation_function: string;
  resid_pdrop: number;
  embd_pdrop: number;
  attn_pdrop: number;
  layer_norm_epsilon: number;
  /** divide scores by sqrt(head_dim) */
  scale_attn_weights: boolean;
  /** also divide scores by (layer index + 1) */
  scale_attn_by_inverse_layer_idx: boolean;
  /** upcast q·k to fp32 (a numerics-only switch; this engine is fp32 throughout) */
  reorder_and_upcast_attn: boolean;
  add_cross_attention: boolean;
  tie_word_embeddings: boolean;
  bos_token_id: number | null;
  eos_token_id: number | null;
  pad_token_id: number | null;
}

export const GPT2_DEFAULTS: Readonly<GPT2Config> = {
  vocab_size: 50257,
  n_positions: 1024,
  n_embd: 768,
  n_layer: 12,
  n_head: 12,
  n_inner: null,
  activation_function: 'gelu_new',
  resid_pdrop: 0.1,
  embd_pdrop: 0.1,
  attn_pdrop: 0.1,
  layer_norm_epsilon: 1e-5,
  scale_attn_weights: true,
  scale_attn_by_inverse_layer_idx: false,
  reorder_and_upcast_attn: false,
  add_cross_attention: false,
  tie_word_embeddings: true,
  bos_token_id: 50256,
  eos_token_id: 50256,
  pad_token_id: null,
};

/** transformers' ACT2FN names this engine implements. */
const ACTIVATIONS: Readonly<Record<string, Act>> = {
  relu: Act.Relu,
  gelu: Act.GeluErf,
  gelu_new: Act.GeluTanh,
  gelu_pytorch_tanh: Act.GeluTanh,
  silu: Act.Silu,
  swish: Act.Silu,
};

export function gpt2Activation(cfg: GPT2Config, file = 'config.json'): Act {
  const act = ACTIVATIONS[cfg.activation_function];
  if (act === undefined) {
    throw new SoftpromptError('unsupported',
      `Unknown activation_function "${cfg.activation_function}" in ${file}: expected one of ${Object.keys(ACTIVATIONS).join(', ')}.`,
      { path: 'activation_function', file });
  }
  return act;
}

/** MLP width F: n_inner, or 4 * n_embd when null. */
export function gpt2Inner(cfg: GPT2Config): number {
  return cfg.n_inner ?? 4 * cfg.n_embd;
}

type NumKey = 'vocab_size' | 'n_positions' | 'n_embd' | 'n_layer' | 'n_head' | 'resid_pdrop' | 'embd_pdrop' |
  'attn_pdrop' | 'layer_norm_epsilon';
type OptIntKey = 'n_inner' | 'bos_token_id' | 'eos_token_id' | 'pad_token_id';
type BoolKey = 'scale_attn_weights' | 'scale_attn_by_inverse_layer_idx' | 'reorder_and_upcast_attn' |
  'add_cross_attention' | 'tie_word_embeddings';

function readNumber(j: Record<string, unknown>, key: NumKey, file: string, integer: boolean): number {
  return configNumber(j, key, file, GPT2_DEFAULTS[key], { integer });
}

/** An integer field where null is meaningful (no eos, no pad, default n_inner). */
function readOptionalInt(j: Record<string, unknown>, key: OptIntKey, file: string): number | null {
  if (!(key in j)) return GPT2_DEFAULTS[key];
  const v = j[key];
  if (v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new SoftpromptError('invalid_config', `${key} in ${file} must be a non-negative integer or null, got ${preview(v)}.`,
      { path: key, file });
  }
  return v;
}

function readBool(j: Record<string, unknown>, key: BoolKey, file: string): boolean {
  const v = j[key] ?? GPT2_DEFAULTS[key];
  if (typeof v !== 'boolean') {
    throw new SoftpromptError('invalid_config', `${key} in ${file} must be true or false, got ${preview(v)}.`, { path: key, file });
  }
  return v;
}

export function parseGPT2Config(json: unknown, file = 'config.json'): GPT2Config {
  if (typeof json !== 'object' || json === null) {
    throw new SoftpromptError('invalid_config', `${file} must hold a JSON object.`, { file });
  }
  const j = json as Record<string, unknown>;
  if (j['model_type'] !== undefined && j['model_type'] !== 'gpt2') {
    throw new SoftpromptError('unsupported', `${file} describes model_type "${String(j['model_type'])}", not gpt2.`,
      { path: 'model_type', file });
  }
  const act = j['activation_function'] ?? GPT2_DEFAULTS.activation_function;
  if (typeof act !== 'string') {
    throw new SoftpromptError('invalid_config', `activation_function in ${file} must be a string.`, { path: 'activation_function', file });
  }
  const cfg: GPT2Config = {
    vocab_size: readNumber(j, 'vocab_size', file, true),
    n_positions: readNumber(j, 'n_positions', file, true),
    n_embd: readNumber(j, 'n_embd', file, true),
    n_layer: readNumber(j, 'n_layer', file, true),
    n_head: readNumber(j, 'n_head', file, true),
    n_inner: readOptionalInt(j, 'n_inner', file),
    activation_function: act,
    resid_pdrop: readNumber(j, 'resid_pdrop', file, false),
    embd_pdrop: readNumber(j, 'embd_pdrop', file, false),
    attn_pdrop: readNumber(j, 'attn_pdrop', file, false),
    layer_norm_epsilon: readNumber(j, 'layer_norm_epsilon', file, false),
    scale_attn_weights: readBool(j, 'scale_attn_weights', file),
    scale_attn_by_inverse_layer_idx: readBool(j, 'scale_attn_by_inverse_layer_idx', file),
    reorder_and_upcast_attn: readBool(j, 'reorder_and_upcast_attn', file),
    add_cross_attention: readBool(j, 'add_cross_attention', file),
    tie_word_embeddings: readBool(j, 'tie_word_embeddings', file),
    bos_token_id: readOptionalInt(j, 'bos_token_id', file),
    eos_token_id: readOptionalInt(j, 'eos_token_id', file),
    pad_token_id: readOptionalInt(j, 'pad_token_id', file),
  };
  for (const k of ['vocab_size', 'n_positions', 'n_embd', 'n_head'] as const) {
    if (cfg[k] === 0) throw new SoftpromptError('invalid_config', `${k} in ${file} must be > 0.`, { path: k, file });
  }
  if (cfg.n_inner === 0) throw new SoftpromptError('invalid_config', `n_inner in ${file} must be > 0 or null.`, { path: 'n_inner', file });
  if (cfg.n_embd % cfg.n_head !== 0) {
    throw new SoftpromptError('invalid_config', `n_embd (${cfg.n_embd}) in ${file} must be divisible by n_head (${cfg.n_head}).`,
      { path: 'n_embd', file });
  }
  for (const k of ['resid_pdrop', 'embd_pdrop', 'attn_pdrop'] as const) {
    if (cfg[k] >= 1) throw new SoftpromptError('invalid_config', `${k} in ${file} must be < 1, got ${cfg[k]}.`, { path: k, file });
  }
  if (cfg.add_cross_attention) {
    throw new SoftpromptError('unsupported', `add_cross_attention=true in ${file}: GPT-2 with cross-attention (encoder-decoder use) is not supported.`,
      { path: 'add_cross_attention', file });
  }
  for (const k of ['eos_token_id', 'pad_token_id'] as const) {
    const v = cfg[k];
    if (v !== null && v >= cfg.vocab_size) {
      throw new SoftpromptError('invalid_config', `${k} in ${file} is ${v}, outside the vocabulary [0, ${cfg.vocab_size}).`, { path: k, file });
    }
  }
  gpt2Activation(cfg, file); // validate now, not at first forward
  return cfg;
}
