/**
 * `adapter_config.json` for the two adapter formats softprompt reads and writes (spec §1.9, §4.2–4.4):
 *
 *   PROMPT_TUNING_LORA  the DePT fork of PEFT: P (l, d) plus A (s, r), B (r, d), α = lora_alpha. Upstream PEFT
 *                       has no such peft_type; only the fork (github.com/ZhengxiangShi/DePT, folder peft/) loads it.
 *   PROMPT_TUNING       upstream PEFT: P only, stored as (l × num_transformer_submodules, d).
 *
 * Written like PEFT's `json.dumps(config.to_dict(), indent=2, sort_keys=True)`: sorted keys, indent 2, non-ASCII
 * escaped, no trailing newline. Parsing accepts either format and ignores unknown keys (PEFT drops them too).
 *
 *   const json = deptAdapterConfig(dept.config, { baseModel: 't5-base', tokenizer: 't5-base', modelInfo });
 *   atomicWriteFile('out/adapter_config.json', formatAdapterConfig(json));
 *   const cfg = readAdapterConfig('out/adapter_config.json');   // { peftType: 'PROMPT_TUNING_LORA', rank: 15, … }
 */
import { z } from 'zod';
import { preview, SoftpromptError } from '../errors.js';
import { readUntrustedText } from '../io/untrusted-file.js';
import { parseWith } from '../validate.js';
import type { DeptConfig } from './dept/config.js';
import type { AdapterModelInfo } from './entry.js';
import { DEPT_INIT_TEXT, PROMPT_INITS, type PromptInit } from './prompt-init.js';
import type { PromptTuningConfig } from './prompt-tuning/config.js';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';

export type PeftType = 'PROMPT_TUNING_LORA' | 'PROMPT_TUNING';
export const PEFT_TYPES: readonly PeftType[] = ['PROMPT_TUNING', 'PROMPT_TUNING_LORA'];

export type TaskType = 'SEQ_2_SEQ_LM' | 'CAUSAL_LM';
const TASK_TYPES: readonly TaskType[] = ['SEQ_2_SEQ_LM', 'CAUSAL_LM'];

export type { AdapterModelInfo };

export interface AdapterBaseInfo {
  /** base_model_name_or_path, e.g. "t5-base" */
  baseModel: string;
  /** tokenizer_name_or_path; null when unknown */
  tokenizer: string | null;
  modelInfo: AdapterModelInfo;
}

export type JsonScalar = string | number | boolean | null;
/** Any JSON value (LoRA's target_modules is a list, its rank_pattern an object). */
export type JsonValue = JsonScalar | JsonValue[] | { [key: string]: JsonValue };
/** A flat adapter_config.json object, as written. */
export type AdapterConfigJson = Record<string, JsonValue>;

export function taskTypeOf(kind: AdapterModelInfo['kind']): TaskType {
  return kind === 'seq2seq' ? 'SEQ_2_SEQ_LM' : 'CAUSAL_LM';
}

/** The DePT fork's config: exactly the keys of its saved configs (e.g. `checkpoints/cola/adapter_config.json`). */
export function deptAdapterConfig(cfg: DeptConfig, info: AdapterBaseInfo): AdapterConfigJson {
  const m = info.modelInfo;
  return {
    base_model_name_or_path: info.baseModel,
    bias: 'none',
    hidden_size: m.dModel,
    inference_mode: true,
    init_lora_weights: true,
    load_lora_embedding_B: true,
    load_lora_embeddings: true,
    lora_alpha: cfg.loraAlpha,
    max_length: cfg.maxLength,
    num_attention_heads: m.numHeads,
    num_layers: m.numLayers,
    num_transformer_submodules: 1,
    num_virtual_tokens: cfg.numVirtualTokens,
    peft_type: 'PROMPT_TUNING_LORA',
    prompt_tuning_init: cfg.init,
    prompt_tuning_init_text: cfg.initText,
    r: cfg.rank,
    revision: null,
    save_lora_embeddings: true,
    task_type: taskTypeOf(m.kind),
    token_dim: m.dModel,
    // DePT's train.py sets tokenizer_name_or_path = model_name_or_path; the model folder holds the tokenizer.
    tokenizer_name_or_path: info.tokenizer ?? info.baseModel,
  };
}

/**
 * Upstream PEFT's PROMPT_TUNING config, spec §4.4's minimal form: num_transformer_submodules 1, so the tensor is
 * (l, d). PEFT validates even on load that TEXT init comes with tokenizer_name_or_path and
 * prompt_tuning_init_text; with no tokenizer name known we write prompt_tuning_init "RANDOM" instead (init is
 * skipped on load anyway, inference_mode is true), so PEFT accepts the file.
 */
