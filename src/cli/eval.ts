/**
 * `softprompt eval`: an adapter on a task split, with the task's metrics (the validation / test split as DePT's
 * split protocol cuts them, so the numbers match `train`'s).
 */
import path from 'node:path';
import { Command, Option } from 'commander';
import { evaluate as taskMetrics } from '../tasks/metrics.js';
import { bundledDataDir, loadSplits } from '../tasks/registry.js';
import { SAVED_TASK_FILE, taskFromSaved } from '../tasks/saved-task.js';
import { targetLength } from '../tasks/encode.js';
import { encodeSplit, meanTokenLoss, predictAny, withMethod } from '../predict/index.js';
import { usageError } from './errors.js';
import { REVISION_FLAG, REVISION_HELP, resolveHubFlags } from './hub-paths.js';
import { loadInference } from './load.js';
import { choiceArg, EVAL_MODE_CHOICES, intArg, labelWordsArg, SPLIT_CHOICES } from './options.js';
import { displayPath } from './paths.js';

export interface EvalOptions {
  adapter: string;
  model?: string;
  tokenizer?: string;
  /** default: the adapter's softprompt_task.json */
  task?: string;
  /** score every row of this file (the task's format; local: its columns) instead of a split */
  data?: string;
  dataDir?: string;
  trainFile?: string;
  devFile?: string;
  textColumn?: string;
  textPairColumn?: string;
  labelColumn?: string;
  template?: string;
  split?: 'validation' | 'test';
  evalMode?: 'generate' | 'rank';
  maxEvalExamples?: number;
  batchSize: number;
  maxNewTokens?: number;
  maxLength?: number;
  seed?: number;
  threads?: number;
  json?: boolean;
  /** the task's label words replaced, class by class (as train's --label-words) */
  labelWords?: string[];
}

const FROM_TASK_FILE = `default: the adapter's ${SAVED_TASK_FILE}`;

export function evalCommand(): Command {
  return new Command('eval')
    .summary('score an adapter on a task split or a data file')
    .description('Load a model and an adapter, predict a task split (or every row of --data FILE), print its metrics. '
      + `The task, its format (template, columns), label words, eval mode and max length come from the adapter's `
      + `${SAVED_TASK_FILE} (written by train); flags override them.`)
    .requiredOption('--adapter <dir>', 'adapter folder (adapter_config.json + adapter_model.safetensors or .bin)')
    .option('--model <dir>', 'base model folder (default: the adapter\'s base_model_name_or_path, if it is a folder here)')
    .option('--tokenizer <path>', 'tokenizer folder or file (default: the model folder, else the adapter\'s tokenizer path)')
    .option(REVISION_FLAG, REVISION_HELP)
    .option('--data <file>', 'score every row of this file: local task: .csv/.tsv/.jsonl with the trained columns; named task: a file in its format (e.g. SST-2/dev.tsv)')
    .option('--task <name>', `task name (see \`softprompt tasks\`) or "local" (${FROM_TASK_FILE})`)
    .option('--label-words <words>', 'classification: the targets of the classes, comma-separated in class order (as given to train)', labelWordsArg)
    .option('--data-dir <dir>', 'task data folder for the split (default: the bundled slices in data/)')
    .addOption(new Option('--split <name>', 'validation | test, cut by DePT\'s split protocol (default: test; not with --data)').argParser(choiceArg(SPLIT_CHOICES, 'validation, test')))
    .addOption(new Option('--eval-mode <mode>', `generate (greedy decoding) | rank (likeliest label word) (${FROM_TASK_FILE}, else generate)`).argParser(choiceArg(EVAL_MODE_CHOICES, 'generate, rank')))
    .option('--max-eval-examples <n>', 'score at most n examples', intArg)
    .option('--batch-size <n>', 'examples per batch', intArg, 32)
    .option('--max-new-tokens <n>', `generation length limit (${FROM_TASK_FILE}, else 20)`, intArg)
    .option('--max-length <n>', `truncate inputs to n tokens (${FROM_TASK_FILE}, else 256; an adapter with its own limit, e.g. DePT's s, caps it)`, intArg)
    .option('--seed <n>', `split seed (${FROM_TASK_FILE}, else 42, the reference's)`, intArg)
    .option('--threads <n>', 'compute threads (0: one per core)', intArg)
    .option('--train-file <file>', 'local task: training file (for the split protocol)')
    .option('--dev-file <file>', 'local task: dev file (halved into validation / test)')
    .option('--text-column <name>', `local task: text column (${FROM_TASK_FILE}, else "text")`)
    .option('--text-pair-column <name>', 'local task: second text column')
    .option('--label-column <name>', `local task: label column (${FROM_TASK_FILE}, else "label")`)
    .option('--template <text>', 'local task: source template')
    .option('--json', 'print one JSON object instead of text (with "loss": the mean per-token cross-entropy of the targets)')
    .addHelpText('after', `
Examples:
  $ softprompt eval --adapter runs/local-dept/adapter --data my-dev.csv        # a trained adapter: no other flags
  $ softprompt eval --adapter runs/quickstart/adapter --split validation --json
  $ softprompt eval --adapter runs/sst2-dept/adapter --model ./t5-base --task sst2 --data-dir ~/glue --split validation
`)
    .action(async (o: EvalOptions) => { runEval(await resolveHubFlags(o)); });
}

export interface EvalResult {
  task: string;
  split: string;
  examples: number;
  evalMode: string;
  splitProtocol: string;
  /** with --data: the file scored (split is then "data") */
  data?: string;
  metrics: Record<string, number>;
  /** mean per-token cross-entropy of the split's targets (Σ NLL / Σ target tokens); with --json only */
  loss?: number;
}

