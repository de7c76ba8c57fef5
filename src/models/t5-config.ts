/**
 * T5 configuration: the field names of Hugging Face's `config.json` (T5Config), unchanged, with named defaults.
 * Covers T5 v1.0 (ReLU, tied embeddings) and v1.1 / Flan-T5 (gated-GELU, untied lm_head).
 */
import { SoftpromptError } from '../errors.js';
import { Act } from '../engine/index.js';
import { configNumber } from './config-fields.js';

export interface T5Config {
  vocab_size: number;
  d_model: number;
  d_kv: number;
  d_ff: number;
  num_layers: number;
  num_decoder_layers: number;
  num_heads: number;
  relative_attention_num_buckets: number;
  relative_attention_max_distance: number;
  dropout_rate: number;
  layer_norm_epsilon: number;
  feed_forward_proj: string;
  tie_word_embeddings: boolean;
  pad_token_id: number;
  eos_token_id: number;
  decoder_start_token_id: number;
}

const DEFAULTS: T5Config = {
  vocab_size: 32128,
  d_model: 512,
  d_kv: 64,
  d_ff: 2048,
  num_layers: 6,
  num_decoder_layers: 6,
  num_heads: 8,
  relative_attention_num_buckets: 32,
  relative_attention_max_distance: 128,
  dropout_rate: 0.1,
  layer_norm_epsilon: 1e-6,
  feed_forward_proj: 'relu',
  tie_word_embeddings: true,
  pad_token_id: 0,
  eos_token_id: 1,
  decoder_start_token_id: 0,
};

/** The FFN variant `feed_forward_proj` names, as HF's T5Config.__init__ resolves it. */
export interface T5FeedForward {
  act: Act;
  gated: boolean;
}

const ACTIVATIONS: Record<string, Act> = {
  relu: Act.Relu,
  gelu: Act.GeluErf,
  gelu_new: Act.GeluTanh,
  gelu_pytorch_tanh: Act.GeluTanh,
  silu: Act.Silu,
  swish: Act.Silu,
};

export function t5FeedForward(cfg: T5Config, file = 'config.json'): T5FeedForward {
  const parts = cfg.feed_forward_proj.split('-');
  const gated = parts.length === 2 && parts[0] === 'gated';
  let actName = parts[parts.length - 1] ?? '';
  // HF: `if feed_forward_proj == "gated-gelu": self.dense_act_fn = "gelu_new"` (backwards compatibility)
  if (cfg.feed_forward_proj === 'gated-gelu') actName = 'gelu_new';
  const act = ACTIVATIONS[actName];
  if (act === undefined || parts.length > 2 || (parts.length === 2 && !gated)) {
    throw new SoftpromptError('unsupported',
      `Unknown feed_forward_proj "${cfg.feed_forward_proj}" in ${file}: expected "{ACT}" or "gated-{ACT}" with ACT one of ${Object.keys(ACTIVATIONS).join(', ')}.`,
      { path: 'feed_forward_proj', file });
  }
  return { act, gated };
}

function readNumber(json: Record<string, unknown>, key: keyof T5Config, file: string, integer: boolean): number {
  return configNumber(json, key, file, DEFAULTS[key], { integer });
}

export function parseT5Config(json: unknown, file = 'config.json'): T5Config {
  if (typeof json !== 'object' || json === null) {
    throw new SoftpromptError('invalid_config', `${file} must hold a JSON object.`, { file });
  }
  const j = json as Record<string, unknown>;
  if (j['model_type'] !== undefined && j['model_type'] !== 't5' && j['model_type'] !== 'mt5') {
    throw new SoftpromptError('unsupported', `${file} describes model_type "${String(j['model_type'])}", not t5.`,
      { path: 'model_type', file });
  }
  const ints: (keyof T5Config)[] = ['vocab_size', 'd_model', 'd_kv', 'd_ff', 'num_layers', 'num_heads',
    'relative_attention_num_buckets', 'relative_attention_max_distance', 'pad_token_id', 'eos_token_id',
    'decoder_start_token_id'];
  const cfg = { ...DEFAULTS } as T5Config;
  const rec = cfg as unknown as Record<string, unknown>;
  for (const k of ints) rec[k] = readNumber(j, k, file, true);
  rec['num_decoder_layers'] = j['num_decoder_layers'] === undefined || j['num_decoder_layers'] === null
    ? cfg.num_layers : readNumber(j, 'num_decoder_layers', file, true);
  cfg.dropout_rate = readNumber(j, 'dropout_rate', file, false);
  cfg.layer_norm_epsilon = readNumber(j, 'layer_norm_epsilon', file, false);
  if (j['feed_forward_proj'] !== undefined) {
    if (typeof j['feed_forward_proj'] !== 'string') {
      throw new SoftpromptError('invalid_config', `feed_forward_proj in ${file} must be a string.`,
        { path: 'feed_forward_proj', file });
    }
    cfg.feed_forward_proj = j['feed_forward_proj'];
  }
  if (j['tie_word_embeddings'] !== undefined) cfg.tie_word_embeddings = j['tie_word_embeddings'] !== false;
  for (const k of ['d_model', 'd_kv', 'num_heads', 'vocab_size', 'd_ff', 'num_layers', 'num_decoder_layers'] as const) {
    if (cfg[k] === 0) throw new SoftpromptError('invalid_config', `${k} in ${file} must be > 0.`, { path: k, file });
  }
  if (cfg.dropout_rate >= 1) {
    throw new SoftpromptError('invalid_config', `dropout_rate in ${file} must be < 1, got ${cfg.dropout_rate}.`,
      { path: 'dropout_rate', file });
  }
  t5FeedForward(cfg, file); // validate now, not at first forward
  return cfg;
}
