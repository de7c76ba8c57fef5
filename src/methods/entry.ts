/**
 * What a method folder registers (HF PEFT's `register_peft_method(name, config_cls, model_cls)`): one
 * MethodEntry per method, listed in registry.ts. Training, eval, predict, serve, inspect and the model card reach
 * methods only through these entries; nothing outside src/methods/ names a concrete method class
 * (src/imports.test.ts checks it).
 *
 *   src/methods/<method>/
 *     config.ts    the typed config and its zod schema (validate → invalid_config naming the field)
 *     <method>.ts  the PeftMethod class (init, apply/backward or attach/detach, params)
 *     files.ts     save / load in every format the method supports (adapter_config.json `peft_type`)
 *     entry.ts     `export const <method>Entry = defineMethod<Cls>({...})`: options, groups, create, save, load, describe
 *     index.ts     re-exports (for tests and src/index.ts)
 *   src/methods/registry.ts   one line per method in METHOD_ENTRIES
 *
 * Adding a method (e.g. LoRA):
 *  - Flags and config keys: list them in `options` (key, flags, help, zod schema without default, parse). The
 *    train config schema, `softprompt train --help` and config-file checking pick them up; create() reads them
 *    from `settings` and applies the method's defaults. A key another method declares too (loraAlpha) must use
 *    the same flags; each method keeps its own help and default.
 *  - Optimizer groups: every TrainableTensor.group must be one of `groups`; each group names the config key of
 *    its lr ('lr' or one of the method's options) and its default lr and weight decay.
 *  - Weights: attach(model) gets the model (WeightTraining via weightTraining(model, name) from method.ts):
 *    install side paths (setSidePaths) or setTrainable; detach undoes it. The trainer attaches once, before
 *    params(); eval/predict/serve attach around each use. apply() returns the input unchanged, backward() does
 *    nothing, numVirtualTokens is 0 and maxInputLength Infinity for a weight method.
 *  - Files: `peftTypes` lists the adapter_config.json peft_type values load() reads (registry.readAdapter
 *    dispatches on it); `formats` the --adapter-format values save() writes (first = default). A format without
 *    adapter_config.json (a whole HF model folder) implements detect(dir). writeAdapterFolder (adapter-files.ts)
 *    gives a crash-safe config + safetensors save.
 *  - Describe: summary (log line), facts (serve's adapter list), describe (inspect and the model card).
 */
import type { z } from 'zod';
import type { InitContext, PeftMethod } from './method.js';

/**
 * A training-config key (and CLI flag) a method reads, e.g. DePT's `rank` / `--rank <n>`. Keys are shared by
 * name: two methods may declare the same key (both prompt methods read `promptLength`) if they give the same
 * flags; the registry merges them into one TrainConfig field and one flag.
 */
export interface MethodOption {
  /** camelCase TrainConfig key, also the config-file key */
  readonly key: string;
  /** commander flags, e.g. '--rank <n>' */
  readonly flags: string;
  readonly help: string;
  /** the value's schema WITHOUT a default (the method applies its own default in create) */
  readonly schema: z.ZodType;
  /** the default as shown in --help, e.g. '60' (omit when there is none or it is computed) */
  readonly shownDefault?: string;
  /** command-line string → value (commander argParser; throw InvalidArgumentError) */
  readonly parse?: (value: string) => unknown;
  /** config-file value → canonical value, e.g. "sample_vocab" → "SAMPLE_VOCAB" */
  readonly normalize?: (value: unknown) => unknown;
}

/** An optimizer parameter group a method's TrainableTensor.group names. */
export interface ParamGroupSpec {
  /** TrainableTensor.group, e.g. 'prompt', 'lowrank' */
  readonly name: string;
  /** the TrainConfig key that sets this group's peak lr: 'lr' (common) or a key the method declares in options */
  readonly lrKey: string;
  readonly defaultLr: number;
  readonly defaultWeightDecay: number;
  /**
   * The TrainConfig key that overrides the weight decay: 'weightDecay' when omitted; null keeps the default
   * (HF Trainer's no-decay group of biases and norm weights for full fine-tuning: 0 whatever --weight-decay says).
   */
  readonly weightDecayKey?: string | null;
}

/** The train config as a method sees it: the common fields it may use, plus every option key (unknown type). */
export interface MethodSettings {
  /** s: inputs are truncated to this many tokens */
  readonly maxLength: number;
  readonly [key: string]: unknown;
}

/** The base-model numbers an adapter file records. */
export interface AdapterModelInfo {
  /** d = token_dim = hidden_size */
  dModel: number;
  numLayers: number;
  numHeads: number;
  /** seq2seq → task_type SEQ_2_SEQ_LM (T5); causal → CAUSAL_LM (decoder-only) */
  kind: 'seq2seq' | 'causal';
}

export interface SaveAdapterInfo {
  /** base_model_name_or_path, e.g. "t5-base" */
  baseModel: string;
  /** tokenizer_name_or_path; null when unknown */
  tokenizer: string | null;
  modelInfo: AdapterModelInfo;
  /** one of the entry's formats; default its first */
  format?: string;
}

/** Points of a save a test can fail at (throw from onStage) to simulate a crash. */
export type SaveStage = 'weights-staged' | 'config-staged' | 'old-moved' | 'weights-placed';

