/**
 * A training run's configuration: flat fields with one comment each (nanoGPT's train.py style), defaults from
 * the DePT reference (spec §1.7) unless marked. A JSON config file sets any of them; command-line flags override.
 *
 * The common fields are below. Each method adds its own keys (DePT: rank, budget, loraAlpha, lrLowrank; prompt
 * methods: promptLength, init, initText), declared as `options` by its registry entry and merged in here, with
 * no default: the method applies its defaults when it is created. Learning rates default per parameter group.
 */
import { z } from 'zod';
import { SoftpromptError } from '../errors.js';
import { getMethod, methodOptions } from '../methods/registry.js';
import { DEFAULT_MAX_LENGTH } from '../predict/index.js';
import { parseWith } from '../validate.js';

export const CommonTrainConfigSchema = z.object({
  model: z.string().min(1), // Hugging Face model folder (config.json + model.safetensors)
  tokenizer: z.string().min(1).optional(), // folder with tokenizer.json / spiece.model; default: the model folder
  revision: z.string().min(1).optional(), // Hub revision (branch, tag, commit) of model / tokenizer / initAdapter ids; default main
  task: z.string().min(1).default('sst2'), // task name (see `softprompt tasks`) or "local"
  dataDir: z.string().min(1).optional(), // task data folder; default: the bundled slices in data/
  trainFile: z.string().optional(), // local task: training file (.jsonl/.csv/.tsv)
  devFile: z.string().optional(), // local task: dev file, halved into validation and test
  textColumn: z.string().default('text'), // local task columns
  textPairColumn: z.string().optional(),
  labelColumn: z.string().default('label'),
  template: z.string().optional(), // local task source template, e.g. "sentence: {text}"
  labelWords: z.array(z.string().min(1)).min(2).optional(), // classification: replace the task's label words, class by class
  output: z.string().min(1).optional(), // run folder; default runs/<task>-<method>
  method: z.string().min(1).default('dept'), // a registry name or alias (src/methods/registry.ts)
  initAdapter: z.string().optional(), // start from a saved adapter (transfer / PETL init)
  maxLength: z.number().int().min(2).default(DEFAULT_MAX_LENGTH), // s: inputs truncated to this; DePT's A has s rows
  padToMax: z.boolean().default(false), // pad every batch to maxLength (the reference) instead of its longest row
  groupByLength: z.boolean().default(false), // HF group_by_length: batches of similar input lengths (less padding)
  steps: z.number().int().min(1).default(30000), // optimizer steps (--max_steps)
  batchSize: z.number().int().min(1).default(32),
  lr: z.number().positive().optional(), // peak lr of the method's main group (default per method: prompt 0.3)
  warmupSteps: z.number().int().min(0).default(500),
  weightDecay: z.number().min(0).optional(), // every group's; default per group (DePT 0: the reference passes 1e-5 but its optimizer ignores it, spec §6.5)
  maxGradNorm: z.number().min(0).default(1.0),
  dropout: z.boolean().default(true), // T5's dropout during training (the reference keeps it)
  evalEvery: z.number().int().min(0).default(1000), // 0: only at the end
  saveEvery: z.number().int().min(0).default(0), // checkpoints besides new bests and the last step
  saveEveryMinutes: z.number().min(0).default(5), // also checkpoint after this many minutes (bounds what Ctrl-C or a crash loses)
  keepCheckpoints: z.number().int().min(1).default(1), // save_total_limit
  patience: z.number().int().min(1).optional(), // evaluations without improvement before stopping
  evalMode: z.enum(['generate', 'rank']).default('generate'), // greedy generation (reference) or label ranking
  evalBatchSize: z.number().int().min(1).default(32),
  maxNewTokens: z.number().int().min(1).default(20), // generation_max_length
  maxTrainExamples: z.number().int().min(1).optional(),
  maxEvalExamples: z.number().int().min(1).optional(),
  seed: z.number().int().min(0).default(42),
  adapterFormat: z.string().min(1).optional(), // file format of the saved adapter; default: the method's first (dept: PROMPT_TUNING_LORA)
  threads: z.number().int().min(0).default(0), // engine threads; 0 = one per core
  precision: z.enum(['fp32', 'bf16']).default('fp32'), // bf16: frozen weights held in bf16, oneDNN GEMMs (opt-in)
  savedActivations: z.enum(['fp32', 'bf16']).default('fp32'), // bf16 (T5, precision bf16): activations for backward in bf16
  resume: z.union([z.boolean(), z.string()]).default(false), // continue the run in `output` (or from a checkpoint)
  quiet: z.boolean().default(false),
});

export type CommonTrainConfig = z.output<typeof CommonTrainConfigSchema>;

/** The common fields, typed, plus every method's option keys (values checked by their schemas, read by the method). */
export type TrainConfig = CommonTrainConfig & { readonly [key: string]: unknown };

/** The common schema extended with every method's option keys. */
export const TrainConfigSchema = CommonTrainConfigSchema.extend(
  Object.fromEntries(methodOptions().map(({ option }) => [option.key, option.schema])),
);

/** Parse and validate; `method` becomes its canonical name, and the adapter format must be one the method writes. */
export function parseTrainConfig(value: unknown, file?: string): TrainConfig {
  const cfg = parseWith(TrainConfigSchema, value, 'config', file) as TrainConfig;
  let entry;
  try {
    entry = getMethod(cfg.method);
  } catch (err) {
    throw new SoftpromptError('invalid_config', `config.method: ${(err as Error).message}`, { path: 'config.method', ...(file !== undefined ? { file } : {}) });
  }
  if (cfg.adapterFormat !== undefined && !entry.formats.includes(cfg.adapterFormat)) {
    throw new SoftpromptError('invalid_config', `config.adapterFormat: the ${entry.name} method saves in format ${entry.formats.join(' or ')}, got ${JSON.stringify(cfg.adapterFormat)}.`, {
      path: 'config.adapterFormat', ...(file !== undefined ? { file } : {}),
    });
  }
  return { ...cfg, method: entry.name };
}
