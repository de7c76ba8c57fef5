/**
 * A model-agnostic training loop. The caller owns the model and the method; the loop owns everything around the
 * update, in the HF Trainer's order:
 *
 *   for step = 1..steps:
 *     batch      = next B example indices of this epoch's shuffle (seeded; see data-order.ts)
 *     zero grads; { loss, tokens } = computeLossAndGrads(new Rng(seed, step), batch)
 *     loss finite? → clip global grad norm (max_grad_norm) → AdamW with lr × lrFactor(step - 1)
 *     append to metrics.jsonl; progress
 *     every evalEvery: evaluate → best? (onBest) → early stopping
 *     every saveEvery steps or saveEveryMinutes, on a new best, on the last step: checkpoint (atomic; keep
 *       newest `keep` + best)
 *     SIGINT/SIGTERM caught (interruptible): checkpoint this step, stop; a second signal exits at once
 *
 * Resume (resume: true = latest checkpoint in runDir, or a checkpoint path) restores params, AdamW moments and
 * step, the data Rng, the data cursor, best metric and early-stopping state, and trims metrics.jsonl back to the
 * checkpoint's step. Each step's Rng is derived from (seed, step) alone. So an interrupted-and-resumed run
 * computes bit-for-bit the same params and losses as an uninterrupted one, provided computeLossAndGrads and
 * evaluate are deterministic functions of (params, rng, batch).
 */

import fs from 'node:fs';
import path from 'node:path';
import { engine } from '../engine/index.js';
import { SoftpromptError } from '../errors.js';
import { atomicWriteFile } from '../io/atomic.js';
import {
  cleanInterruptedSaves,
  latestCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  restoreParams,
  saveCheckpoint,
  type CheckpointIO,
  type JsonValue,
} from './checkpoint.js';
import { assertFinite, clipGradNorm, gradNorm } from './clip.js';
import { writeCurves } from './curves.js';
import { DataOrder } from './data-order.js';
import { EarlyStopping } from './early-stopping.js';
import { MetricsLog, readMetrics, truncateMetrics } from './metrics-log.js';
import { AdamW, type AdamWOptions } from './optimizer.js';
import { zeroGrads, type Param, type ParamGroup } from './params.js';
import { createProgress, type ProgressReporter } from './progress.js';
import { Rng } from './rng.js';
import { lrFactor, validateSchedule, type ScheduleKind } from './schedule.js';

export interface TrainBatch {
  /** 1-based number of the step being computed. */
  step: number;
  /** 0-based epoch (0 when the loop does not own the data order). */
  epoch: number;
  /** Example indices in [0, numExamples); empty when numExamples is not given. */
  indices: number[];
}

export interface StepOutput {
  /** Mean loss of the batch. */
  loss: number;
  /** Tokens processed, for tokens/s. */
  tokens: number;
}

