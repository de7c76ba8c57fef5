/**
 * A pretraining run's configuration (`softprompt pretrain`), flat fields with one comment each. Defaults follow
 * T5 / HF run_t5_mlm_flax.py where they exist (input length 512, noise density 0.15, mean span 3).
 */
import { z } from 'zod';
import { SoftpromptError } from '../errors.js';
import { parseWith } from '../validate.js';

export const PretrainConfigSchema = z.object({
  model: z.string().min(1).optional(), // existing HF T5 folder to continue from (exclusive with modelConfig)
  modelConfig: z.string().min(1).optional(), // config.json of a new T5, initialised as HF _init_weights
  tokenizer: z.string().min(1).optional(), // T5 tokenizer folder; default: the model folder, else the bundled T5 tokenizer
  corpus: z.array(z.string().min(1)).default([]), // text (one document per line), .jsonl or .tsv files; required to train
  textFields: z.array(z.string().min(1)).optional(), // JSONL keys / TSV columns to read (default JSONL "text")
  supervised: z.string().min(1).optional(), // supervised.jsonl of the corpus builder ({"input", "target"} rows)
  mixtureRate: z.number().min(0).max(1).default(0), // fraction of rows that are supervised examples
  inputLength: z.number().int().min(10).max(8192).default(512), // encoder tokens after corruption (EOS included)
  noiseDensity: z.number().gt(0).lt(1).default(0.15),
  meanNoiseSpanLength: z.number().min(1).default(3),
  batchSize: z.number().int().min(1).default(8),
  steps: z.number().int().min(1).default(1000), // optimizer steps (the schedule's length)
  stopAfter: z.number().int().min(1).optional(), // end the run after this step of the `steps` schedule, saving the model folder (a stage of a longer schedule)
  lr: z.number().positive().default(1e-3),
  schedule: z.enum(['linear', 'constant']).default('linear'), // decay after warmup (the trainer's kinds)
  warmupSteps: z.number().int().min(0).default(100),
  optimizer: z.enum(['adamw', 'adafactor']).default('adamw'),
  weightDecay: z.number().min(0).default(0),
  maxGradNorm: z.number().min(0).default(1.0),
  dropout: z.number().min(0).lt(1).optional(), // overrides config.json's dropout_rate while pretraining
  seed: z.number().int().min(0).default(42), // init, data order, noise masks, mixture draws
  output: z.string().min(1), // run folder: the model folder (config.json, bf16 shards, tokenizer), checkpoints, metrics
  maxShardMb: z.number().positive().default(8), // shard size of the saved bf16 weights
  saveEvery: z.number().int().min(0).default(0), // checkpoints besides the last step
  saveEveryMinutes: z.number().min(0).default(5), // also checkpoint after this many minutes (bounds what Ctrl-C or a crash loses)
  threads: z.number().int().min(0).default(0), // engine threads; 0 = one per core
  precision: z.enum(['fp32', 'bf16']).default('fp32'), // bf16: mixed precision (fp32 masters, bf16 GEMMs with fp32 accumulation)
  resume: z.boolean().default(false), // continue the run in `output`
  quiet: z.boolean().default(false),
});

export type PretrainConfig = z.output<typeof PretrainConfigSchema>;

export function parsePretrainConfig(value: unknown, file?: string): PretrainConfig {
  const cfg = parseWith(PretrainConfigSchema, value, 'config', file);
  if ((cfg.model === undefined) === (cfg.modelConfig === undefined)) {
    throw new SoftpromptError('invalid_config', 'Give exactly one of model (an existing T5 folder to continue from) and modelConfig (the config.json of a new model).', { path: cfg.model === undefined ? 'config.modelConfig' : 'config.model' });
  }
  if (cfg.mixtureRate > 0 && cfg.supervised === undefined) {
    throw new SoftpromptError('invalid_config', `mixtureRate is ${cfg.mixtureRate} but no supervised file is given.`, { path: 'config.supervised', hint: 'build one with scripts/build-pretrain-corpus.ts (supervised.jsonl)' });
  }
  if (cfg.warmupSteps > cfg.steps) {
    throw new SoftpromptError('invalid_config', `warmupSteps (${cfg.warmupSteps}) must not exceed steps (${cfg.steps}).`, { path: 'config.warmupSteps' });
  }
  if (cfg.stopAfter !== undefined && cfg.stopAfter > cfg.steps) {
    throw new SoftpromptError('invalid_config', `stopAfter (${cfg.stopAfter}) must not exceed steps (${cfg.steps}).`, { path: 'config.stopAfter' });
  }
  return cfg;
}
