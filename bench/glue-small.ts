/**
 * `npm run bench -- glue-small [--model DIR] [--tokenizer PATH] [--data-dir ../shared/data] [--steps 80]
 *   [--batch-size 16] [--tasks sst2,rte,mrpc,cola,stsb,boolq] [--methods pt,dept,lora,full] [--max-length 256]
 *   [--max-train 8000] [--max-eval 500] [--warmup-steps N] [--lr 0.3|0.4|0.5] [--lr-lowrank 1e-4|5e-4|1e-3|5e-3]
 *   [--eval-mode rank|generate] [--threads 0] [--out bench/results/glue-small] [--keep-runs]`
 *
 * A small paper table: prompt tuning, DePT (budget-equal to the PT), LoRA and full fine-tuning on six tasks, each
 * (task, method) trained for the same fixed number of steps by trainRun in its own child process, evaluated once at
 * the end, beside a majority-class and a TF-IDF + logistic-regression baseline fitted on the same rows. Writes
 * <out>.json, <out>.md and <out>.svg, and says whether DePT's ordering against PT matches the paper's.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setThreads } from '../src/engine/index.js';
import { atomicWriteFile } from '../src/io/atomic.js';
import { getTask, loadSplits } from '../src/tasks/registry.js';
import { majorityBaseline, tfidfBaseline } from './baselines.js';
import { LOWRANK_LR_GRID, METHOD_PLANS, PROMPT_LR_GRID, TASK_PLANS } from './glue-small-plan.js';
import { markdown, methodList, ordering, svgChart, type GlueSmallResult, type TaskResult } from './glue-small-report.js';
import { runJob, type Job, type RunRow } from './glue-small-worker.js';
import { machineInfo } from './machine.js';
import { flag, repoRoot } from './util.js';

/** Defaults sized so the whole bench (24 runs) takes about 25 minutes on 2 idle cores with a 13M-parameter T5
 * (measured: bench/README.md); a bigger model needs proportionally fewer steps. */
export const DEFAULT_STEPS = 80;
export const DEFAULT_BATCH_SIZE = 16;

function fail(message: string): never {
  process.stderr.write(`glue-small: ${message}\n`);
  process.exit(2);
}

