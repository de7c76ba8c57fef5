/**
 * `softprompt eval`: an adapter on a task split, with the task's metrics (the validation / test split as DePT's
 * split protocol cuts them, so the numbers match `train`'s).
 */
import { Command, Option } from 'commander';
import { evaluate as taskMetrics } from '../tasks/metrics.js';
import { loadSplits } from '../tasks/registry.js';
import { targetLength } from '../tasks/encode.js';
import { encodeSplit, meanTokenLoss, predictAny, withMethod } from '../predict/index.js';
import { resolveTask } from '../train/data.js';
import { usageError } from './errors.js';
import { REVISION_FLAG, REVISION_HELP, resolveHubFlags } from './hub-paths.js';
import { loadInference } from './load.js';
import { choiceArg, EVAL_MODE_CHOICES, intArg, labelWordsArg, SPLIT_CHOICES } from './options.js';
import { displayPath } from './paths.js';

export interface EvalOptions {
  adapter: string;
  model?: string;
  tokenizer?: string;
  task: string;
  dataDir?: string;
  trainFile?: string;
  devFile?: string;
  textColumn: string;
  textPairColumn?: string;
  labelColumn: string;
  template?: string;
  split: 'validation' | 'test';
  evalMode: 'generate' | 'rank';
  maxEvalExamples?: number;
  batchSize: number;
  maxNewTokens: number;
  maxLength?: number;
  seed: number;
  threads?: number;
  json?: boolean;
  /** the task's label words replaced, class by class (as train's --label-words) */
  labelWords?: string[];
}

export function evalCommand(): Command {
  return new Command('eval')
    .summary('score an adapter on a task split')
    .description('Load a model and an adapter, predict a task split, print its metrics.')
    .requiredOption('--adapter <dir>', 'adapter folder (adapter_config.json + adapter_model.safetensors or .bin)')
    .option('--model <dir>', 'base model folder (default: the adapter\'s base_model_name_or_path, if it is a folder here)')
    .option('--tokenizer <path>', 'tokenizer folder or file (default: the model folder, else the adapter\'s tokenizer path)')
    .option(REVISION_FLAG, REVISION_HELP)
    .requiredOption('--task <name>', 'task name (see `softprompt tasks`) or "local"')
    .option('--label-words <words>', 'classification: the targets of the classes, comma-separated in class order (as given to train)', labelWordsArg)
    .option('--data-dir <dir>', 'task data folder (default: the bundled slices in data/)')
    .addOption(new Option('--split <name>', 'validation | test').default('test').argParser(choiceArg(SPLIT_CHOICES, 'validation, test')))
    .addOption(new Option('--eval-mode <mode>', 'generate (greedy decoding) | rank (likeliest label word)').default('generate').argParser(choiceArg(EVAL_MODE_CHOICES, 'generate, rank')))
    .option('--max-eval-examples <n>', 'score at most n examples', intArg)
    .option('--batch-size <n>', 'examples per batch', intArg, 32)
    .option('--max-new-tokens <n>', 'generation length limit', intArg, 20)
    .option('--max-length <n>', 'truncate inputs to n tokens (default 256; an adapter with its own limit, e.g. DePT\'s s, caps it)', intArg)
    .option('--seed <n>', 'split seed; use the run\'s --seed (the reference uses 42)', intArg, 42)
    .option('--threads <n>', 'compute threads (0: one per core)', intArg)
    .option('--train-file <file>', 'local task: training file (read for the split protocol)')
    .option('--dev-file <file>', 'local task: dev file')
    .option('--text-column <name>', 'local task: text column', 'text')
    .option('--text-pair-column <name>', 'local task: second text column')
    .option('--label-column <name>', 'local task: label column', 'label')
    .option('--template <text>', 'local task: source template')
    .option('--json', 'print one JSON object instead of text (with "loss": the mean per-token cross-entropy of the targets)')
    .addHelpText('after', `
Examples:
  $ softprompt eval --adapter runs/quickstart/adapter --model test/fixtures/t5-tiny \\
      --tokenizer test/fixtures/tokenizers/t5 --task sst2 --eval-mode rank
  $ softprompt eval --adapter runs/sst2-dept/adapter --model ./t5-base --task sst2 --data-dir ~/glue --split validation --json
`)
    .action(async (o: EvalOptions) => { runEval(await resolveHubFlags(o)); });
}