export interface SaveAdapterHooks {
  onStage?(stage: SaveStage): void;
}

export interface SavedAdapter {
  dir: string;
  /** what was written (adapter_config.json `peft_type`, or the method's own format name) */
  peftType: string;
  /** the files written, full paths */
  files: string[];
}

export interface LoadAdapterContext {
  /** the model's d; a different token_dim (or tensor width) is a shape_mismatch */
  expectDModel?: number;
}

/** What every adapter folder records about its base model (adapter_config.json or the method's own files). */
export interface AdapterHeader {
  /** the config file parsed */
  file: string;
  baseModel: string | null;
  tokenizer: string | null;
  taskType: 'SEQ_2_SEQ_LM' | 'CAUSAL_LM' | null;
}

export interface LoadedAdapter<M extends PeftMethod = PeftMethod, C extends AdapterHeader = AdapterHeader> {
  method: M;
  /** the parsed config, method-specific beyond the header */
  config: C;
  /** peft_type (or the method's format name) */
  peftType: string;
  configFile: string;
  /** the weights file read */
  weightsFile: string;
}

export type CardValue = string | number | boolean | null;

export interface TensorReport {
  name: string;
  shape: number[];
  rowNorm?: { mean: number; min: number; max: number } | null;
  std?: number | null;
}

/** A loaded adapter, described for `inspect` and the model card (all method-specific wording lives here). */
export interface AdapterDescription {
  /** "DePT", "Prompt-tuning": "<label> adapter" */
  label: string;
  /** model-card tag, e.g. 'dept' */
  tag: string;
  /** the file format in words, e.g. "PEFT prompt tuning (peft_type PROMPT_TUNING)" */
  format: string;
  /** inspect's "numbers" line, e.g. "l=80, r=15, s=256, alpha=8 (scaling α/√r = 2.0656), d=768" */
  numbers: string;
  /** how numParams() is computed, e.g. 'l·d + r·(s + d)' */
  paramFormula: string;
  /** inspect --json fields (l, r, s, …), merged into the report */
  fields: Record<string, unknown>;
  /** inspect lines printed before the tensor table (e.g. the prompt init) */
  details: string[];
  tensors: TensorReport[];
  /** inspect lines printed after the tensor table (statistics, references) */
  notes: string[];
  /**
   * model card: hyperparameter rows, the opening paragraph, Python loading instructions before / after the code
   * (Markdown lines). A method whose files are not a PEFT adapter (a whole model folder) also sets `code` (the
   * Python block instead of the PeftModel one), `libraryName` (front matter; default 'peft'), `relation` (the
   * `base_model:<relation>:<base>` tag; default 'adapter') and `title`.
   */
  card: {
    hyper: Record<string, CardValue>; intro: string; python: string[]; peftImportComment?: string; after: string[];
    code?: string[]; libraryName?: string; relation?: 'adapter' | 'finetune'; title?: string;
  };
}

export interface MethodEntry<M extends PeftMethod = PeftMethod> {
  /** canonical name, also PeftMethod.type and the --method value */
  readonly name: string;
  /** other accepted spellings (case-insensitive) */
  readonly aliases: readonly string[];
  /** config keys and CLI flags the method reads (merged into TrainConfig and `softprompt train --help`) */
  readonly options: readonly MethodOption[];
  /** the optimizer groups of its TrainableTensors */
  readonly groups: readonly ParamGroupSpec[];
  /** adapter_config.json `peft_type` values load() reads */
  readonly peftTypes: readonly string[];
  /** --adapter-format values save() writes; the first is the default */
  readonly formats: readonly string[];
  /** a folder without adapter_config.json that this method saved (e.g. a whole HF model folder); optional */
  detect?(dir: string): boolean;
  /** true when m was made by this entry (its own class check) */
  owns(m: PeftMethod): m is M;
  /** a fresh method from the train config (its option keys, with the method's defaults) */
  create(settings: MethodSettings, ctx: InitContext): M;
  /**
   * The model weights (HF names) the method will train, known before the model loads, so that precision bf16
   * keeps them fp32 (mixed precision: fp32 masters, bf16 compute); absent: the method trains no model weights.
   */
  trainedWeights?(settings: MethodSettings): (name: string) => boolean;
  load(dir: string, ctx: LoadAdapterContext): LoadedAdapter<M>;
  save(dir: string, m: M, info: SaveAdapterInfo, hooks?: SaveAdapterHooks): SavedAdapter;
  /** one line for logs: the numbers and the trainable parameter count */
  summary(m: M): string;
  /** compact numbers for listings (serve's /v1/adapters), e.g. { rank: 15, maxLength: 256 } */
  facts(m: M): Record<string, string | number>;
  /** `baseModel`: the name the card and inspect print for the base model */
  describe(a: LoadedAdapter<M>, baseModel: string): AdapterDescription;
}

/** Type-erased entry (what the registry holds). */
export type AnyMethodEntry = MethodEntry<PeftMethod>;

/** Erase an entry's method type; the registry calls it only with methods the entry owns(). */
export function defineMethod<M extends PeftMethod>(entry: MethodEntry<M>): AnyMethodEntry {
  return entry as unknown as AnyMethodEntry;
}
