/**
 * `softprompt train`: resolve the config (flag > --config file > schema default; the bundled quickstart when no
 * model is given), run trainRun, print where everything went.
 *
 * Ctrl-C (or SIGTERM): the engine catches it; the loop finishes the current step, checkpoints it atomically,
 * prints where and the exact command that continues, and the command exits 130. A second Ctrl-C ends the
 * process at once; every file is written atomically, so nothing saved is corrupted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { SoftpromptError } from '../errors.js';
import { loadSplits } from '../tasks/registry.js';
import type { CommonTrainConfig, TrainConfig } from '../train/config.js';
import { resolveTask } from '../train/data.js';
import { METRICS_FILE } from '../train/loop.js';
import { readMetrics } from '../train/metrics-log.js';
import { defaultRunDir, trainRun, type TrainRunResult } from '../train/run.js';
import { bundledDefaultModel, bundledTinyModel, displayPath, samePath, selfCommand, shellQuote } from './paths.js';
import { taskFields } from '../tasks/input-format.js';
import { resolveTrainHubIds } from './hub-paths.js';
import { canonicalTaskName } from '../tasks/registry.js';
import { readSavedTask, SAVED_TASK_FILE } from '../tasks/saved-task.js';
import { parseTemplate, templateFields } from '../tasks/template.js';
import { describeTruncation } from '../train/data.js';
import { defaultInferencePaths } from './load.js';
import { flagValues, kebab, resolveTrainConfig, trainOptions, type ResolvedTrainConfig } from './train-config.js';

const HELP_AFTER = `
Config resolution: flag > --config file > default. The JSON file uses the flags' camelCase names, e.g.
  {"model": "./t5-base", "task": "rte", "promptLength": 60, "budget": 100, "steps": 30000, "lrLowrank": 1e-4}
Without --model and --config, the bundled quickstart (examples/quickstart.json) is used: DePT on a 4,000-row
SST-2 slice with the bundled models/t5-mini (a 13M-parameter T5 pretrained by softprompt pretrain), about two
minutes on 2 cores; test accuracy about 62 against a 50.9 majority class.

Run folder (--output, default runs/<task>-<method>): run_config.json, softprompt_task.json, metrics.jsonl,
loss.svg, eval.svg, report.html, checkpoint-<step>/, adapter/ (adapter_config.json, adapter_model.safetensors, README.md,
softprompt_task.json: the task, template, columns, label words, eval mode and max length, so that
\`eval --adapter DIR --data FILE\` and \`predict --adapter DIR --text "…"\` need no other flags), summary.json.
Training starts by saying how many rows of each split --max-length cuts; a template that alone fills
--max-length is refused (exit 3).

Interrupting: Ctrl-C finishes the current step, saves a checkpoint, prints the command that continues the run
(the same command with --resume) and exits 130; a second Ctrl-C exits at once. Checkpoints are also written
every --save-every-minutes (default 5) and are atomic, so a crash loses at most a few minutes.

Examples:
  $ softprompt train                                   # the quickstart (same as npm start)
  $ softprompt train --model ./t5-base --task sst2 --data-dir ~/glue --steps 30000
  $ softprompt train --config runs.json --lr 0.4       # file values, lr overridden
  $ softprompt train --model ./t5-base --task local --train-file train.jsonl --dev-file dev.jsonl \\
      --template "review: {text}" --method pt --prompt-length 100
  $ softprompt train --model ./t5-base --task rte --output runs/rte --resume   # after Ctrl-C
`;

export function trainCommand(): Command {
  const cmd = new Command('train')
    .summary('train an adapter (DePT, prompt tuning, LoRA) of a frozen T5, GPT-2 or LLaMA model, or fully fine-tune one')
    .description('Train a DePT (decomposed prompt tuning), prompt-tuning or LoRA adapter for a frozen T5, GPT-2 or LLaMA model, or fine-tune\nall its weights (--method full), on the CPU. Every option below is also a key of the --config file.')
    .option('--config <file>', 'JSON file of training options (flags override it)');
  for (const opt of trainOptions()) cmd.addOption(opt);
  cmd.addHelpText('after', HELP_AFTER);
  cmd.action(async (opts: Record<string, unknown>, command: Command) => {
    const resolved = resolveTrainConfig(
      flagValues(opts, (k) => command.getOptionValueSource(k)),
      typeof opts['config'] === 'string' ? opts['config'] : undefined,
    );
    runTrain({ ...resolved, config: await resolveTrainHubIds(resolved.config) });
  });
  return cmd;
}

function err(line: string): void {
  process.stderr.write(line + '\n');
}

/** The quickstart never refuses to start because an earlier quickstart run left its folder: it picks -2, -3, … */
function freshQuickstartDir(cfg: TrainConfig, resolved: ResolvedTrainConfig): TrainConfig {
  if (!resolved.quickstart || resolved.fromFlags.includes('output') || cfg.resume !== false) return cfg;
  const base = defaultRunDir(cfg);
  const used = (d: string): boolean => fs.existsSync(d) && fs.readdirSync(d).length > 0;
  if (!used(base)) return cfg;
  let i = 2;
  while (used(`${base}-${i}`)) i++;
  err(`${displayPath(base)} holds an earlier quickstart run; writing this one to ${displayPath(`${base}-${i}`)}.`);
  return { ...cfg, output: `${base}-${i}` };
}