export interface EvalResult {
  task: string;
  split: string;
  examples: number;
  evalMode: string;
  splitProtocol: string;
  metrics: Record<string, number>;
  /** mean per-token cross-entropy of the split's targets (Σ NLL / Σ target tokens); with --json only */
  loss?: number;
}

export function runEval(o: EvalOptions): EvalResult {
  for (const [name, v] of [['--batch-size', o.batchSize], ['--max-new-tokens', o.maxNewTokens], ['--max-eval-examples', o.maxEvalExamples ?? 1]] as const) {
    if (v < 1) throw usageError(`${name} must be at least 1, got ${v}.`, { path: name });
  }
  const inf = loadInference({ adapter: o.adapter, model: o.model, tokenizer: o.tokenizer, threads: o.threads, maxLength: o.maxLength });
  const { task, dataDir } = resolveTask({
    task: o.task, dataDir: o.dataDir, trainFile: o.trainFile, devFile: o.devFile, textColumn: o.textColumn,
    textPairColumn: o.textPairColumn, labelColumn: o.labelColumn, template: o.template, seed: o.seed, labelWords: o.labelWords,
    maxTrainExamples: undefined, maxEvalExamples: o.maxEvalExamples, maxLength: inf.maxLength,
  });
  if (o.evalMode === 'rank' && task.labelWords === null) {
    throw usageError(`--eval-mode rank needs a classification task; ${task.name} has no label words.`, { path: '--eval-mode', hint: 'use --eval-mode generate.' });
  }
  const splits = loadSplits(task, dataDir, { seed: o.seed });
  const all = o.split === 'validation' ? splits.validation : splits.test;
  const examples = o.maxEvalExamples === undefined ? all : all.slice(0, o.maxEvalExamples);
  if (examples.length === 0) throw usageError(`The ${o.split} split of ${task.name} in ${dataDir} is empty.`, { path: '--split' });
  const S = targetLength(inf.tok, task.labelList ?? task.labelWords, task.maxTargetLength ?? 20);
  const encoded = encodeSplit(inf.lm.kind, inf.tok, examples, inf.maxLength, S);
  const opts = { batchSize: o.batchSize, maxNewTokens: o.maxNewTokens, maxLength: inf.maxLength };
  const method = inf.adapter.method;
  const t0 = performance.now();
  const { preds, loss } = withMethod(inf.model, method, () => ({
    preds: predictAny(inf.lm, method, inf.tok, encoded, o.evalMode === 'rank' ? task.labelWords! : null, opts),
    loss: o.json === true ? meanTokenLoss(inf.lm, method, encoded, { batchSize: o.batchSize, padId: inf.tok.padId, targetLength: S }).loss : undefined,
  }));
  const metrics = taskMetrics(task, preds, examples.map((e) => e.target));
  const seconds = (performance.now() - t0) / 1000;
  const result: EvalResult = { task: task.name, split: o.split, examples: examples.length, evalMode: o.evalMode, splitProtocol: splits.splitProtocol, metrics };
  if (loss !== undefined) result.loss = loss;
  if (o.json === true) {
    process.stdout.write(JSON.stringify({ ...result, adapter: o.adapter, model: inf.modelDir, seconds }, null, 2) + '\n');
  } else {
    process.stdout.write(`${task.name} ${o.split}: ${examples.length} examples (${o.evalMode}, splits ${splits.splitProtocol}), adapter ${displayPath(o.adapter)} on ${displayPath(inf.modelDir)}, ${seconds.toFixed(1)} s\n`);
    for (const [k, v] of Object.entries(metrics)) process.stdout.write(`  ${k.padEnd(22)} ${v.toFixed(2)}${k === task.primaryMetric ? '  (primary)' : ''}\n`);
  }
  return result;
}
