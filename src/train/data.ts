/** The run's data: task splits read, capped and tokenized once. */
import { SoftpromptError } from '../errors.js';
import { withLabelWords } from '../tasks/label-words.js';
import { createLocalTask, type LocalTaskOptions } from '../tasks/local.js';
import { bundledDataDir, loadSplits, getTask, type LoadedSplits } from '../tasks/registry.js';
import { encodeSplit } from '../predict/index.js';
import { targetLength, type EncodedExample, type TextTokenizer } from '../tasks/encode.js';
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
  const encode = (xs: Example[]) => encodeSplit(kind, tok, xs, cfg.maxLength, S);
  return {
    task, splits, targetLength: S,
    train: encode(train),
    validation: encode(validation),
    test: encode(test),
    validationTargets: validation.map((e) => e.target),
    testTargets: test.map((e) => e.target),
  };
}