/** Paths that must exist, checked before the run folder is created (so a typo leaves no empty run folder). */
function checkPaths(cfg: TrainConfig, resolved: ResolvedTrainConfig): void {
  const checks: Array<[keyof CommonTrainConfig, string | undefined, string]> = [
    ['model', cfg.model, 'Model folder'],
    ['tokenizer', cfg.tokenizer, 'Tokenizer path'],
    ['dataDir', cfg.dataDir, 'Data folder'],
    ['initAdapter', cfg.initAdapter, 'Adapter folder (--init-adapter)'],
  ];
  for (const [key, p, what] of checks) {
    if (p === undefined || fs.existsSync(p)) continue;
    const from = resolved.fromFlags.includes(key) ? `--${kebab(key)}` : resolved.configFile;
    throw new SoftpromptError('file_not_found', `${what} ${p}${from !== undefined ? ` (from ${from})` : ''} does not exist.`, {
      path: `config.${key}`, file: p,
      ...(key === 'model' ? { hint: 'give a Hugging Face model folder (T5, GPT-2 or LLaMA) with config.json and model.safetensors (e.g. ./t5-base), or leave --model out for the bundled quickstart.' } : {}),
    });
  }
}

export function runTrain(resolved: ResolvedTrainConfig): TrainRunResult {
  const cfg = freshQuickstartDir(resolved.config, resolved);
  checkPaths(cfg, resolved);
  const tiny = samePath(cfg.model, bundledTinyModel());
  const bundled = tiny || samePath(cfg.model, bundledDefaultModel());
  if (resolved.quickstart) {
    const extra = resolved.fromFlags.length > 0 ? ` with ${resolved.fromFlags.map((k) => `--${kebab(k)}`).join(', ')} from the command line` : '';
    err(`softprompt train: no --model given, so running the bundled quickstart (${displayPath(resolved.configFile!)})${extra}.`);
  } else if (resolved.configFile !== undefined) {
    err(`softprompt train: config ${resolved.configFile}${resolved.fromFlags.length > 0 ? ' + flags' : ''}.`);
  }
  if (tiny) {
    err('  note: the bundled t5-tiny has RANDOM weights: the loss will fall, and its accuracy says nothing about DePT (the summary compares it with the majority class).');
  }
  const result = trainRun(cfg, { interruptible: true, resumeHint: resumeCommand(resolved, cfg) });
  printSummary(cfg, result, bundled);
  if (result.loop.signal !== null) {
    throw new SoftpromptError('interrupted', `Interrupted (${result.loop.signal}) after step ${result.loop.step} of ${cfg.steps}; the checkpoint is saved.`, {
      hint: `continue with: ${resumeCommand(resolved, cfg)}`,
    });
  }
  return result;
}

/** The command line that continues this run: the user's own arguments, the run folder pinned, plus --resume. */
export function resumeCommand(resolved: ResolvedTrainConfig, cfg: TrainConfig): string {
  const args = process.argv.slice(2);
  if (!args.includes('train')) args.unshift('train');
  if (!resolved.fromFlags.includes('output')) args.push('--output', displayPath(path.resolve(defaultRunDir(cfg))));
  if (cfg.resume === false) args.push('--resume');
  return [...selfCommand(), ...args].map(shellQuote).join(' ');
}


function fmtMetrics(m: Record<string, number> | null): string {
  if (m === null) return '(none)';
  return Object.entries(m).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
}

function meanLoss(losses: number[]): number {
  return losses.reduce((a, b) => a + b, 0) / Math.max(1, losses.length);
}

function out(line = ''): void {
  process.stdout.write(line + '\n');
}

/** --model / --tokenizer, only where the adapter's recorded paths would not find the ones trained with. */
function baseFlags(cfg: TrainConfig, adapterDir: string): string[] {
  const found = defaultInferencePaths(adapterDir);
  const flags: string[] = [];
  if (found.model === null || !samePath(found.model, cfg.model)) flags.push('--model', displayPath(path.resolve(cfg.model)));
  const tok = cfg.tokenizer ?? cfg.model;
  if (found.tokenizer === null || !samePath(found.tokenizer, tok)) flags.push('--tokenizer', displayPath(path.resolve(tok)));
  return flags;
}

