/**
 * `softprompt train` options: every TrainConfig field as a kebab-case flag, and the resolution
 *
 *   flag  >  config file (--config, or the bundled quickstart when neither --config nor --model is given)  >  schema default
 *
 * The resolved object is validated by parseTrainConfig, so a bad value names its field (config.steps) and where it
 * came from (the file, or the flag).
 *
 * Config files are JSON objects with TrainConfig's camelCase keys ("promptLength"); snake_case and kebab-case keys
 * are accepted too, keys starting with "//" or "$" are comments. Relative paths in a config file are relative to
 * the current directory, like flags; the bundled quickstart's model, tokenizer and data paths are relative to the
 * package instead, so `softprompt train` works from anywhere.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Option } from 'commander';
import { SoftpromptError } from '../errors.js';
import type { MethodOption } from '../methods/entry.js';
import { adapterFormats, METHOD_ENTRIES, methodNames, methodOptions, getMethod } from '../methods/registry.js';
import { CommonTrainConfigSchema, parseTrainConfig, TrainConfigSchema, type TrainConfig } from '../train/config.js';
import { choiceArg, EVAL_MODE_CHOICES, floatArg, intArg, labelWordsArg } from './options.js';
import { packageRoot, quickstartConfigPath } from './paths.js';

/** A TrainConfig key: a common field or a method option (src/methods/<method>/entry.ts). */
export type TrainKey = string;

interface FlagSpec {
  key: TrainKey;
  flags: string;
  help: string;
  group: string;
  parse?: (value: string) => unknown;
  /** method options: the default shown in --help (the schema has none; the method applies it) */
  shownDefault?: string;
}

const MODEL = 'Model and data:';
const METHOD = 'Method (see --method; each method reads its own options):';
const TRAIN = 'Training:';
const EVAL = 'Evaluation:';
const OUT = 'Output and runtime:';

