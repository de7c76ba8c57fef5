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
 * The LoRA pairs of an adapter's tensors: every key must be a lora_A/lora_B weight, both halves present, A (r, in)
 * and B (out, r) for the config's r. Which modules they target, and whether in/out match the model, is checked
 * when the adapter attaches to a model (checkPairsAgainstModel).
 */
export function readLoraPairs(src: TensorSource, r: number, file: string): LoraPairData[] {
  const modules: string[] = [];
  for (const key of src.names()) {
    const m = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/.exec(key);
    if (m === null) {
      throw new SoftpromptError('malformed_file', `${file}: tensor "${key}" is not a LoRA weight (expected base_model.model.<module>.lora_A.weight / lora_B.weight).`, { file, path: key });
    }
    if (!modules.includes(m[1]!)) modules.push(m[1]!);
  }
  if (modules.length === 0) throw new SoftpromptError('malformed_file', `${file}: no LoRA tensors found.`, { file });
  const names = new Set(src.names());
  return modules.sort().map((module) => {
    const shapeOf = (key: string): readonly number[] => {
      if (!names.has(key)) throw new SoftpromptError('missing_tensor', `${file}: "${key}" is missing (its other LoRA half is present).`, { file, path: key });
      const s = src.shape(key);
      if (s.length !== 2) throw new SoftpromptError('shape_mismatch', `${file}: tensor "${key}" has shape [${s.join(', ')}], expected a matrix.`, { file, path: key });
      return s;
    };
    const a = shapeOf(loraKeyA(module)), b = shapeOf(loraKeyB(module));
    if (a[0] !== r) throw new SoftpromptError('shape_mismatch', `${file}: tensor "${loraKeyA(module)}" has shape [${a.join(', ')}], expected [${r}, in] for r=${r}.`, { file, path: loraKeyA(module) });
    if (b[1] !== r) throw new SoftpromptError('shape_mismatch', `${file}: tensor "${loraKeyB(module)}" has shape [${b.join(', ')}], expected [out, ${r}] for r=${r}.`, { file, path: loraKeyB(module) });
    return { module, inFeatures: a[1]!, outFeatures: b[0]!, A: src.getF32(loraKeyA(module)), B: src.getF32(loraKeyB(module)) };
  });
}

/** Every pair must target a linear layer of the model with its in/out features; errors name the tensor and both shapes. */
export function checkPairsAgainstModel(pairs: readonly Pick<LoraPairData, 'module' | 'inFeatures' | 'outFeatures'>[], r: number, modules: readonly LinearModule[], source: string): void {
  const byName = new Map(modules.map((m) => [m.name, m]));
  for (const p of pairs) {
    const m = byName.get(p.module);
    if (m === undefined) {
      throw new SoftpromptError('shape_mismatch', `${source}: "${loraKeyA(p.module)}" targets module "${p.module}", which this model does not have (is the adapter for another base model?).`, { path: loraKeyA(p.module) });
    }
    if (m.inFeatures !== p.inFeatures) {
      throw new SoftpromptError('shape_mismatch', `${source}: tensor "${loraKeyA(p.module)}" is [${r}, ${p.inFeatures}] but the model's ${p.module} takes ${m.inFeatures} inputs (expected [${r}, ${m.inFeatures}]). Is the adapter for another base model?`, { path: loraKeyA(p.module) });
    }
    if (m.outFeatures !== p.outFeatures) {
      throw new SoftpromptError('shape_mismatch', `${source}: tensor "${loraKeyB(p.module)}" is [${p.outFeatures}, ${r}] but the model's ${p.module} has ${m.outFeatures} outputs (expected [${m.outFeatures}, ${r}]). Is the adapter for another base model?`, { path: loraKeyB(p.module) });
    }
  }
}

// ---- the folder ------------------------------------------------------------------------------------------

/** What the entry needs from a loaded adapter_config.json beyond the LoRA numbers. */
export interface ParsedLoraAdapterConfig {
  file: string;
  baseModel: string | null;
  tokenizer: string | null;
  taskType: 'SEQ_2_SEQ_LM' | 'CAUSAL_LM' | null;
  lora: LoraConfig;
  /** target_modules as the file lists them */
  targets: string[];
  fanInFanOut: boolean;
}

export function parseLoraAdapterFile(json: Record<string, unknown>, file: string): ParsedLoraAdapterConfig {
  const lora = loraConfigFromAdapter(json, file);
  const str = (k: string): string | null => (typeof json[k] === 'string' ? (json[k] as string) : null);
  const tt = str('task_type');
  return {
    file, lora, baseModel: str('base_model_name_or_path'), tokenizer: str('tokenizer_name_or_path'),
    taskType: tt === 'SEQ_2_SEQ_LM' || tt === 'CAUSAL_LM' ? tt : null,
    targets: lora.targetModules ?? [], fanInFanOut: json['fan_in_fan_out'] === true,
  };
}