/** Sample values for a task's input fields, so the printed predict command runs as printed. */
const SAMPLE_FIELDS: Readonly<Record<string, string>> = {
  text: 'a gorgeous, witty, seductive movie.', sentence: 'a gorgeous, witty, seductive movie.',
  sentence1: 'A man is playing a guitar.', premise: 'A man is playing a guitar.', question1: 'Who is playing a guitar?',
  sentence2: 'A man is playing music.', hypothesis: 'A man is playing music.', question2: 'Who plays the guitar?',
  text_pair: 'A man is playing music.', question: 'Is the man playing music?', passage: 'A man is playing a guitar on the street.',
  paragraph: 'A man is playing a guitar on the street.', answer: 'yes', word: 'playing', choice1: 'He is happy.', choice2: 'He is tired.',
};

/** predict's input flags for one sample: --text "…" for one field, a JSON object of fields for several. */
function sampleInput(cfg: TrainConfig, adapterDir: string): string[] {
  const fields = cfg.task === 'local'
    ? templateFields(parseTemplate(savedTemplate(adapterDir) ?? 'sentence: {text}'))
    : [...(taskFields(canonicalTaskName(cfg.task) ?? cfg.task) ?? [])];
  if (fields.length === 0) return ['--raw', '--text', SAMPLE_FIELDS['text']!];
  if (fields.length === 1 && (fields[0] === 'text' || cfg.task !== 'local')) return ['--text', SAMPLE_FIELDS['text']!];
  return ['--text', `{${fields.map((f) => `${JSON.stringify(f)}: ${JSON.stringify(SAMPLE_FIELDS[f] ?? 'something')}`).join(', ')}}`];
}

function savedTemplate(adapterDir: string): string | undefined {
  return readSavedTask(adapterDir)?.template ?? undefined;
}

function printSummary(cfg: TrainConfig, r: TrainRunResult, bundled: boolean): void {
  const run = displayPath(path.resolve(r.runDir));
  const losses = readMetrics(path.join(r.runDir, METRICS_FILE)).flatMap((m) => (typeof m.loss === 'number' ? [m.loss] : []));
  const k = Math.max(1, Math.min(10, Math.floor(losses.length / 4)));
  out();
  if (r.loop.interrupted) {
    out(`Stopped at step ${r.loop.step} of ${cfg.steps}; the newest checkpoint is in ${run}/.`);
    return;
  }
  const why = r.loop.stoppedEarly ? ` (early stop at step ${r.loop.step} of ${cfg.steps})` : '';
  out(`Trained ${r.method} on ${r.task}: ${r.loop.step} steps in ${r.seconds.toFixed(1)} s${why}, ${r.trainableParams.toLocaleString('en-US')} trainable parameters.`);
  if (losses.length > 0) {
    const means = losses.length >= 20 ? `; mean of the first ${k} steps ${meanLoss(losses.slice(0, k)).toFixed(4)} → last ${k} steps ${meanLoss(losses.slice(-k)).toFixed(4)}` : '';
    out(`  training loss   ${losses[0]!.toFixed(4)} (step 1) → ${losses[losses.length - 1]!.toFixed(4)} (last step)${means}`);
  }
  const t = r.truncation;
  out(`  truncated       ${describeTruncation(t)} rows cut to --max-length ${t.maxLength}`);
  out(`  best validation ${fmtMetrics(r.bestValidation)}${r.loop.bestStep !== null ? ` (step ${r.loop.bestStep})` : ''}`);
  out(`  test            ${fmtMetrics(r.test)}`);
  const maj = r.test !== null ? majorityClass(cfg) : null;
  if (maj !== null) out(`  majority class  accuracy ${(maj.share * 100).toFixed(2)} (always "${maj.label}", on the same test rows)`);
  out();
  out(`Run folder ${run}/`);
  const at = (f: string): string => displayPath(path.resolve(r.runDir, f));
  if (r.adapterDir !== '') out(`  adapter       ${displayPath(path.resolve(r.adapterDir))}/  (adapter_config.json, adapter_model.safetensors, README.md, ${SAVED_TASK_FILE})`);
  out(`  report        ${at('report.html')}  (open in a browser: curves, metrics, config, model card)`);
  out(`  curves        ${at('loss.svg')}, ${at('eval.svg')}`);
  out(`  metrics       ${at(METRICS_FILE)}`);
  out(`  summary       ${at('summary.json')}`);
  out(`  config        ${at('run_config.json')}`);
  if (r.adapterDir !== '') {
    const adapter = displayPath(path.resolve(r.adapterDir));
    const base = baseFlags(cfg, r.adapterDir);
    const q = (args: string[]): string => args.map(shellQuote).join(' ');
    const where = cfg.task === 'local'
      ? ['--data', displayPath(path.resolve(cfg.devFile!))]
      : [...(cfg.dataDir !== undefined ? ['--data-dir', displayPath(path.resolve(cfg.dataDir))] : []), '--split', 'test'];
    out();
    out(`Use it (the task, its format, label words and eval mode are in ${displayPath(path.join(path.resolve(r.adapterDir), SAVED_TASK_FILE))}):`);
    out(`  softprompt eval ${q(['--adapter', adapter, ...base, ...where])}`);
    out(`  softprompt predict ${q(['--adapter', adapter, ...base, ...sampleInput(cfg, r.adapterDir)])}`);
    out(`  softprompt inspect ${q([adapter])}`);
  }
  if (bundled) printBundledNote(cfg, samePath(cfg.model, bundledTinyModel()), losses.length >= 2 && meanLoss(losses.slice(-k)) < meanLoss(losses.slice(0, k)), r.test?.['accuracy']);
}