export interface TrainLoopOptions {
  params: Param[];
  groups: ParamGroup[];
  /** T: total optimizer steps (--max_steps). */
  steps: number;
  warmupSteps: number;
  /** Default 'linear' (get_linear_schedule_with_warmup). */
  schedule?: ScheduleKind;
  /** Global grad-norm clip; default 1.0; 0 or Infinity disables clipping (the norm is still logged). */
  maxGradNorm?: number;
  /** N: training examples; with batchSize, the loop shuffles and batches them. */
  numExamples?: number;
  /** B: examples per batch. */
  batchSize?: number;
  /** Example lengths: group each epoch's shuffle by length (HF group_by_length; data-order.ts). */
  lengths?: readonly number[];
  /** Evaluate every this many steps; 0 never. */
  evalEvery: number;
  /** Checkpoint every this many steps; 0 only on new bests and at the end. */
  saveEvery: number;
  /** Evaluations without improvement before stopping; default never. */
  patience?: number;
  greaterIsBetter?: boolean;
  /** save_total_limit: newest checkpoints kept besides the best; default all. */
  keep?: number;
  /** Run folder: checkpoint-<step>/, metrics.jsonl, loss.svg, eval.svg. */
  runDir: string;
  seed: number;
  /** true: continue from the latest checkpoint in runDir (fresh if none); a string: from that checkpoint folder. */
  resume: boolean | string;
  /** Forward + backward on `batch`: accumulate (+=) into each param's zeroed .grad and return the loss. */
  computeLossAndGrads: (stepRng: Rng, batch: TrainBatch) => StepOutput;
  /** Validation metrics of the current params; required when evalEvery > 0. */
  evaluate?: (step: number) => Record<string, number>;
  /** Key of evaluate()'s result used for best checkpoint and early stopping, e.g. "accuracy". */
  primaryMetric?: string;
  onBest?: (step: number, metrics: Record<string, number>) => void;
  /** Human-readable lines (resume, eval, checkpoint, early stop); default the progress reporter's message(). */
  log?: (line: string) => void;
  /** Default createProgress on stderr (a bar on a TTY, plain lines elsewhere). */
  progress?: ProgressReporter;
  /** No progress output (ignored when `progress` is given). */
  quiet?: boolean;
  optimizer?: AdamWOptions;
  /** Also checkpoint when this many minutes have passed since the last checkpoint (0 or absent: off). */
  saveEveryMinutes?: number;
  /**
   * Catch SIGINT/SIGTERM while the loop runs (the loop is synchronous, so JS listeners could not): finish the
   * current step, checkpoint it, log where and `resumeHint`, and return with `signal` set. A second signal ends
   * the process at once; checkpoints are atomic, so nothing saved is corrupted.
   */
  interruptible?: boolean;
  /** How to continue after an interruption (a command line), logged with the checkpoint's path. */
  resumeHint?: string;
  /** Stop (with a checkpoint) after this step, as if interrupted; the schedule still spans `steps`. */
  stopAtStep?: number;
  /** Copy the best checkpoint's params into `params` at the end (load_best_model_at_end). */
  loadBestAtEnd?: boolean;
  /** Called after params were overwritten from a checkpoint (resume, load-best), e.g. to refresh a model's bf16 copies. */
  onParamsRestored?: () => void;
  /** JSON-safe data stored in every trainer_state.json (config echo, method name…). */
  extra?: Record<string, JsonValue>;
  /** Side files written into every checkpoint folder, name → text (train: softprompt_task.json). */
  checkpointFiles?: Readonly<Record<string, string>>;
  /** Write loss.svg / eval.svg; default true. */
  curves?: boolean;
  /** Clock in ms, for throughput; default performance.now. */
  now?: () => number;
  /** Checkpoint writers (tests inject failures). */
  checkpointIO?: CheckpointIO;
}

export interface TrainLoopResult {
  /** Steps completed. */
  step: number;
  epoch: number;
  /** Loss of the last step run here (NaN if none ran). */
  lastLoss: number;
  stoppedEarly: boolean;
  /** Stopped before `steps`: at stopAtStep or by a signal. */
  interrupted: boolean;
  /** The signal that stopped the run (interruptible), else null. */
  signal: 'SIGINT' | 'SIGTERM' | null;
  /** Step the run resumed from (0 for a fresh run). */
  resumedFrom: number;
  bestStep: number | null;
  bestMetric: number | null;
  bestCheckpoint: string | null;
  lastCheckpoint: string | null;
}

export const METRICS_FILE = 'metrics.jsonl';

