/**
 * One glue-small run, in its own process (so its peak RSS is its own): one method on one task through the project's
 * trainer (trainRun) and method registry, evaluated once at the end on the validation and test splits.
 */
import { join } from 'node:path';
import { getMethod, optimizerGroups } from '../src/methods/registry.js';
import { parseTrainConfig } from '../src/train/config.js';
import { METRICS_FILE } from '../src/train/loop.js';
import { readMetrics } from '../src/train/metrics-log.js';
import { trainRun } from '../src/train/run.js';
import { methodPlan, taskPlan } from './glue-small-plan.js';
import { median } from './util.js';

export interface Job {
  task: string;
  method: string;
  model: string;
  tokenizer?: string;
  dataDir: string;
  steps: number;
  batchSize: number;
  maxLength: number;
  maxTrain?: number;
  maxEval?: number;
  warmupSteps: number;
  evalMode: 'rank' | 'generate';
  threads: number;
  /** overrides of the plan's prompt / A-B lr (already checked against the grids) */
  lr?: number;
  lrLowrank?: number;
  runDir: string;
}

export interface RunRow {
  method: string;
  label: string;
  trainable: number;
  /** lr of each optimizer group */
  lr: Record<string, number>;
  /** the method's summary line (l, r, …) */
  summary: string;
  validation: Record<string, number>;
  test: Record<string, number>;
  /** median wall time of one training step (forward + backward + clip + AdamW), first step excluded */
  step_ms: number;
  /** sum of the step times */
  train_s: number;
  /** the whole run: load, train, evaluate, save */
  run_s: number;
  /** the phases of the run, wall and CPU over all threads: loading model and data (tokenized); training (CPU only:
   * its wall time is train_s); after training: evaluating validation and test, and saving the adapter */
  load_s: number;
  eval_s: number;
  load_cpu_s: number;
  train_cpu_s: number;
  eval_cpu_s: number;
  /** CPU time of the worker process, all threads (steadier than wall time on a shared machine) */
  cpu_s: number;
  /** peak resident set of the worker process (VmHWM) */
  maxrss_mb: number;
  first_loss: number;
  last_loss: number;
  steps: number;
}

export function runJob(job: Job): RunRow {
  const tp = taskPlan(job.task)!;
  const mp = methodPlan(job.method)!;
  const settings = mp.settings(tp);
  if (job.lr !== undefined && 'lr' in settings) settings['lr'] = job.lr;
  if (job.lrLowrank !== undefined && 'lrLowrank' in settings) settings['lrLowrank'] = job.lrLowrank;
  const cfg = parseTrainConfig({
    model: job.model, ...(job.tokenizer !== undefined ? { tokenizer: job.tokenizer } : {}),
    task: job.task, dataDir: job.dataDir, method: mp.method, ...settings,
    maxLength: job.maxLength, steps: job.steps, batchSize: job.batchSize, warmupSteps: job.warmupSteps,
    ...(job.maxTrain !== undefined ? { maxTrainExamples: job.maxTrain } : {}),
    ...(job.maxEval !== undefined ? { maxEvalExamples: job.maxEval } : {}),
    evalEvery: 0, evalMode: job.evalMode, maxNewTokens: 8, saveEveryMinutes: 0, keepCheckpoints: 1,
    threads: job.threads, output: job.runDir, quiet: true, seed: 42,
  });
  let summary = '';
  // trainRun's log marks the phases: its first line comes after the model and data are loaded; with evalEvery 0
  // the loop's last line is the final checkpoint's "saved …", after which both splits are evaluated and the
  // adapter saved.
  const mark = (): { wall: number; cpu: number } => {
    const u = process.cpuUsage();
    return { wall: performance.now(), cpu: (u.user + u.system) / 1e6 };
  };
  const start = mark();
  let loaded = { wall: NaN, cpu: NaN }, trained = { wall: NaN, cpu: NaN };
  const r = trainRun(cfg, {
    log: (line) => {
      if (line.startsWith('softprompt: ')) loaded = mark();
      if (line.startsWith('  ')) summary = line.trim();
      if (line.startsWith('saved ')) trained = mark();
    },
  });
  const end = mark();
  const steps = readMetrics(join(r.runDir, METRICS_FILE)).filter((m) => typeof m.loss === 'number');
  const secs = steps.map((m) => (m.tokens !== undefined && m.tokens_per_s !== undefined && m.tokens_per_s > 0 ? m.tokens / m.tokens_per_s : NaN));
  const timed = secs.length > 1 ? secs.slice(1) : secs;
  const usage = process.resourceUsage();
  const groups = optimizerGroups(getMethod(cfg.method), cfg);
  return {
    method: mp.key, label: mp.label, trainable: r.trainableParams,
    lr: Object.fromEntries(groups.map((g) => [g.name, g.lr])), summary,
    validation: r.bestValidation ?? {}, test: r.test ?? {},
    step_ms: round(median(timed) * 1000, 1), train_s: round(secs.reduce((a, b) => a + b, 0), 2), run_s: round(r.seconds, 2),
    load_s: round((loaded.wall - start.wall) / 1000, 2), eval_s: round((end.wall - trained.wall) / 1000, 2),
    load_cpu_s: round(loaded.cpu - start.cpu, 2), train_cpu_s: round(trained.cpu - loaded.cpu, 2), eval_cpu_s: round(end.cpu - trained.cpu, 2),
    cpu_s: round((usage.userCPUTime + usage.systemCPUTime) / 1e6, 2), maxrss_mb: Math.round(usage.maxRSS / 1024),
    first_loss: r.firstLoss, last_loss: r.lastLoss, steps: r.loop.step,
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