/** The most common label among the test targets the run evaluated, e.g. { label: '1', share: 0.515, rows: 200 }. */
function majorityClass(cfg: TrainConfig): { label: string; share: number; rows: number } | null {
  try {
    const { task, dataDir } = resolveTask(cfg);
    if (task.labelWords === null) return null;
    const splits = loadSplits(task, dataDir, { seed: cfg.seed });
    const test = cfg.maxEvalExamples === undefined ? splits.test : splits.test.slice(0, cfg.maxEvalExamples);
    const counts = new Map<string, number>();
    for (const e of test) counts.set(e.target, (counts.get(e.target) ?? 0) + 1);
    let best: { label: string; share: number; rows: number } | null = null;
    for (const [label, n] of counts) if (best === null || n / test.length > best.share) best = { label, share: n / test.length, rows: test.length };
    return best;
  } catch {
    return null;
  }
}

/**
 * How a test accuracy (percent) compares with always answering the majority label of the same rows: 'near' within
 * two binomial standard errors of that share (at least 2 points), else 'above' or 'below'.
 */
export function versusMajority(accuracy: number, maj: { share: number; rows: number }): 'near' | 'above' | 'below' {
  const band = Math.max(2, 200 * Math.sqrt((maj.share * (1 - maj.share)) / Math.max(1, maj.rows)));
  const diff = accuracy - 100 * maj.share;
  return Math.abs(diff) <= band ? 'near' : diff > 0 ? 'above' : 'below';
}

function printBundledNote(cfg: TrainConfig, tiny: boolean, lossFell: boolean, testAccuracy: number | undefined): void {
  const maj = majorityClass(cfg);
  out();
  if (tiny) {
    out('Note: the bundled test/fixtures/t5-tiny is a RANDOM-WEIGHT T5 (2 layers, d_model 64) kept for tests.');
    out(`${lossFell ? 'The falling loss shows the prompt is learning, but a' : 'A'} random model knows no language, so these numbers say nothing about DePT.`);
  } else {
    out('Note: the bundled models/t5-mini is a 13M-parameter T5 that softprompt pretrained on ~23M tokens of public text');
    out('(models/t5-mini/README.md): enough to show prompt tuning at work offline, far from a real model\'s accuracy.');
  }
  if (maj !== null && testAccuracy !== undefined) {
    const share = `label "${maj.label}" is ${(maj.share * 100).toFixed(1)}% of the ${maj.rows} test rows`;
    const where = versusMajority(testAccuracy, maj);
    out(`Its test accuracy ${testAccuracy.toFixed(2)} is ${where} the majority-class baseline (${share}).`);
  }
  out();
  out('To train a real pretrained T5:');
  out('  1. Give a Hugging Face T5: a local folder (config.json, model.safetensors, tokenizer.json or spiece.model) or a');
  out('     Hub id such as google-t5/t5-base, downloaded into the Hugging Face cache on first use (needs internet).');
  out('  2. Get GLUE (SST-2/train.tsv and SST-2/dev.tsv) into path/to/glue, or omit --data-dir to use the bundled slice.');
  out('  3. softprompt train --model google-t5/t5-base --task sst2 --data-dir path/to/glue --steps 30000 --output runs/sst2-dept');
  out('     (DePT defaults: l=60, budget 100 → r=30 at s=256, lr 0.3 / 1e-4; Ctrl-C any time, then add --resume.)');
}
