/**
 * A training run's configuration: flat fields with one comment each (nanoGPT's train.py style), defaults from
 * the DePT reference (spec §1.7) unless marked. A JSON config file sets any of them; command-line flags override.
 */
import { z } from 'zod';
import { DEPT_INIT_TEXT, PROMPT_INITS, type PromptInit } from '../methods/prompt-init.js';
import { parseWith } from '../validate.js';

export const TrainConfigSchema = z.object({
  model: z.string().min(1), // Hugging Face model folder (config.json + model.safetensors)
  tokenizer: z.string().min(1).optional(), // folder with tokenizer.json / spiece.model; default: the model folder
  task: z.string().min(1).default('sst2'), // task name (see `softprompt tasks`) or "local"
  dataDir: z.string().min(1).optional(), // task data folder; default: the bundled slices in data/
  trainFile: z.string().optional(), // local task: training file (.jsonl/.csv/.tsv)
  devFile: z.string().optional(), // local task: dev file, halved into validation and test
  textColumn: z.string().default('text'), // local task columns
  textPairColumn: z.string().optional(),
  labelColumn: z.string().default('label'),
  template: z.string().optional(), // local task source template, e.g. "sentence: {text}"
  output: z.string().min(1).optional(), // run folder; default runs/<task>-<method>
  method: z.enum(['dept', 'prompt_tuning']).default('dept'),
  promptLength: z.number().int().min(0).max(10000).default(60), // l: virtual tokens
  rank: z.number().int().min(0).optional(), // r; default: budget-equal to `budget` PT tokens
  budget: z.number().int().min(1).default(100), // PT tokens whose parameter count DePT matches
  loraAlpha: z.number().positive().default(8), // scaling = loraAlpha / sqrt(r)
  init: z.enum(PROMPT_INITS as [PromptInit, ...PromptInit[]]).default('TEXT'), // prompt init
  initText: z.string().default(DEPT_INIT_TEXT), // TEXT init text (the reference's, typo included)
  initAdapter: z.string().optional(), // start from a saved adapter (transfer / PETL init)
  maxLength: z.number().int().min(2).default(256), // s: inputs truncated to this; DePT's A has s rows
  padToMax: z.boolean().default(false), // pad every batch to maxLength (the reference) instead of its longest row
  steps: z.number().int().min(1).default(30000), // optimizer steps (--max_steps)
  batchSize: z.number().int().min(1).default(32),
  lr: z.number().positive().default(0.3), // learning rate of the prompt P
  lrLowrank: z.number().positive().default(1e-4), // learning rate of DePT's A and B
  warmupSteps: z.number().int().min(0).default(500),
  weightDecay: z.number().min(0).default(0), // the reference passes 1e-5 but its optimizer ignores it (spec §6.5)
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
  adapterFormat: z.enum(['dept', 'peft']).default('dept'), // file format of the saved adapter
  threads: z.number().int().min(0).default(0), // engine threads; 0 = one per core
  precision: z.enum(['fp32', 'bf16']).default('fp32'), // bf16: weight GEMMs with bfloat16 operands (opt-in)
  resume: z.union([z.boolean(), z.string()]).default(false), // continue the run in `output` (or from a checkpoint)
  quiet: z.boolean().default(false),
});

export type TrainConfig = z.output<typeof TrainConfigSchema>;

export function parseTrainConfig(value: unknown, file?: string): TrainConfig {
  return parseWith(TrainConfigSchema, value, 'config', file);
}
