/**
 * A sweep job's state lives in its run folder (a normal `softprompt train` run folder), so it survives any worker
 * and any Redis: summary.json of a finished run means done; checkpoints without it mean interrupted (resume);
 * sweep_error.json records a failure. Every reader here is tolerant of files being written at the same time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import { atomicWriteFile } from '../io/atomic.js';
import { canonicalConfig, RUNTIME_KEYS } from './spec.js';

/** summary.json as trainRun writes it (TrainRunResult without the live method). */
export interface RunSummary {
  runDir: string;
  adapterDir: string;
  task: string;
  method: string;
  trainableParams: number;
  loop: { step: number; interrupted: boolean; stoppedEarly: boolean; resumedFrom: number; bestStep: number | null; bestMetric: number | null };
  firstLoss: number | null;
  lastLoss: number | null;
  bestValidation: Record<string, number> | null;
  test: Record<string, number> | null;
  seconds: number;
}

export interface JobFailure {
  code: string;
  message: string;
  worker: string;
  at: string;
}

export const ERROR_FILE = 'sweep_error.json';

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The summary of a run that finished (not one stopped part-way), or null. */
export function finishedSummary(runDir: string): RunSummary | null {
  const s = readJson(path.join(runDir, 'summary.json')) as RunSummary | undefined;
  if (s === undefined || typeof s !== 'object' || s === null || typeof s.loop !== 'object' || s.loop === null) return null;
  return s.loop.interrupted === false ? s : null;
}

/**
 * A run folder may only be reused by the same config: a sweep file edited after its jobs ran would otherwise
 * resume (or report) runs of another config under the new name.
 */
export function checkRunConfig(runDir: string, config: Record<string, unknown>): void {
  const file = path.join(runDir, 'run_config.json');
  const saved = readJson(file);
  if (saved === undefined || typeof saved !== 'object' || saved === null) return;
  if (canonicalConfig(saved as Record<string, unknown>) === canonicalConfig(config)) return;
  const a = saved as Record<string, unknown>;
  const diff = Object.keys({ ...a, ...config }).filter((k) => !RUNTIME_KEYS.includes(k) && JSON.stringify(a[k]) !== JSON.stringify(config[k]));
  throw new SoftpromptError('invalid_config', `Run folder ${runDir} holds a run of another config (${diff.slice(0, 4).map((k) => `${k}: ${shown(a[k])} there, ${shown(config[k])} now`).join('; ')}).`, {
    file, path: `config.${diff[0] ?? ''}`, hint: 'the sweep file changed after this job ran: give the sweep a new "output", or delete that run folder to rerun it.',
  });
}

export function readFailure(runDir: string): JobFailure | null {
  const f = readJson(path.join(runDir, ERROR_FILE)) as JobFailure | undefined;
  return f !== undefined && typeof f === 'object' && f !== null && typeof f.message === 'string' ? f : null;
}

export function writeFailure(runDir: string, failure: JobFailure): void {
  fs.mkdirSync(runDir, { recursive: true });
  atomicWriteFile(path.join(runDir, ERROR_FILE), JSON.stringify(failure, null, 2) + '\n');
}

export function clearFailure(runDir: string): void {
  fs.rmSync(path.join(runDir, ERROR_FILE), { force: true });
}

export interface RunProgress {
  step: number;
  loss: number | null;
}

/** The newest step in metrics.jsonl (its last 8 KB), or null before the first step. */
export function readProgress(runDir: string): RunProgress | null {
  const file = path.join(runDir, 'metrics.jsonl');
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const n = Math.min(size, 8192);
    const buf = Buffer.alloc(n);
    fs.readSync(fd, buf, 0, n, size - n);
    const lines = buf.toString('utf8').split('\n').reverse();
    for (const line of lines) {
      let rec: unknown;
      try {
        rec = JSON.parse(line);
      } catch {
        continue;
      }
      const r = rec as { step?: unknown; loss?: unknown };
      if (typeof r.step === 'number') return { step: r.step, loss: typeof r.loss === 'number' ? r.loss : null };
    }
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

/** Whether the folder holds any checkpoint (a rerun resumes rather than starts). */
export function hasCheckpoint(runDir: string): boolean {
  try {
    return fs.readdirSync(runDir).some((n) => /^checkpoint-\d+$/.test(n));
  } catch {
    return false;
  }
}

/** A config value in a message; an absent one is the method's default. */
function shown(v: unknown): string {
  return v === undefined ? 'the default' : JSON.stringify(v);
}
