/**
 * LoRA adapter folders exactly as PEFT saves them (`PeftModel.save_pretrained`), so `PeftModel.from_pretrained`
 * loads ours with no missing or unexpected keys and PEFT-trained adapters load here:
 *
 *   adapter_config.json         peft_type "LORA", r, lora_alpha, lora_dropout, target_modules, use_rslora, …
 *   adapter_model.safetensors   base_model.model.<module path>.lora_A.weight (r, in)
 *                               base_model.model.<module path>.lora_B.weight (out, r)      F32, {"format": "pt"}
 *
 * Features PEFT has and softprompt does not run (DoRA, per-module rank/alpha patterns, LoRA biases, layer
 * subsets, modules_to_save) are refused by name on load rather than silently ignored.
 */
import { SoftpromptError } from '../../errors.js';
import type { WritableTensor } from '../../io/safetensors.js';
import type { LinearModule } from '../../models/types.js';
import { validateLoraConfig, type LoraConfig } from './config.js';

export const LORA_KEY_PREFIX = 'base_model.model.';

export function loraKeyA(module: string): string {
  return `${LORA_KEY_PREFIX}${module}.lora_A.weight`;
}
export function loraKeyB(module: string): string {
  return `${LORA_KEY_PREFIX}${module}.lora_B.weight`;
}

export interface LoraPairData {
  module: string;
  A: Float32Array; // (r, in)
  B: Float32Array; // (out, r)
  inFeatures: number;
  outFeatures: number;
}

/** PEFT's adapter_config.json for a LoRA adapter (the keys PEFT 0.21 writes that matter for loading). */
export function loraAdapterConfigJson(c: LoraConfig, targets: readonly string[], info: {
  baseModel: string; taskType: 'SEQ_2_SEQ_LM' | 'CAUSAL_LM' | null; fanInFanOut: boolean;
}): Record<string, unknown> {
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: info.baseModel,
    bias: 'none',
    exclude_modules: null,
    fan_in_fan_out: info.fanInFanOut,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: c.loraAlpha,
    lora_bias: false,
    lora_dropout: c.loraDropout,
    modules_to_save: null,
    peft_type: 'LORA',
    r: c.r,
    rank_pattern: {},
    revision: null,
    target_modules: [...targets],
    task_type: info.taskType,
    use_dora: false,
    use_rslora: c.useRslora,
  };
}

export function loraTensors(pairs: readonly LoraPairData[]): Record<string, WritableTensor> {
  const out: Record<string, WritableTensor> = {};
  for (const p of pairs) {
    const r = p.A.length / p.inFeatures;
    out[loraKeyA(p.module)] = { dtype: 'F32', shape: [r, p.inFeatures], data: p.A };
    out[loraKeyB(p.module)] = { dtype: 'F32', shape: [p.outFeatures, r], data: p.B };
  }
  return out;
}

function field(json: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(json, key) ? json[key] : undefined;
}

/** The LoraConfig of a PEFT adapter_config.json; unsupported PEFT features are refused by name. */
export function loraConfigFromAdapter(json: Record<string, unknown>, file: string): LoraConfig {
  const refuse = (key: string, why: string) => {
    throw new SoftpromptError('unsupported', `${file}: ${key} ${why}; softprompt runs plain LoRA (uniform r and lora_alpha, no bias, every layer).`, { file, path: key });
  };
  if (field(json, 'use_dora') === true) refuse('use_dora', 'is true (DoRA)');
  for (const key of ['rank_pattern', 'alpha_pattern']) {
    const v = field(json, key);
    if (v !== undefined && v !== null && (typeof v !== 'object' || Object.keys(v as object).length > 0)) refuse(key, 'is not empty');
  }
  const bias = field(json, 'bias');
  if (bias !== undefined && bias !== 'none') refuse('bias', `is ${JSON.stringify(bias)}`);
  if (field(json, 'lora_bias') === true) refuse('lora_bias', 'is true');
  const ltt = field(json, 'layers_to_transform');
  if (ltt !== undefined && ltt !== null) refuse('layers_to_transform', 'is set');
  const mts = field(json, 'modules_to_save');
  if (Array.isArray(mts) && mts.length > 0) refuse('modules_to_save', 'is not empty');
  const tm = field(json, 'target_modules');
  if (typeof tm === 'string') refuse('target_modules', 'is a regular expression');
  const raw: Record<string, unknown> = {
    r: field(json, 'r'), loraAlpha: field(json, 'lora_alpha'), loraDropout: field(json, 'lora_dropout') ?? 0,
    useRslora: field(json, 'use_rslora') ?? false,
  };
  if (Array.isArray(tm)) raw['targetModules'] = tm;
  try {
    return validateLoraConfig(raw);
  } catch (err) {
    if (err instanceof SoftpromptError) throw new SoftpromptError(err.code, `${file}: ${err.message}`, { file, ...(err.path !== undefined ? { path: err.path } : {}) });
    throw err;
  }
}

/** Read access to an adapter's tensors (a SafetensorsFile or a torch .bin state dict). */
export interface TensorSource {
  names(): string[];
  shape(name: string): readonly number[];
  getF32(name: string): Float32Array;
}

/**
 * The LoRA pairs of an adapter's tensors, checked against the model's linear modules: every key must be a
 * lora_A/lora_B of a module the model has, both halves present, shapes (r, in) and (out, r). Errors name the
 * tensor and both shapes.
 */
export function readLoraPairs(src: TensorSource, r: number, modules: readonly LinearModule[], file: string): LoraPairData[] {
  const byName = new Map(modules.map((m) => [m.name, m]));
  const seen = new Set<string>();
  for (const key of src.names()) {
    const m = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/.exec(key);
    if (m === null) {
      throw new SoftpromptError('malformed_file', `${file}: tensor "${key}" is not a LoRA weight (expected base_model.model.<module>.lora_A.weight / lora_B.weight).`, { file, path: key });
    }
    if (!byName.has(m[1]!)) {
      throw new SoftpromptError('shape_mismatch', `${file}: tensor "${key}" targets module "${m[1]}", which this model does not have (is the adapter for another base model?).`, { file, path: key });
    }
    seen.add(m[1]!);
  }
  const pairs: LoraPairData[] = [];
  for (const mod of modules) {
    if (!seen.has(mod.name)) continue;
    const get = (key: string, want: number[]): Float32Array => {
      if (!src.names().includes(key)) {
        throw new SoftpromptError('missing_tensor', `${file}: "${key}" is missing (its other LoRA half is present).`, { file, path: key });
      }
      const got = src.shape(key);
      if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
        throw new SoftpromptError('shape_mismatch', `${file}: tensor "${key}" has shape [${got.join(', ')}], expected [${want.join(', ')}] for r=${r} and ${mod.name} (${mod.inFeatures} → ${mod.outFeatures}). Is the adapter for another base model?`, { file, path: key });
      }
      return src.getF32(key);
    };
    pairs.push({
      module: mod.name, inFeatures: mod.inFeatures, outFeatures: mod.outFeatures,
      A: get(loraKeyA(mod.name), [r, mod.inFeatures]), B: get(loraKeyB(mod.name), [mod.outFeatures, r]),
    });
  }
  if (pairs.length === 0) throw new SoftpromptError('malformed_file', `${file}: no LoRA tensors found.`, { file });
  return pairs;
}