export function peftAdapterConfig(cfg: PromptTuningConfig, info: AdapterBaseInfo): AdapterConfigJson {
  const m = info.modelInfo;
  const text = cfg.init === 'TEXT' && info.tokenizer !== null;
  const init: PromptInit = cfg.init === 'TEXT' && !text ? 'RANDOM' : cfg.init;
  return {
    auto_mapping: null,
    base_model_name_or_path: info.baseModel,
    inference_mode: true,
    modules_to_save: null,
    num_attention_heads: m.numHeads,
    num_layers: m.numLayers,
    num_transformer_submodules: 1,
    num_virtual_tokens: cfg.numVirtualTokens,
    peft_type: 'PROMPT_TUNING',
    prompt_tuning_init: init,
    prompt_tuning_init_text: text ? cfg.initText : null,
    revision: null,
    task_type: taskTypeOf(m.kind),
    token_dim: m.dModel,
    tokenizer_kwargs: null,
    tokenizer_name_or_path: info.tokenizer,
  };
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  const sorted: Record<string, unknown> = {};
  for (const k of Object.keys(o).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) sorted[k] = sortKeys(o[k]);
  return sorted;
}

/** Python's `json.dumps(obj, indent=2, sort_keys=True)` (ensure_ascii on), for any JSON object. */
export function formatAdapterConfig(json: Readonly<Record<string, unknown>>): string {
  const sorted = sortKeys(json);
  return JSON.stringify(sorted, null, 2).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// ---- parsing -------------------------------------------------------------------------------------------------

const Init = z.enum(PROMPT_INITS as [PromptInit, ...PromptInit[]]);
const Count = z.number().int().min(1).max(1 << 20);

/** Keys both formats share (PromptLearningConfig + PromptTuningConfig). Unknown keys are ignored. */
const commonKeys = {
  base_model_name_or_path: z.string().nullish(),
  tokenizer_name_or_path: z.string().nullish(),
  task_type: z.string().nullish(),
  token_dim: Count.nullish(),
  num_layers: Count.nullish(),
  num_attention_heads: Count.nullish(),
  num_transformer_submodules: z.union([z.literal(1), z.literal(2)]).nullish(),
  prompt_tuning_init: Init.nullish(),
  prompt_tuning_init_text: z.string().nullish(),
  inference_mode: z.boolean().nullish(),
};

const PeftSchema = z.object({
  ...commonKeys,
  peft_type: z.literal('PROMPT_TUNING'),
  num_virtual_tokens: z.number().int().min(1).max(10000),
});

const DeptSchema = z.object({
  ...commonKeys,
  peft_type: z.literal('PROMPT_TUNING_LORA'),
  num_virtual_tokens: z.number().int().min(0).max(10000),
  r: z.number().int().min(0).max(4096),
  max_length: Count,
  lora_alpha: z.number().positive().default(8),
  hidden_size: Count.nullish(),
  save_lora_embeddings: z.boolean().nullish(),
  load_lora_embeddings: z.boolean().nullish(),
  load_lora_embedding_B: z.boolean().nullish(),
});

interface ParsedCommon {
  /** the file parsed, as named */
  file: string;
  baseModel: string | null;
  tokenizer: string | null;
  taskType: TaskType | null;
  /** l: prompt rows the model uses */
  numVirtualTokens: number;
  /** d, when the config records it */
  tokenDim: number | null;
  numLayers: number | null;
  numHeads: number | null;
  /**
   * Resolved as PEFT does: null means 2 for SEQ_2_SEQ_LM, else 1. The stored prompt has
   * numVirtualTokens × numTransformerSubmodules rows; only the first numVirtualTokens are used (spec §4.3).
   */
  numTransformerSubmodules: 1 | 2;
  init: PromptInit;
  initText: string | null;
}

export interface ParsedPeftAdapterConfig extends ParsedCommon {
  peftType: 'PROMPT_TUNING';
}

export interface ParsedDeptAdapterConfig extends ParsedCommon {
  peftType: 'PROMPT_TUNING_LORA';
  rank: number;
  /** s: rows of A */
  maxLength: number;
  loraAlpha: number;
  /** null when the key is absent (older DePT code, which saved P only: spec §1.9 release caveat) */
  saveLoraEmbeddings: boolean | null;
}

export type ParsedAdapterConfig = ParsedPeftAdapterConfig | ParsedDeptAdapterConfig;

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Parse the text of an adapter_config.json; `file` is named in every error. */
export function parseAdapterConfig(text: string, file: string): ParsedAdapterConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new SoftpromptError('malformed_file', `Adapter config ${file} is not valid JSON: ${(err as Error).message}.`, { file, cause: err });
  }
  if (!isPlainObject(raw)) {
    throw new SoftpromptError('malformed_file', `Adapter config ${file} should hold a JSON object, got ${Array.isArray(raw) ? 'an array' : preview(raw)}.`, { file });
  }
  const peftType = raw['peft_type'];
  if (peftType === undefined || peftType === null) {
    throw new SoftpromptError('invalid_config', `Adapter config ${file} has no peft_type; softprompt loads PROMPT_TUNING and PROMPT_TUNING_LORA adapters.`, { file, path: 'adapter_config.peft_type' });
  }
  if (peftType !== 'PROMPT_TUNING' && peftType !== 'PROMPT_TUNING_LORA') {
    throw new SoftpromptError('unsupported', `Adapter config ${file} has peft_type ${preview(peftType)}; softprompt loads PROMPT_TUNING and PROMPT_TUNING_LORA adapters.`, { file, path: 'adapter_config.peft_type' });
  }
  const taskType = raw['task_type'];
  if (taskType !== undefined && taskType !== null && !(TASK_TYPES as readonly unknown[]).includes(taskType)) {
    throw new SoftpromptError('unsupported', `Adapter config ${file} has task_type ${preview(taskType)}; softprompt runs ${TASK_TYPES.join(' and ')} adapters (a classification head would be missing).`, { file, path: 'adapter_config.task_type' });
  }

  const common = (c: z.output<typeof PeftSchema> | z.output<typeof DeptSchema>): ParsedCommon => {
    const task = (c.task_type ?? null) as TaskType | null;
    return {
      file,
      baseModel: c.base_model_name_or_path ?? null,
      tokenizer: c.tokenizer_name_or_path ?? null,
      taskType: task,
      numVirtualTokens: c.num_virtual_tokens,
      tokenDim: c.token_dim ?? null,
      numLayers: c.num_layers ?? null,
      numHeads: c.num_attention_heads ?? null,
      numTransformerSubmodules: c.num_transformer_submodules ?? (task === 'SEQ_2_SEQ_LM' ? 2 : 1),
      init: c.prompt_tuning_init ?? 'RANDOM', // PEFT's default
      initText: c.prompt_tuning_init_text ?? null,
    };
  };

  if (peftType === 'PROMPT_TUNING') {
    const c = parseWith(PeftSchema, raw, 'adapter_config', file);
    return { ...common(c), peftType: 'PROMPT_TUNING' };
  }
  const c = parseWith(DeptSchema, raw, 'adapter_config', file);
  if (c.num_virtual_tokens === 0 && c.r === 0) {
    throw new SoftpromptError('invalid_config', `Adapter config ${file}: DePT needs num_virtual_tokens > 0 or r > 0, got both 0.`, { file, path: 'adapter_config.r' });
  }
  if (c.token_dim != null && c.hidden_size != null && c.token_dim !== c.hidden_size) {
    throw new SoftpromptError('invalid_config', `Adapter config ${file}: token_dim ${c.token_dim} and hidden_size ${c.hidden_size} disagree; both are the model's d.`, { file, path: 'adapter_config.hidden_size' });
  }
  for (const key of ['load_lora_embeddings', 'load_lora_embedding_B'] as const) {
    if (c[key] === false) {
      throw new SoftpromptError('unsupported', `Adapter config ${file} sets ${key}: false, so the DePT fork would keep freshly initialised low-rank factors instead of the saved ones; softprompt does not reproduce that.`, {
        file, path: `adapter_config.${key}`, hint: `set ${key} to true to use the saved A and B.`,
      });
    }
  }
  return {
    ...common(c),
    tokenDim: c.token_dim ?? c.hidden_size ?? null,
    peftType: 'PROMPT_TUNING_LORA',
    rank: c.r,
    maxLength: c.max_length,
    loraAlpha: c.lora_alpha,
    saveLoraEmbeddings: c.save_lora_embeddings ?? null,
  };
}

/** Read and parse `file` (adapter_config.json). */
export function readAdapterConfig(file: string): ParsedAdapterConfig {
  return parseAdapterConfig(readUntrustedText(file, { followSymlinks: false, what: 'Adapter config' }), file);
}

/** Our DePT config from a parsed PROMPT_TUNING_LORA config. */
export function deptConfigFromAdapter(c: ParsedDeptAdapterConfig): DeptConfig {
  return {
    numVirtualTokens: c.numVirtualTokens,
    rank: c.rank,
    maxLength: c.maxLength,
    loraAlpha: c.loraAlpha,
    init: c.init,
    initText: c.initText ?? DEPT_INIT_TEXT,
  };
}

/** Our prompt-tuning config from a parsed PROMPT_TUNING config. */
export function promptTuningConfigFromAdapter(c: ParsedPeftAdapterConfig): PromptTuningConfig {
  return { numVirtualTokens: c.numVirtualTokens, init: c.init, initText: c.initText ?? DEPT_INIT_TEXT };
}