/** The train flags, in help order. Each maps to one TrainConfig field. */
export const TRAIN_FLAGS: readonly FlagSpec[] = [
  { key: 'model', flags: '--model <dir>', help: 'Hugging Face model folder (config.json + model.safetensors) or Hub id (org/name); default: the bundled quickstart', group: MODEL },
  { key: 'tokenizer', flags: '--tokenizer <path>', help: 'folder with tokenizer.json / spiece.model, or the file (default: the model folder)', group: MODEL },
  { key: 'revision', flags: '--revision <rev>', help: 'branch, tag or commit of Hugging Face Hub ids given as --model / --tokenizer / --init-adapter (default main)', group: MODEL },
  { key: 'task', flags: '--task <name>', help: 'task name (see `softprompt tasks`) or "local"', group: MODEL },
  { key: 'dataDir', flags: '--data-dir <dir>', help: 'task data folder, e.g. a GLUE root holding SST-2/ (default: the bundled slices in data/)', group: MODEL },
  { key: 'trainFile', flags: '--train-file <file>', help: 'local task: training file (.jsonl, .csv, .tsv)', group: MODEL },
  { key: 'devFile', flags: '--dev-file <file>', help: 'local task: dev file, halved into validation and test', group: MODEL },
  { key: 'textColumn', flags: '--text-column <name>', help: 'local task: text column', group: MODEL },
  { key: 'textPairColumn', flags: '--text-pair-column <name>', help: 'local task: second text column', group: MODEL },
  { key: 'labelColumn', flags: '--label-column <name>', help: 'local task: label column', group: MODEL },
  { key: 'template', flags: '--template <text>', help: 'local task: source template, e.g. "sentence: {text}"', group: MODEL },
  { key: 'labelWords', flags: '--label-words <words>', help: 'classification: the targets of the classes, comma-separated in class order (e.g. negative,positive for SST-2\'s 0,1)', group: MODEL, parse: labelWordsArg },
  { key: 'maxLength', flags: '--max-length <n>', help: 's: inputs are truncated to n tokens (DePT\'s A has s rows)', group: MODEL, parse: intArg },
  { key: 'padToMax', flags: '--pad-to-max', help: 'pad every batch to --max-length (the reference) instead of its longest row', group: MODEL },
  { key: 'groupByLength', flags: '--group-by-length', help: 'batch training rows of similar length (as HF Trainer\'s group_by_length: megabatches of min(50, N/4B) batches sorted by length, in random order, the longest row first): less padding, same rows per epoch', group: TRAIN },
  { key: 'maxTrainExamples', flags: '--max-train-examples <n>', help: 'use at most n training examples', group: MODEL, parse: intArg },

  ...methodFlags(),
  { key: 'initAdapter', flags: '--init-adapter <dir>', help: 'start from a saved adapter (transfer)', group: METHOD },

  { key: 'steps', flags: '--steps <n>', help: 'optimizer steps', group: TRAIN, parse: intArg },
  { key: 'batchSize', flags: '--batch-size <n>', help: 'examples per step', group: TRAIN, parse: intArg },
  { key: 'lr', flags: '--lr <x>', help: 'peak learning rate of the method\'s main group (the prompt P)', group: TRAIN, parse: floatArg, shownDefault: lrDefaults() },
  { key: 'warmupSteps', flags: '--warmup-steps <n>', help: 'linear warmup steps', group: TRAIN, parse: intArg },
  { key: 'weightDecay', flags: '--weight-decay <x>', help: 'AdamW weight decay of every group that takes one (full fine-tuning: not biases or norm weights)', group: TRAIN, parse: floatArg, shownDefault: weightDecayDefaults() },
  { key: 'maxGradNorm', flags: '--max-grad-norm <x>', help: 'global gradient-norm clip (0: none)', group: TRAIN, parse: floatArg },
  { key: 'dropout', flags: '--no-dropout', help: 'turn off the model\'s dropout while training', group: TRAIN },
  { key: 'seed', flags: '--seed <n>', help: 'seed of init, data order, dropout and splits', group: TRAIN, parse: intArg },

  { key: 'evalEvery', flags: '--eval-every <n>', help: 'evaluate on the validation split every n steps (0: at the end only)', group: EVAL, parse: intArg },
  { key: 'patience', flags: '--patience <n>', help: 'stop after n evaluations without improvement', group: EVAL, parse: intArg },
  { key: 'evalMode', flags: '--eval-mode <mode>', help: 'generate (greedy decoding, the reference) | rank (pick the likeliest label word)', group: EVAL, parse: choiceArg(EVAL_MODE_CHOICES, 'generate, rank') },
  { key: 'evalBatchSize', flags: '--eval-batch-size <n>', help: 'examples per evaluation batch', group: EVAL, parse: intArg },
  { key: 'maxNewTokens', flags: '--max-new-tokens <n>', help: 'generation length limit', group: EVAL, parse: intArg },
  { key: 'maxEvalExamples', flags: '--max-eval-examples <n>', help: 'use at most n validation and n test examples', group: EVAL, parse: intArg },

  { key: 'output', flags: '--output <dir>', help: 'run folder (default: runs/<task>-<method>)', group: OUT },
  { key: 'saveEvery', flags: '--save-every <n>', help: 'also checkpoint every n steps (0: only new bests and the last step)', group: OUT, parse: intArg },
  { key: 'saveEveryMinutes', flags: '--save-every-minutes <m>', help: 'also checkpoint when m minutes passed since the last one (0: off)', group: OUT, parse: floatArg },
  { key: 'keepCheckpoints', flags: '--keep-checkpoints <n>', help: 'newest checkpoints kept besides the best', group: OUT, parse: intArg },
  { key: 'adapterFormat', flags: '--adapter-format <fmt>', help: `file format of the saved adapter: ${METHOD_ENTRIES.map((e) => `${e.name}: ${e.formats.join(' | ')}`).join('; ')} (dept = PROMPT_TUNING_LORA, the DePT fork; peft = PROMPT_TUNING, DePT only when A·B is zero)`, group: OUT, parse: choiceArg(Object.fromEntries(adapterFormats().map((f) => [f, f])), adapterFormats().join(', ')), shownDefault: 'the method\'s first' },
  { key: 'threads', flags: '--threads <n>', help: 'compute threads (0: one per core)', group: OUT, parse: intArg },
  { key: 'precision', flags: '--precision <p>', help: 'fp32 | bf16 (frozen weights held in bf16, GEMMs on oneDNN with fp32 accumulation; --method full: mixed precision, fp32 masters of the trained weights computing through bf16 copies; opt-in, see bench/README.md)', group: OUT, parse: choiceArg({ fp32: 'fp32', bf16: 'bf16' } as const, 'fp32, bf16') },
  { key: 'savedActivations', flags: '--saved-activations <p>', help: 'fp32 | bf16: with --precision bf16 (T5), hold the activations saved for backward in bf16 (half their memory; the loss is unchanged, gradients move by about as much as rounding the weights does; opt-in, see bench/README.md)', group: OUT, parse: choiceArg({ fp32: 'fp32', bf16: 'bf16' } as const, 'fp32, bf16') },
  { key: 'resume', flags: '--resume [checkpoint]', help: 'continue the run in --output from its latest checkpoint (or from the given checkpoint folder)', group: OUT },
  { key: 'quiet', flags: '--quiet', help: 'no progress output', group: OUT },
];