export function trainLoop(o: TrainLoopOptions): TrainLoopResult {
  validate(o);
  const schedule = { warmupSteps: o.warmupSteps, totalSteps: o.steps, kind: o.schedule ?? 'linear' } as const;
  const maxGradNorm = o.maxGradNorm ?? 1.0;
  const now = o.now ?? (() => performance.now());
  fs.mkdirSync(o.runDir, { recursive: true });

  const optimizer = new AdamW(o.params, o.groups, o.optimizer);
  const dataRng = new Rng(o.seed, 0); // stream 0: data order; steps use streams 1..T
  const lengths = o.lengths ?? null;
  let data = o.numExamples !== undefined ? new DataOrder(o.numExamples, o.batchSize!, dataRng, lengths) : null;
  const stopper = new EarlyStopping({ patience: o.patience ?? Infinity, greaterIsBetter: o.greaterIsBetter ?? true });
  const metricsPath = path.join(o.runDir, METRICS_FILE);
  const metrics = new MetricsLog(metricsPath);

  let step = 0;
  let epoch = 0;
  let lastCheckpoint: string | null = null;
  let resumeMessage: string | null = null;

  if (o.resume !== false) {
    cleanInterruptedSaves(o.runDir);
    const from = typeof o.resume === 'string' ? o.resume : latestCheckpoint(o.runDir);
    if (from === null) {
      resumeMessage = `resume: no checkpoint in ${o.runDir}, starting from step 0`;
      atomicWriteFile(metricsPath, '');
    } else {
      const ck = loadCheckpoint(from);
      restoreParams(o.params, ck);
      o.onParamsRestored?.();
      optimizer.loadState(ck.optimizerState);
      step = ck.state.step;
      epoch = ck.state.epoch;
      if (data !== null) {
        if (ck.state.dataCursor === null) {
          throw new SoftpromptError('invalid_config', `Cannot resume from ${from}: it has no data cursor, but this run batches ${o.numExamples} examples`, {
            file: from,
            hint: 'Resume with the same settings the checkpoint was trained with.',
          });
        }
        data = DataOrder.restore(ck.state.dataCursor, dataRng, ck.state.rngState, o.numExamples!, o.batchSize!, lengths);
      } else {
        dataRng.setState(ck.state.rngState);
      }
      if (ck.state.earlyStopping !== null) stopper.loadState(ck.state.earlyStopping);
      lastCheckpoint = from;
      truncateMetrics(metricsPath, step);
      metrics.append({ step, event: 'resume' });
      resumeMessage = `resume: from ${from} (step ${step}, epoch ${epoch})`;
    }
  } else {
    const existing = listCheckpoints(o.runDir);
    if (existing.length > 0) {
      throw new SoftpromptError('invalid_config', `Run folder ${o.runDir} already holds ${existing.length} checkpoint(s) (latest ${path.basename(existing[existing.length - 1]!.path)})`, {
        path: 'runDir',
        file: o.runDir,
        hint: 'Add --resume to continue that run (library: resume: true), or choose an empty run folder with --output.',
      });
    }
    atomicWriteFile(metricsPath, '');
  }
  const resumedFrom = step;

  const progress = o.progress ?? createProgress({ total: o.steps, startStep: step, quiet: o.quiet === true });
  const log = o.log ?? ((line: string) => progress.message(line));
  if (resumeMessage !== null) log(resumeMessage);

  let lastSaveTime = now();
  const save = (): string => {
    const best = stopper.state();
    const saved = saveCheckpoint(
      o.runDir,
      {
        params: o.params,
        optimizerState: optimizer.state(),
        step,
        epoch,
        rngState: dataRng.getState(),
        dataCursor: data?.cursor() ?? null,
        bestMetric: best.best,
        bestStep: best.bestStep,
        earlyStopping: best,
        extra: o.extra ?? {},
        ...(o.checkpointFiles !== undefined ? { files: o.checkpointFiles } : {}),
      },
      { ...(o.keep !== undefined ? { keep: o.keep } : {}), ...(o.checkpointIO ? { io: o.checkpointIO } : {}) },
    );
    lastCheckpoint = saved;
    lastSaveTime = now();
    return saved;
  };
  const curves = (): void => {
    if (o.curves === false) return;
    writeCurves(o.runDir, readMetrics(metricsPath), {
      ...(o.primaryMetric !== undefined ? { primaryMetric: o.primaryMetric } : {}),
      greaterIsBetter: o.greaterIsBetter ?? true,
    });
  };

  let lastLoss = NaN;
  let stoppedEarly = false;
  let interrupted = false;
  let signal: TrainLoopResult['signal'] = null;
  const saveEveryMs = (o.saveEveryMinutes ?? 0) * 60_000;
  const watching = o.interruptible === true;
  if (watching) engine().watchSignals(true);
  try {
    while (step < o.steps) {
      const batchStep = step + 1;
      const drawn = data?.next() ?? { epoch: 0, indices: [] };
      epoch = drawn.epoch;
      zeroGrads(o.params);
      const t0 = now();
      const out = o.computeLossAndGrads(new Rng(o.seed, batchStep), { step: batchStep, epoch, indices: drawn.indices });
      assertFinite(out.loss, batchStep, lastCheckpoint ?? undefined);
      const norm = maxGradNorm > 0 && Number.isFinite(maxGradNorm) ? clipGradNorm(o.params, maxGradNorm) : gradNorm(o.params);
      assertFinite(norm, batchStep, lastCheckpoint ?? undefined, 'gradient norm');
      const factor = lrFactor(step, schedule);
      optimizer.step(factor);
      step = batchStep;
      lastLoss = out.loss;
      const seconds = Math.max(1e-9, (now() - t0) / 1000);
      const tokensPerSec = out.tokens / seconds;
      const examplesPerSec = drawn.indices.length / seconds;
      metrics.append({
        step,
        epoch,
        loss: out.loss,
        lr: optimizer.groupLrs(factor),
        grad_norm: norm,
        tokens: out.tokens,
        tokens_per_s: tokensPerSec,
        ...(drawn.indices.length > 0 ? { examples_per_s: examplesPerSec } : {}),
      });
      progress.update({ step, loss: out.loss, ...(out.tokens > 0 ? { tokensPerSec } : { examplesPerSec }) });

      let newBest = false;
      const evalDue = o.evalEvery > 0 && step % o.evalEvery === 0;
      if (evalDue) {
        const result = o.evaluate!(step);
        const value = result[o.primaryMetric!];
        if (typeof value !== 'number') {
          throw new SoftpromptError('invalid_config', `evaluate() returned no "${o.primaryMetric}" (it returned ${JSON.stringify(result)})`, {
            path: 'primaryMetric',
            hint: `Set primaryMetric to one of: ${Object.keys(result).join(', ')}`,
          });
        }
        metrics.append({ step, eval: result });
        const verdict = stopper.update(step, value);
        newBest = verdict.improved;
        log(`eval step ${step}: ${Object.entries(result).map(([k, v]) => `${k} ${v}`).join(', ')}${newBest ? ' (best)' : ''}`);
        if (newBest) o.onBest?.(step, result);
        if (verdict.shouldStop) {
          stoppedEarly = true;
          log(`early stopping at step ${step}: no improvement in ${o.primaryMetric} for ${o.patience} evaluations (best ${stopper.bestValue} at step ${stopper.bestAt})`);
          metrics.append({ step, event: 'early_stop' });
        }
      }
      const caught = watching ? engine().pendingSignal() : 0;
      if (caught !== 0 && step < o.steps && !stoppedEarly) signal = caught === 15 ? 'SIGTERM' : 'SIGINT';
      interrupted = !stoppedEarly && step < o.steps && (signal !== null || (o.stopAtStep !== undefined && step >= o.stopAtStep));
      const last = step === o.steps || stoppedEarly || interrupted;
      const timeDue = saveEveryMs > 0 && now() - lastSaveTime >= saveEveryMs;
      if ((o.saveEvery > 0 && step % o.saveEvery === 0) || timeDue || newBest || last) {
        const saved = save();
        log(signal !== null
          ? `${signal}: stopped after step ${step}; checkpoint saved to ${saved}${o.resumeHint !== undefined ? `\ncontinue with: ${o.resumeHint}` : ''}`
          : `saved ${saved}`);
      }
      if (evalDue) curves();
      if (stoppedEarly || interrupted) break;
    }
  } finally {
    if (watching) engine().watchSignals(false);
    progress.stop();
    curves();
  }

  const bestStep = stopper.bestAt;
  const bestCheckpoint = bestStep === null ? null : path.join(o.runDir, `checkpoint-${bestStep}`);
  if (o.loadBestAtEnd === true && bestCheckpoint !== null && !interrupted) {
    restoreParams(o.params, loadCheckpoint(bestCheckpoint));
    o.onParamsRestored?.();
    log(`loaded best params from ${bestCheckpoint} (${o.primaryMetric} ${stopper.bestValue})`);
  }
  return {
    step,
    epoch,
    lastLoss,
    stoppedEarly,
    interrupted,
    signal,
    resumedFrom,
    bestStep,
    bestMetric: stopper.bestValue,
    bestCheckpoint,
    lastCheckpoint,
  };
}