function intFlag(argv: string[], name: string, fallback: number | null): number | null {
  const raw = flag(argv, name, '');
  if (raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < 1) fail(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return v;
}

function gridFlag(argv: string[], name: string, grid: readonly number[]): number | undefined {
  const raw = flag(argv, name, '');
  if (raw === '') return undefined;
  const v = Number(raw);
  if (!grid.includes(v)) fail(`${name} ${raw} is not in the paper's grid {${grid.join(', ')}}`);
  return v;
}

function listFlag(argv: string[], name: string, known: readonly string[]): string[] {
  const raw = flag(argv, name, known.join(','));
  const keys = raw.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  const bad = keys.filter((k) => !known.includes(k));
  if (bad.length > 0 || keys.length === 0) fail(`${name}: unknown ${bad.join(', ') || '(empty list)'}; known: ${known.join(', ')}`);
  return [...new Set(keys)];
}

/** The quickstart's model and tokenizer (examples/quickstart.json): the bundled default model. */
function defaultModel(): { model: string; tokenizer?: string } {
  const root = repoRoot();
  const q = JSON.parse(readFileSync(join(root, 'examples', 'quickstart.json'), 'utf8')) as { model: string; tokenizer?: string };
  return { model: join(root, q.model), ...(q.tokenizer !== undefined ? { tokenizer: join(root, q.tokenizer) } : {}) };
}

function runInChild(job: Job): RunRow | { error: string } {
  const entry = fileURLToPath(new URL('./run.js', import.meta.url));
  const r = spawnSync(process.execPath, [entry, 'glue-small', '--worker', JSON.stringify(job)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    const err = (r.stderr ?? '').trim().split('\n').filter((l) => l.trim() !== '').slice(-3).join(' ');
    return { error: `exit ${r.status ?? r.signal}: ${err}` };
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as RunRow;
}

export async function runGlueSmallBench(argv: string[]): Promise<void> {
  const workerJob = flag(argv, '--worker', '');
  if (workerJob !== '') {
    process.stdout.write(JSON.stringify(runJob(JSON.parse(workerJob) as Job)) + '\n');
    return;
  }
  const t0 = performance.now();
  const given = flag(argv, '--model', '');
  const def = given === '' ? defaultModel() : null;
  const model = given !== '' ? resolve(given) : def!.model;
  const tokFlag = flag(argv, '--tokenizer', '');
  const tokenizer = tokFlag !== '' ? resolve(tokFlag) : def?.tokenizer;
  const dataDir = resolve(flag(argv, '--data-dir', join(repoRoot(), '..', 'shared', 'data')));
  if (!existsSync(dataDir)) fail(`data folder ${dataDir} does not exist; pass --data-dir with glue/ and superglue/ inside (as ../shared/data)`);
  if (!existsSync(model)) fail(`model folder ${model} does not exist`);
  const tasks = listFlag(argv, '--tasks', TASK_PLANS.map((t) => t.task));
  const methods = listFlag(argv, '--methods', METHOD_PLANS.map((m) => m.key));
  const steps = intFlag(argv, '--steps', DEFAULT_STEPS)!;
  const batchSize = intFlag(argv, '--batch-size', DEFAULT_BATCH_SIZE)!;
  const maxLength = intFlag(argv, '--max-length', 256)!;
  const maxTrain = intFlag(argv, '--max-train', 8000);
  const maxEval = intFlag(argv, '--max-eval', 500);
  const warmupSteps = intFlag(argv, '--warmup-steps', Math.ceil(steps / 10))!;
  const evalMode = flag(argv, '--eval-mode', 'rank');
  if (evalMode !== 'rank' && evalMode !== 'generate') fail(`--eval-mode must be rank or generate, got ${evalMode}`);
  const threads = Number(flag(argv, '--threads', '0'));
  if (threads > 0) setThreads(threads);
  const lr = gridFlag(argv, '--lr', PROMPT_LR_GRID);
  const lrLowrank = gridFlag(argv, '--lr-lowrank', LOWRANK_LR_GRID);
  const out = resolve(flag(argv, '--out', join(repoRoot(), 'bench', 'results', 'glue-small')));
  const keepRuns = argv.includes('--keep-runs');
  const runsDir = mkdtempSync(join(tmpdir(), 'softprompt-glue-small-'));

  const results: TaskResult[] = [];
  for (const name of tasks) {
    const task = getTask(name);
    const splits = loadSplits(task, dataDir, { seed: 42 });
    const cap = <T>(xs: T[], n: number | null): T[] => (n === null ? xs : xs.slice(0, n));
    const used = { train: cap(splits.train, maxTrain), validation: cap(splits.validation, maxEval), test: cap(splits.test, maxEval) };
    const tb = performance.now();
    const tfidf = { ...tfidfBaseline(task, used), seconds: Math.round((performance.now() - tb) / 10) / 100 };
    const t: TaskResult = {
      task: task.name, metric: task.primaryMetric, metricNames: task.metricNames,
      rows: { train: used.train.length, trainAvailable: splits.train.length, validation: used.validation.length, test: used.test.length },
      splitProtocol: splits.splitProtocol, notes: splits.notes,
      baselines: { majority: majorityBaseline(task, used), tfidf }, runs: [],
    };
    process.stderr.write(`${name}: ${t.rows.train} train / ${t.rows.validation} validation / ${t.rows.test} test; majority ${t.baselines.majority.test[t.metric]?.toFixed(1)}, TF-IDF ${tfidf.test[t.metric]?.toFixed(1)} (${tfidf.seconds} s)\n`);
    for (const key of methods) {
      const job: Job = {
        task: name, method: key, model, ...(tokenizer !== undefined ? { tokenizer } : {}), dataDir, steps, batchSize, maxLength,
        ...(maxTrain !== null ? { maxTrain } : {}), ...(maxEval !== null ? { maxEval } : {}), warmupSteps, evalMode, threads,
        ...(lr !== undefined ? { lr } : {}), ...(lrLowrank !== undefined ? { lrLowrank } : {}), runDir: join(runsDir, `${name}-${key}`),
      };
      const label = METHOD_PLANS.find((m) => m.key === key)!.label;
      const row = runInChild(job);
      if ('error' in row) {
        t.runs.push({ method: key, label, error: row.error });
        process.stderr.write(`  ${label}: FAILED ${row.error}\n`);
      } else {
        t.runs.push(row);
        process.stderr.write(`  ${label}: test ${t.metric} ${row.test[t.metric]?.toFixed(1)}, ${row.trainable.toLocaleString('en-US')} params, step ${row.step_ms} ms, ` +
          `run ${row.run_s} s (load ${row.load_s}, train ${row.train_s}, eval ${row.eval_s}; CPU ${row.load_cpu_s} / ${row.train_cpu_s} / ${row.eval_cpu_s}), ${row.maxrss_mb} MB\n`);
      }
      if (!keepRuns) rmSync(job.runDir, { recursive: true, force: true });
    }
    results.push(t);
  }
  if (!keepRuns) rmSync(runsDir, { recursive: true, force: true });

  const result: GlueSmallResult = {
    bench: 'glue-small', date: new Date().toISOString(), command: ['npm run bench -- glue-small', ...argv].join(' '),
    machine: machineInfo(), model, tokenizer: tokenizer ?? null, dataDir,
    settings: {
      steps, batchSize, maxLength, warmupSteps, maxTrain, maxEval, evalMode, seed: 42,
      evaluated: `Evaluated once, after the last step${evalMode === 'rank' ? ': classification by ranking the label words, STS-B by greedy generation (8 new tokens at most)' : ' by greedy generation (8 new tokens at most)'}.`,
    },
    methods: methodList(methods), tasks: results, ordering: ordering(results), wall_s: Math.round((performance.now() - t0) / 100) / 10,
  };
  mkdirSync(dirname(out), { recursive: true });
  atomicWriteFile(`${out}.json`, JSON.stringify(result, null, 2) + '\n');
  atomicWriteFile(`${out}.md`, markdown(result));
  atomicWriteFile(`${out}.svg`, await svgChart(result));
  process.stderr.write(`${result.ordering.verdict}\n`);
  process.stderr.write(`wrote ${out}.json, .md, .svg${keepRuns ? `; runs kept in ${runsDir}` : ''} (${(result.wall_s / 60).toFixed(1)} min)\n`);
  if (results.some((t) => t.runs.some((r) => 'error' in r))) process.exitCode = 1;
}