/** The --method flag and every method's own options, from the registry. */
function methodFlags(): FlagSpec[] {
  const choices = Object.fromEntries(METHOD_ENTRIES.flatMap((e) => [e.name, ...e.aliases].map((n) => [n, e.name])));
  const names = METHOD_ENTRIES.map((e) => (e.aliases.length > 0 ? `${e.name} (${e.aliases.join(', ')})` : e.name)).join(', ');
  const all = METHOD_ENTRIES.length;
  return [
    { key: 'method', flags: '--method <name>', help: METHOD_ENTRIES.map((e) => e.name).join(' | ') + ` (aliases: ${METHOD_ENTRIES.flatMap((e) => e.aliases).join(', ')})`, group: METHOD, parse: choiceArg(choices, names) },
    ...methodOptions().map(({ option: o, methods, declared }): FlagSpec => {
      // one flag per key; where methods describe or default it differently, each says its own
      const same = (f: (d: MethodOption) => string | undefined) => declared.every((d) => f(d) === f(o));
      const help = same((d) => d.help) ? o.help : declared.map((d, i) => `${methods[i]}: ${d.help}`).join('; ');
      const shown = same((d) => d.shownDefault) ? o.shownDefault
        : declared.map((d, i) => `${methods[i]} ${d.shownDefault ?? '-'}`).join(', ');
      return {
        key: o.key, flags: o.flags, help: methods.length < all ? `[${methods.join(', ')}] ${help}` : help, group: METHOD,
        ...(o.parse !== undefined ? { parse: o.parse } : {}), ...(shown !== undefined ? { shownDefault: shown } : {}),
      };
    }),
  ];
}

function weightDecayDefaults(): string {
  return METHOD_ENTRIES.map((e) => `${e.name} ${[...new Set(e.groups.filter((g) => g.weightDecayKey !== null).map((g) => g.defaultWeightDecay))].join('/')}`).join(', ');
}

function lrDefaults(): string {
  return METHOD_ENTRIES.map((e) => `${e.name} ${e.groups.filter((g) => g.lrKey === 'lr').map((g) => g.defaultLr).join('/')}`).join(', ');
}

const TRAIN_KEYS = new Set<string>(Object.keys(TrainConfigSchema.shape));

/** Schema defaults (model is required, so a placeholder is given and dropped). */
export function trainDefaults(): Omit<TrainConfig, 'model'> {
  const { model: _model, ...rest } = CommonTrainConfigSchema.parse({ model: '-' });
  return rest;
}

/** commander Options for TRAIN_FLAGS, with the schema default shown in each description. */
export function trainOptions(): Option[] {
  const defaults = trainDefaults() as Record<string, unknown>;
  return TRAIN_FLAGS.map((f) => {
    const d = defaults[f.key];
    const shown = f.shownDefault !== undefined ? ` (default: ${f.shownDefault})`
      : f.key === 'dropout' || f.key === 'resume' || f.key === 'quiet' || f.key === 'padToMax' || f.key === 'groupByLength' || d === undefined ? '' : ` (default: ${JSON.stringify(d)})`;
    const opt = new Option(f.flags, f.help + shown).helpGroup(f.group);
    if (f.parse !== undefined) opt.argParser(f.parse as (value: string, previous: unknown) => unknown);
    return opt;
  });
}

