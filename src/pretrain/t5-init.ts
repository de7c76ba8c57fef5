/**
 * A new T5 initialised as Hugging Face's `T5PreTrainedModel._init_weights` does (transformers 5.18,
 * models/t5/modeling_t5.py), with f = config.initializer_factor (default 1):
 *
 *   shared, lm_head (untied)          N(0, f)
 *   attention q                       N(0, f·(d_model·d_kv)^-½)   (T5 does not scale scores by d_kv^-½)
 *   attention k, v                    N(0, f·d_model^-½)
 *   attention o                       N(0, f·(num_heads·d_kv)^-½)
 *   relative_attention_bias           N(0, f·d_model^-½)
 *   wi, wi_0, wi_1                    N(0, f·d_model^-½)
 *   wo                                N(0, f·d_ff^-½)
 *   layer norms                       f
 *
 * Each tensor draws from its own Rng stream (seed, index in t5TensorTable), so the values do not depend on
 * which other tensors exist.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import { atomicWriteFile } from '../io/atomic.js';
import { CONFIG_FILE } from '../io/hf-folder.js';
import { writeModelWeights, type WrittenWeights } from '../io/hf-folder-writer.js';
import { Rng } from '../train/rng.js';
import { parseT5Config, type T5Config } from '../models/t5-config.js';
import { t5TensorTable } from '../models/t5.js';

export type T5InitRule = { kind: 'normal'; std: number } | { kind: 'constant'; value: number };

/** The initialisation of HF tensor `name` (a t5TensorTable name). */
export function t5InitRule(name: string, cfg: T5Config, factor = 1): T5InitRule {
  const normal = (std: number): T5InitRule => ({ kind: 'normal', std: factor * std });
  const leaf = name.split('.').slice(-2).join('.');
  if (name.endsWith('layer_norm.weight')) return { kind: 'constant', value: factor };
  if (name === 'shared.weight' || name === 'lm_head.weight') return normal(1);
  if (name.endsWith('relative_attention_bias.weight')) return normal(cfg.d_model ** -0.5);
  switch (leaf) {
    case 'q.weight': return normal((cfg.d_model * cfg.d_kv) ** -0.5);
    case 'k.weight':
    case 'v.weight': return normal(cfg.d_model ** -0.5);
    case 'o.weight': return normal((cfg.num_heads * cfg.d_kv) ** -0.5);
    case 'wi.weight':
    case 'wi_0.weight':
    case 'wi_1.weight': return normal(cfg.d_model ** -0.5);
    case 'wo.weight': return normal(cfg.d_ff ** -0.5);
  }
  throw new SoftpromptError('unsupported', `No T5 initialisation rule for tensor "${name}".`, { path: name });
}

/** `initializer_factor` of a config.json (HF default 1.0). */
export function initializerFactor(json: Record<string, unknown>, file = 'config.json'): number {
  const f = json['initializer_factor'] ?? 1;
  if (typeof f !== 'number' || !(f > 0) || !Number.isFinite(f)) {
    throw new SoftpromptError('invalid_config', `initializer_factor in ${file} must be a positive number, got ${JSON.stringify(f)}.`, { file, path: 'initializer_factor' });
  }
  return f;
}

/** Every tensor of a fresh T5 (tied copies not stored), in t5TensorTable order. */
export function initT5Weights(cfg: T5Config, seed: number, factor = 1): Record<string, { shape: number[]; data: Float32Array }> {
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  t5TensorTable(cfg).forEach(({ name, shape }, index) => {
    const rule = t5InitRule(name, cfg, factor);
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (rule.kind === 'constant') data.fill(rule.value);
    else {
      const rng = new Rng(seed, index);
      for (let i = 0; i < data.length; i++) data[i] = rng.normal(0, rule.std);
    }
    out[name] = { shape, data };
  });
  return out;
}

/**
 * The config.json of a new model: the user's fields, completed with every T5Config field softprompt reads so
 * that transformers and softprompt agree on defaults.
 */
export function completeT5ConfigJson(json: Record<string, unknown>, file = 'config.json'): { config: T5Config; json: Record<string, unknown> } {
  const config = parseT5Config(json, file);
  const full: Record<string, unknown> = {
    architectures: ['T5ForConditionalGeneration'],
    model_type: 't5',
    ...json,
    ...config,
    initializer_factor: initializerFactor(json, file),
    is_encoder_decoder: true,
  };
  return { config, json: full };
}

/** T5Config's float fields; transformers 5 validates their type strictly, so 1 must be written 1.0. */
const FLOAT_FIELDS = ['initializer_factor', 'dropout_rate', 'layer_norm_epsilon', 'classifier_dropout'];

export function configJsonText(json: Record<string, unknown>): string {
  const text = JSON.stringify(json, null, 2);
  const floats = new RegExp(`^(  "(?:${FLOAT_FIELDS.join('|')})": -?\\d+)(,?)$`, 'gm');
  return text.replace(floats, '$1.0$2') + '\n';
}

export interface NewT5FolderOptions {
  seed: number;
  /** default BF16 */
  dtype?: 'F32' | 'BF16';
  maxShardBytes?: number;
}

/** A freshly initialised T5 as an HF folder: config.json + model.safetensors (or shards + index). */
export function writeNewT5Folder(dir: string, configJson: Record<string, unknown>, opts: NewT5FolderOptions, file = 'config.json'): WrittenWeights & { config: T5Config } {
  const { config, json } = completeT5ConfigJson(configJson, file);
  const weights = initT5Weights(config, opts.seed, json['initializer_factor'] as number);
  fs.mkdirSync(dir, { recursive: true });
  const dtype = opts.dtype ?? 'BF16';
  const written = writeModelWeights(dir, weights, { dtype, ...(opts.maxShardBytes === undefined ? {} : { maxShardBytes: opts.maxShardBytes }) });
  atomicWriteFile(path.join(dir, CONFIG_FILE), configJsonText({ ...json, dtype: dtype === 'BF16' ? 'bfloat16' : 'float32' }));
  return { ...written, config };
}
