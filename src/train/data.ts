/** The run's data: task splits read, capped and tokenized once. */
import { SoftpromptError } from '../errors.js';
import { withLabelWords } from '../tasks/label-words.js';
import { createLocalTask, type LocalTaskOptions } from '../tasks/local.js';
import { bundledDataDir, loadSplits, getTask, type LoadedSplits } from '../tasks/registry.js';
import { encodeSplit } from '../predict/index.js';
import { targetLength, type EncodedExample, type TextTokenizer, type TruncationCount } from '../tasks/encode.js';
import { causalSourceText } from '../tasks/encode-causal.js';
import { TASK_PREFIXES } from '../tasks/input-format.js';
import { parseTemplate, renderTemplate } from '../tasks/template.js';
import type { Example, TaskSpec } from '../tasks/types.js';
import type { TrainConfig } from './config.js';

export interface RunData {
  task: TaskSpec;
  splits: LoadedSplits;
  /** decoder length: longest tokenized label */
  targetLength: number;
  train: EncodedExample[];
  validation: EncodedExample[];
  test: EncodedExample[];
  /** label strings of validation / test, for metrics */
  validationTargets: string[];
  testTargets: string[];
  /** rows cut to maxLength, per split */
  truncation: Truncation;
}

/** How many rows of each split --max-length cut (the training report and summary.json say it). */
export interface Truncation {
  maxLength: number;
  train: { rows: number; truncated: number };
  validation: { rows: number; truncated: number };
  test: { rows: number; truncated: number };
}

type DataConfig = Pick<TrainConfig, 'task' | 'dataDir' | 'trainFile' | 'devFile' | 'textColumn' | 'textPairColumn' |
  'labelColumn' | 'template' | 'seed' | 'maxTrainExamples' | 'maxEvalExamples' | 'maxLength'> & { labelWords?: string[] | undefined };

export function resolveTask(cfg: DataConfig): { task: TaskSpec; dataDir: string } {
  if (cfg.task === 'local') {
    if (cfg.trainFile === undefined || cfg.devFile === undefined) {
      throw new SoftpromptError('invalid_config', 'The local task needs --train-file and --dev-file (.jsonl, .csv or .tsv).', { path: 'config.trainFile' });
    }
    const opts: LocalTaskOptions = { train: cfg.trainFile, dev: cfg.devFile, textColumn: cfg.textColumn, labelColumn: cfg.labelColumn };
    if (cfg.textPairColumn !== undefined) opts.textPairColumn = cfg.textPairColumn;
    if (cfg.template !== undefined) opts.template = cfg.template;
    return { task: relabel(createLocalTask(opts), cfg.labelWords), dataDir: cfg.dataDir ?? '.' };
  }
  return { task: relabel(getTask(cfg.task), cfg.labelWords), dataDir: cfg.dataDir ?? bundledDataDir() };
}

function relabel(task: TaskSpec, words: string[] | undefined): TaskSpec {
  return words === undefined ? task : withLabelWords(task, words);
}

/**
 * `kind` 'causal' encodes for decoder-only models (src/tasks/encode-causal.ts: `${source} Label : ` + target + EOS,
 * the pair cut to maxLength); targetLength is then unused by the collation.
 */
export function loadRunData(cfg: DataConfig, tok: TextTokenizer, kind: 'seq2seq' | 'causal' = 'seq2seq'): RunData {
  const { task, dataDir } = resolveTask(cfg);
  const splits = loadSplits(task, dataDir, { seed: cfg.seed });
  const cap = (xs: Example[], n: number | undefined) => (n === undefined ? xs : xs.slice(0, n));
  const train = cap(splits.train, cfg.maxTrainExamples);
  const validation = cap(splits.validation, cfg.maxEvalExamples);
  const test = cap(splits.test, cfg.maxEvalExamples);
  for (const [name, xs] of [['train', train], ['validation', validation]] as const) {
    if (xs.length === 0) throw new SoftpromptError('invalid_data', `The ${name} split of ${task.name} in ${dataDir} is empty.`, { path: name, file: dataDir });
  }
  const S = targetLength(tok, task.labelList ?? task.labelWords, task.maxTargetLength ?? 20);
  checkRoomForText(task, tok, kind, cfg.maxLength);
  const truncation: Truncation = { maxLength: cfg.maxLength, train: { rows: 0, truncated: 0 }, validation: { rows: 0, truncated: 0 }, test: { rows: 0, truncated: 0 } };
  const encode = (xs: Example[], split: 'train' | 'validation' | 'test') => {
    const count: TruncationCount = { truncated: 0 };
    const out = encodeSplit(kind, tok, xs, cfg.maxLength, S, count);
    truncation[split] = { rows: xs.length, truncated: count.truncated };
    return out;
  };
  return {
    task, splits, targetLength: S,
    train: encode(train, 'train'),
    validation: encode(validation, 'validation'),
    test: encode(test, 'test'),
    validationTargets: validation.map((e) => e.target),
    testTargets: test.map((e) => e.target),
    truncation,
  };
}

/** "train 12 of 400 rows, validation 0 of 100, test 1 of 100" */
export function describeTruncation(t: Truncation): string {
  return (['train', 'validation', 'test'] as const).map((k) => `${k} ${t[k].truncated.toLocaleString('en-US')} of ${t[k].rows.toLocaleString('en-US')}`).join(', ');
}

/**
 * The task's fixed text (a local template without its fields, a GLUE task's "sentence1: … sentence2:" prefixes;
 * decoder-only models add " Label : " and the longest label) must leave at least one token of max_length for the
 * row's own text; otherwise every row would be cut to the template alone and training would learn nothing.
 */
export function checkRoomForText(task: TaskSpec, tok: TextTokenizer, kind: 'seq2seq' | 'causal', maxLength: number): void {
  const local = task.localFormat?.();
  const prefixes = TASK_PREFIXES[task.name];
  const skeleton = local !== undefined ? renderTemplate(parseTemplate(local.template), () => '').trim() : prefixes !== undefined ? prefixes.join(' ') : undefined;
  if (skeleton === undefined) return;
  const fixed = kind === 'causal'
    ? tok.encode(causalSourceText(skeleton), { addSpecialTokens: true }).length
      + Math.max(0, ...(task.labelWords ?? []).map((w) => tok.encode(w, { addSpecialTokens: false }).length)) + 1
    : tok.encode(skeleton, { addSpecialTokens: true }).length;
  if (fixed < maxLength) return;
  const what = local !== undefined ? `The template ${JSON.stringify(local.template)}` : `The ${task.name} input format (${JSON.stringify(skeleton)})`;
  const extra = kind === 'causal' ? ` with " Label :" and the longest label + EOS (a decoder-only model's input)` : ' with its special tokens';
  throw new SoftpromptError('invalid_config', `${what} alone takes ${fixed} tokens${extra}, but --max-length is ${maxLength}: no room is left for the text.`, {
    path: 'config.maxLength', hint: `raise --max-length above ${fixed} (the text needs its own tokens too)${local !== undefined ? ', or shorten the template' : ''}.`,
  });
}