export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function camel(key: string): string {
  return key.replace(/[-_]([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function closest(word: string, candidates: Iterable<string>): string | undefined {
  const lev = (a: string, b: string): number => {
    const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let prev = dp[0]!;
      dp[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const cur = dp[j]!;
        dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
        prev = cur;
      }
    }
    return dp[b.length]!;
  };
  let best: string | undefined, bestD = Infinity;
  for (const c of candidates) {
    const d = lev(word, c);
    if (d < bestD) { best = c; bestD = d; }
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** Config-file values in canonical form: "pt" → "prompt_tuning", and each method option's normalize ("text" → "TEXT"). */
function normalizeValues(values: Record<string, unknown>): Record<string, unknown> {
  const out = { ...values };
  if (typeof out['method'] === 'string' && methodNames().includes(out['method'].toLowerCase())) out['method'] = getMethod(out['method']).name;
  for (const { option } of methodOptions()) {
    if (option.normalize !== undefined && out[option.key] !== undefined) out[option.key] = option.normalize(out[option.key]);
  }
  return out;
}

/** Read a JSON config file into TrainConfig keys (not yet validated). */
export function readTrainConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SoftpromptError('file_not_found', `Config file ${file} does not exist.`, { file, path: 'config' });
    if (code === 'EISDIR') throw new SoftpromptError('file_not_found', `Config file ${file} is a folder, expected a JSON file.`, { file, path: 'config' });
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SoftpromptError('malformed_file', `Config file ${file} is not valid JSON: ${(err as Error).message}.`, { file, cause: err });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SoftpromptError('malformed_file', `Config file ${file} should hold a JSON object of training options, e.g. {"model": "t5-base", "steps": 1000}.`, { file });
  }
  return trainConfigValues(json as Record<string, unknown>, file);
}

/**
 * An object of training options (as in a config file) in TrainConfig keys, not yet validated: keys in any
 * spelling (camelCase, kebab-case, snake_case), "//" and "$" keys dropped, unknown keys refused with a suggestion.
 * `file` names where the object came from (a config file, or e.g. "sweep.json (base)").
 */
export function trainConfigValues(json: Record<string, unknown>, file: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [rawKey, value] of Object.entries(json)) {
    if (rawKey.startsWith('//') || rawKey.startsWith('$')) continue;
    const key = camel(rawKey);
    if (!TRAIN_KEYS.has(key)) {
      const near = closest(key, TRAIN_KEYS);
      throw new SoftpromptError('invalid_config', `Config file ${file} has an unknown key "${rawKey}"${near !== undefined ? `; did you mean "${near}"?` : '.'}`, {
        file, path: `config.${rawKey}`, hint: `the keys are the train flags in camelCase (--prompt-length → "promptLength"); see softprompt train --help.`,
      });
    }
    if (key in out) throw new SoftpromptError('invalid_config', `Config file ${file} sets "${key}" twice (as "${rawKey}" and in another spelling).`, { file, path: `config.${key}` });
    out[key] = value;
  }
  return normalizeValues(out);
}

/** The flag values commander parsed from the command line (not its implied defaults, e.g. dropout: true). */
export function flagValues(opts: Record<string, unknown>, sourceOf: (key: string) => string | undefined): Partial<Record<TrainKey, unknown>> {
  const out: Partial<Record<TrainKey, unknown>> = {};
  for (const f of TRAIN_FLAGS) {
    const v = opts[f.key];
    if (v === undefined) continue;
    const src = sourceOf(f.key);
    if (src === 'default' || src === 'implied') continue;
    out[f.key] = v;
  }
  return out;
}

const QUICKSTART_PATH_KEYS: readonly TrainKey[] = ['model', 'tokenizer', 'dataDir', 'trainFile', 'devFile', 'initAdapter'];

export interface ResolvedTrainConfig {
  config: TrainConfig;
  /** The config file used, if any. */
  configFile: string | undefined;
  /** True when the bundled quickstart supplied the defaults. */
  quickstart: boolean;
  /** Which fields came from flags (for the printout). */
  fromFlags: TrainKey[];
}

/**
 * flag > file > schema default, validated. `flags` holds only fields given on the command line;
 * `configFile` is --config. Neither --config nor --model: the bundled quickstart is the file.
 */
export function resolveTrainConfig(flags: Partial<Record<TrainKey, unknown>>, configFile?: string): ResolvedTrainConfig {
  let file = configFile;
  let fileValues: Record<string, unknown> = {};
  let quickstart = false;
  if (file !== undefined) {
    fileValues = readTrainConfigFile(file);
  } else if (flags.model === undefined) {
    file = quickstartConfigPath();
    quickstart = true;
    fileValues = readTrainConfigFile(file);
    for (const k of QUICKSTART_PATH_KEYS) {
      const v = fileValues[k];
      if (typeof v === 'string' && !path.isAbsolute(v)) fileValues[k] = path.join(packageRoot(), v);
    }
  }
  const merged: Record<string, unknown> = { ...fileValues };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) merged[k] = v;
  if (merged['model'] === undefined) {
    throw new SoftpromptError('invalid_config', `No model given: pass --model <folder> or set "model" in ${file}.`, {
      path: 'config.model', file, hint: 'a Hugging Face T5 folder with config.json and model.safetensors, e.g. --model ./t5-base.',
    });
  }
  let config: TrainConfig;
  try {
    config = parseTrainConfig(merged);
  } catch (err) {
    throw attributeError(err, merged, fileValues, flags, file);
  }
  return { config, configFile: file, quickstart, fromFlags: Object.keys(flags).filter((k) => flags[k as TrainKey] !== undefined) as TrainKey[] };
}

/** Say where a bad value came from: the flag, or the file. */
function attributeError(err: unknown, merged: Record<string, unknown>, fileValues: Record<string, unknown>,
  flags: Partial<Record<TrainKey, unknown>>, file: string | undefined): unknown {
  if (!(err instanceof SoftpromptError) || err.path === undefined) return err;
  const key = err.path.split('.')[1] ?? '';
  if (flags[key as TrainKey] !== undefined) {
    const flag = TRAIN_FLAGS.find((f) => f.key === key)?.flags.split(' ')[0] ?? `--${kebab(key)}`;
    return new SoftpromptError(err.code, `${err.message.replace(/\.$/, '')} (from ${flag}).`, { path: err.path, ...(err.hint !== undefined ? { hint: err.hint } : {}) });
  }
  if (file !== undefined && key in fileValues) {
    try {
      parseTrainConfig(merged, file);
    } catch (withFile) {
      return withFile;
    }
  }
  return err;
}
