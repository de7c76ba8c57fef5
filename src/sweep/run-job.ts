/**
 * Run one sweep job to the end, the same way locally and in a BullMQ worker:
 *
 *   finished summary.json in the run folder → return it (a finished job never trains twice)
 *   else take the run-folder lock (or report who holds it) → train in a worker thread with resume = true
 *   (continuing from the newest checkpoint, if any) while the main thread beats the lock and reports progress.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { EXIT_CODES, SoftpromptError, type ErrorCode } from '../errors.js';
import type { TrainConfig } from '../train/config.js';
import { checkRunConfig, clearFailure, finishedSummary, hasCheckpoint, readProgress, type RunProgress, type RunSummary } from './run-folder.js';
import { RunLock, type LockOwner, type StaleWatch } from './run-lock.js';
import type { ThreadMessage } from './train-thread.js';

/** What a queue carries for a job (and what the local runner passes): enough to train anywhere. */
export interface JobData {
  name: string;
  id: string;
  runDir: string;
  config: TrainConfig;
}

export interface JobRunOptions {
  watch: StaleWatch;
  /** Engine threads for this machine; overrides the config's `threads` (results do not depend on it). */
  threads?: number;
  onProgress?: (p: RunProgress & { steps: number }) => void;
  onLog?: (line: string) => void;
  heartbeatMs?: number;
  progressMs?: number;
  /** Aborts training: the thread is ended and the lock released, checkpoints stay for a resume. */
  signal?: AbortSignal;
}

export type JobOutcome =
  | { kind: 'done'; summary: RunSummary; trainedHere: boolean; resumedFrom: number }
  | { kind: 'busy'; heldBy: LockOwner | null }
  | { kind: 'aborted' };

/** Who this process is, as shown in results and status ("host:pid"). */
export function workerName(): string {
  return `${os.hostname()}:${process.pid}`;
}

export async function runJob(job: JobData, opts: JobRunOptions): Promise<JobOutcome> {
  const done = finishedSummary(job.runDir);
  if (done !== null) return { kind: 'done', summary: done, trainedHere: false, resumedFrom: done.loop.resumedFrom };
  const lock = RunLock.acquire(job.runDir, opts.watch);
  if (!(lock instanceof RunLock)) return { kind: 'busy', heldBy: lock.heldBy };
  try {
    const again = finishedSummary(job.runDir); // finished between the first look and the lock
    if (again !== null) return { kind: 'done', summary: again, trainedHere: false, resumedFrom: again.loop.resumedFrom };
    checkRunConfig(job.runDir, job.config);
    clearFailure(job.runDir);
    const config: TrainConfig = { ...job.config, resume: true, quiet: true, output: job.runDir, ...(opts.threads !== undefined ? { threads: opts.threads } : {}) };
    if (hasCheckpoint(job.runDir)) opts.onLog?.(`${job.name}: resuming from its newest checkpoint`);
    const summary = await trainInThread(config, lock, job, opts);
    if (summary === null) return { kind: 'aborted' };
    return { kind: 'done', summary, trainedHere: true, resumedFrom: summary.loop.resumedFrom };
  } finally {
    lock.release();
  }
}

function trainInThread(config: TrainConfig, lock: RunLock, job: JobData, opts: JobRunOptions): Promise<RunSummary | null> {
  return new Promise((resolve, reject) => {
    const thread = new Worker(new URL('./train-thread.js', import.meta.url), { workerData: { config }, stdout: false, stderr: false });
    let settled = false;
    const finish = (f: () => void): void => {
      if (settled) return;
      settled = true;
      clearInterval(beat);
      clearInterval(progress);
      opts.signal?.removeEventListener('abort', onAbort);
      f();
    };
    const beat = setInterval(() => {
      let ok = false;
      try {
        ok = lock.beat();
      } catch {
        ok = lock.held(); // a failed write (NFS hiccup) is not a lost lock
      }
      if (!ok) {
        void thread.terminate();
        finish(() => reject(new SoftpromptError('invalid_config', `Lost the lock on ${job.runDir}: another process took it over as stale (no heartbeat seen for too long); stopped training this job here.`, {
          file: job.runDir, hint: 'raise --stale-seconds if the shared disk is slow.',
        })));
      }
    }, opts.heartbeatMs ?? 2000);
    let lastStep = -1;
    const progress = setInterval(() => {
      const p = readProgress(job.runDir);
      if (p !== null && p.step !== lastStep) {
        lastStep = p.step;
        opts.onProgress?.({ ...p, steps: config.steps });
      }
    }, opts.progressMs ?? 1000);
    const onAbort = (): void => {
      void thread.terminate().then(() => finish(() => resolve(null)));
    };
    opts.signal?.addEventListener('abort', onAbort);
    if (opts.signal?.aborted === true) onAbort();
    thread.on('message', (m: ThreadMessage) => {
      if (m.type === 'log') opts.onLog?.(`${job.name}: ${m.line}`);
      else if (m.type === 'done') {
        // a short job can finish between two polls: report its last step before the result
        const p = readProgress(job.runDir);
        if (p !== null && p.step !== lastStep) opts.onProgress?.({ ...p, steps: config.steps });
        finish(() => resolve(m.summary as unknown as RunSummary));
      }
      else finish(() => reject(rebuildError(m)));
    });
    thread.on('error', (err) => finish(() => reject(err)));
    thread.on('exit', (code) => finish(() => (opts.signal?.aborted === true ? resolve(null)
      : reject(new Error(`the training thread of ${job.name} exited (code ${code}) without a result`)))));
  });
}

function rebuildError(m: Extract<ThreadMessage, { type: 'error' }>): Error {
  if (m.code in EXIT_CODES) {
    return new SoftpromptError(m.code as ErrorCode, m.message, {
      ...(m.path !== undefined ? { path: m.path } : {}), ...(m.file !== undefined ? { file: m.file } : {}), ...(m.hint !== undefined ? { hint: m.hint } : {}),
    });
  }
  const err = new Error(m.message);
  if (m.stack !== undefined) err.stack = m.stack;
  return err;
}