function validate(o: TrainLoopOptions): void {
  const bad = (field: string, message: string, hint?: string): SoftpromptError =>
    new SoftpromptError('invalid_config', message, { path: field, ...(hint !== undefined ? { hint } : {}) });
  validateSchedule({ warmupSteps: o.warmupSteps, totalSteps: o.steps, kind: o.schedule ?? 'linear' });
  for (const k of ['evalEvery', 'saveEvery'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 0) throw bad(k, `${k} must be a non-negative integer, got ${o[k]}`);
  }
  if (o.maxGradNorm !== undefined && !(o.maxGradNorm >= 0)) {
    throw bad('maxGradNorm', `maxGradNorm must be >= 0, got ${o.maxGradNorm}`);
  }
  if (!Number.isSafeInteger(o.seed)) throw bad('seed', `seed must be an integer, got ${o.seed}`);
  if ((o.numExamples === undefined) !== (o.batchSize === undefined)) {
    throw bad('batchSize', 'numExamples and batchSize go together: give both or neither');
  }
  if (o.evalEvery > 0) {
    if (o.evaluate === undefined) throw bad('evaluate', `evalEvery is ${o.evalEvery} but no evaluate() was given`);
    if (o.primaryMetric === undefined) {
      throw bad('primaryMetric', `evalEvery is ${o.evalEvery} but no primaryMetric was given`, 'e.g. "accuracy", "f1", "em"');
    }
  }
  if (o.patience !== undefined && o.evalEvery === 0) {
    throw bad('patience', `patience is ${o.patience} but evalEvery is 0, so early stopping could never trigger`);
  }
  if (o.saveEveryMinutes !== undefined && !(o.saveEveryMinutes >= 0)) {
    throw bad('saveEveryMinutes', `saveEveryMinutes must be >= 0, got ${o.saveEveryMinutes}`);
  }
  if (o.stopAtStep !== undefined && !(Number.isInteger(o.stopAtStep) && o.stopAtStep >= 1)) {
    throw bad('stopAtStep', `stopAtStep must be a positive integer, got ${o.stopAtStep}`);
  }
  if (o.params.length === 0) throw bad('params', 'No trainable parameters were given');
}