export function runEval(o: EvalOptions): EvalResult {
  for (const [name, v] of [['--batch-size', o.batchSize], ['--max-new-tokens', o.maxNewTokens ?? 1], ['--max-eval-examples', o.maxEvalExamples ?? 1]] as const) {
    if (v < 1) throw usageError(`${name} must be at least 1, got ${v}.`, { path: name });
  }
  if (o.data !== undefined && o.split !== undefined) throw usageError('--data scores every row of a file; --split picks a split of the task\'s data. Give one of them.', { path: '--split' });
  const inf = loadInference({ adapter: o.adapter, model: o.model, tokenizer: o.tokenizer, threads: o.threads, maxLength: o.maxLength });
  const saved = inf.saved;
  const evalMode = o.evalMode ?? saved?.evalMode ?? 'generate';
  const maxNewTokens = o.maxNewTokens ?? saved?.maxNewTokens ?? 20;
  const seed = o.seed ?? saved?.seed ?? 42;
  const taskName = o.task ?? saved?.task;
  if (taskName === undefined) {
    throw usageError(`--task is required: ${displayPath(o.adapter)} has no ${SAVED_TASK_FILE} (adapters trained before it was written, or by other tools).`, { path: '--task' });
  }
  const local = taskName === 'local';
  if (local && o.data === undefined && (o.trainFile === undefined || o.devFile === undefined)) {
    throw usageError('A local-task adapter is scored on a file: --data FILE (every row), or --train-file and --dev-file (the split protocol\'s validation / test halves of dev).', { path: '--data' });
  }
  // labels are inferred from the data when no task file lists them (older adapters)
  const labelsFrom = o.trainFile ?? o.data;
  const task = taskFromSaved(saved, {
    task: taskName, ...defined({ template: o.template, textColumn: o.textColumn, textPairColumn: o.textPairColumn, labelColumn: o.labelColumn, labelWords: o.labelWords, devFile: o.devFile }),
    ...(labelsFrom !== undefined ? { trainFile: path.resolve(labelsFrom) } : {}),
  });
  if (evalMode === 'rank' && task.labelWords === null) {
    throw usageError(`--eval-mode rank needs a classification task; ${task.name} has no label words.`, { path: '--eval-mode', hint: 'use --eval-mode generate.' });
  }
  let all, what: string, splitProtocol: string;
  if (o.data !== undefined) {
    if (task.readFile === undefined) throw usageError(`--data: task ${task.name} cannot read a single file; use --data-dir and --split.`, { path: '--data' });
    all = task.readFile(o.data);
    what = `${displayPath(o.data)}`;
    splitProtocol = 'none';
  } else {
    const dataDir = local ? '.' : o.dataDir ?? bundledDataDir();
    const splits = loadSplits(task, dataDir, { seed });
    const split = o.split ?? 'test';
    all = split === 'validation' ? splits.validation : splits.test;
    what = split;
    splitProtocol = splits.splitProtocol;
    if (all.length === 0) throw usageError(`The ${split} split of ${task.name} in ${dataDir} is empty.`, { path: '--split' });
  }
  const examples = o.maxEvalExamples === undefined ? all : all.slice(0, o.maxEvalExamples);
  if (examples.length === 0) throw usageError(`${what} has no rows to score.`, { path: '--data' });
  const S = targetLength(inf.tok, task.labelList ?? task.labelWords, task.maxTargetLength ?? 20);
  const encoded = encodeSplit(inf.lm.kind, inf.tok, examples, inf.maxLength, S);
  const opts = { batchSize: o.batchSize, maxNewTokens, maxLength: inf.maxLength };
  const method = inf.adapter.method;
  const t0 = performance.now();
  const { preds, loss } = withMethod(inf.model, method, () => ({
    preds: predictAny(inf.lm, method, inf.tok, encoded, evalMode === 'rank' ? task.labelWords! : null, opts),
    loss: o.json === true ? meanTokenLoss(inf.lm, method, encoded, { batchSize: o.batchSize, padId: inf.tok.padId, targetLength: S }).loss : undefined,
  }));
  const metrics = taskMetrics(task, preds, examples.map((e) => e.target));
  const seconds = (performance.now() - t0) / 1000;
  const split = o.data !== undefined ? 'data' : o.split ?? 'test';
  const result: EvalResult = { task: task.name, split, examples: examples.length, evalMode, splitProtocol, metrics };
  if (o.data !== undefined) result.data = o.data;
  if (loss !== undefined) result.loss = loss;
  if (o.json === true) {
    process.stdout.write(JSON.stringify({ ...result, adapter: o.adapter, model: inf.modelDir, seconds }, null, 2) + '\n');
  } else {
    const how = o.data !== undefined ? `${evalMode}, every row` : `${evalMode}, splits ${splitProtocol}`;
    process.stdout.write(`${task.name} ${what}: ${examples.length} examples (${how}), adapter ${displayPath(o.adapter)} on ${displayPath(inf.modelDir)}, ${seconds.toFixed(1)} s\n`);
    for (const [k, v] of Object.entries(metrics)) process.stdout.write(`  ${k.padEnd(22)} ${v.toFixed(2)}${k === task.primaryMetric ? '  (primary)' : ''}\n`);
  }
  return result;
}

/** The keys whose values are defined (exactOptionalPropertyTypes: an absent flag stays absent). */
function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
