/**
 * Running a planned sweep: locally (one job after another in this process) or through the queue (enqueue, then
 * follow the workers until every job is done or failed), and its status. Either way the run folders are the
 * truth and the results (sweep.json, results.md, results.html in the sweep folder) are rewritten as jobs finish.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SoftpromptError } from '../errors.js';
import { atomicWriteFile } from '../io/atomic.js';
import type { TrainConfig } from '../train/config.js';
import { resolveTask } from '../train/data.js';
import { finishedSummary, hasCheckpoint, readFailure, readProgress, writeFailure, type RunSummary } from './run-folder.js';
import { processAlive, readLock, StaleWatch } from './run-lock.js';
import { runJob, workerName, type JobData } from './run-job.js';
import { countStates, fmt, jobRecord, renderHtml, renderMarkdown, selectBest, type JobRecord, type JobState, type SweepResults } from './results.js';
import { RESULTS_FILE, type SweepJob, type SweepPlan } from './spec.js';
import type { QueuedJobInfo, SweepQueue } from './queue.js';
import { RedisHealth } from './redis-health.js';

/** The task's primary metric (accuracy, matthews_correlation, pearson, f1…); "accuracy" if the task cannot be read. */
export function primaryMetric(config: TrainConfig): string {
  try {
    return resolveTask(config).task.primaryMetric;
  } catch {
    return 'accuracy';
  }
}

export function jobData(job: SweepJob): JobData {
  return { name: job.name, id: job.id, runDir: job.runDir, config: job.config };
}

/** A job's state as its run folder shows it. */
export function diskRecord(plan: SweepPlan, job: SweepJob, metric: string): JobRecord {
  const summary = finishedSummary(job.runDir);
  if (summary !== null) return jobRecord(job, plan.output, plan.select, metric, 'done', summary);
  const failure = readFailure(job.runDir);
  if (failure !== null) return jobRecord(job, plan.output, plan.select, metric, 'failed', null, { failure, worker: failure.worker });
  const lock = readLock(job.runDir);
  if (lock !== null && (lock.host !== os.hostname() || processAlive(lock.pid))) {
    const p = readProgress(job.runDir);
    return jobRecord(job, plan.output, plan.select, metric, 'running', null, { worker: `${lock.host}:${lock.pid}`, ...(p !== null ? { progress: { step: p.step, steps: job.config.steps } } : {}) });
  }
  return jobRecord(job, plan.output, plan.select, metric, hasCheckpoint(job.runDir) ? 'interrupted' : 'pending', null);
}

export function buildResults(plan: SweepPlan, records: JobRecord[], queue: string | null): SweepResults {
  return {
    format: 'softprompt.sweep', version: 1, name: plan.name, file: plan.file, output: plan.output, queue, select: plan.select,
    updatedAt: new Date().toISOString(), counts: countStates(records), groups: selectBest(records, plan.select),
    jobs: records.map((r, i) => ({ ...r, config: plan.jobs[i]!.config as unknown as Record<string, unknown> })),
  };
}

export function writeResults(results: SweepResults): void {
  fs.mkdirSync(results.output, { recursive: true });
  atomicWriteFile(path.join(results.output, RESULTS_FILE), JSON.stringify(results, null, 2) + '\n');
  atomicWriteFile(path.join(results.output, 'results.md'), renderMarkdown(results));
  atomicWriteFile(path.join(results.output, 'results.html'), renderHtml(results));
}

/** The plan recorded in a sweep folder's sweep.json (for `sweep status DIR`). */
export function planFromResults(output: string): SweepPlan {
  const file = path.join(output, RESULTS_FILE);
  let r: SweepResults;
  try {
    r = JSON.parse(fs.readFileSync(file, 'utf8')) as SweepResults;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new SoftpromptError('file_not_found', `${file} does not exist: ${output} is not a sweep folder (or the sweep never started).`, { file, hint: 'pass the sweep file instead: softprompt sweep status --config sweep.json' });
    }
    throw new SoftpromptError('malformed_file', `${file} is not valid JSON: ${(err as Error).message}`, { file });
  }
  if (r.format !== 'softprompt.sweep' || !Array.isArray(r.jobs)) throw new SoftpromptError('malformed_file', `${file} is not a softprompt sweep result (format "${String(r.format)}").`, { file });
  const out = path.resolve(output);
  return {
    name: r.name, file: r.file, output: out, select: r.select,
    jobs: r.jobs.map((j) => ({ name: j.name, id: j.id, values: j.values, config: j.config as unknown as TrainConfig, runDir: path.join(out, j.runDir) })),
  };
}

export function metricsOf(plan: SweepPlan): string[] {
  return plan.jobs.map((j) => primaryMetric(j.config));
}

function doneLine(r: JobRecord, metric: string): string {
  return `validation ${metric} ${fmt(r.validation?.[metric] ?? null)}, test ${fmt(r.test?.[metric] ?? null)}`;
}

export interface LocalOptions {
  log: (line: string) => void;
  threads?: number;
  staleMs: number;
  /** Progress lines at most this often per job (ms). */
  progressEveryMs?: number;
  /** Stops the running job (its thread ends; checkpoints stay) and the sweep, with an 'interrupted' error. */
  signal?: AbortSignal;
}

/** Every job in this process, one after another; finished ones are skipped, interrupted ones resume. */
export async function runLocalSweep(plan: SweepPlan, opts: LocalOptions): Promise<SweepResults> {
  const metrics = metricsOf(plan);
  const records = plan.jobs.map((j, i) => diskRecord(plan, j, metrics[i]!));
  const flush = (): SweepResults => {
    const res = buildResults(plan, records, null);
    writeResults(res);
    return res;
  };
  flush();
  const watch = new StaleWatch(opts.staleMs);
  const total = plan.jobs.length;
  let todo = plan.jobs.map((_, i) => i).filter((i) => records[i]!.state !== 'done');
  const skipped = total - todo.length;
  if (skipped > 0) opts.log(`${skipped} of ${total} jobs already finished in ${plan.output}; running the other ${todo.length}.`);
  const announcedBusy = new Set<number>();
  while (todo.length > 0) {
    const busy: number[] = [];
    for (const i of todo) {
      if (opts.signal?.aborted === true) throw new SoftpromptError('interrupted', 'Stopped between jobs. Run the same command again to continue: finished jobs are kept.');
      const job = plan.jobs[i]!;
      const n = plan.jobs.indexOf(job) + 1;
      let lastShown = 0;
      opts.log(`[${n}/${total}] ${job.name}: ${hasCheckpoint(job.runDir) ? 'resuming' : 'training'}…`);
      records[i] = { ...records[i]!, state: 'running', worker: workerName() };
      try {
        const out = await runJob(jobData(job), {
          watch, ...(opts.threads !== undefined ? { threads: opts.threads } : {}), ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
          onProgress: (p) => {
            const now = Date.now();
            if (now - lastShown < (opts.progressEveryMs ?? 10000)) return;
            lastShown = now;
            opts.log(`[${n}/${total}] ${job.name}: step ${p.step}/${p.steps}${p.loss !== null ? ` loss ${p.loss.toFixed(4)}` : ''}`);
          },
        });
        if (out.kind === 'busy') {
          busy.push(i);
          records[i] = diskRecord(plan, job, metrics[i]!);
          if (!announcedBusy.has(i)) opts.log(`[${n}/${total}] ${job.name}: run folder locked by ${out.heldBy !== null ? `${out.heldBy.host}:${out.heldBy.pid}` : 'another process'}; coming back to it later.`);
          announcedBusy.add(i);
          continue;
        }
        if (out.kind === 'aborted') {
          records[i] = diskRecord(plan, job, metrics[i]!);
          flush();
          throw new SoftpromptError('interrupted', `Stopped during ${job.name}. Run the same command again to continue: finished jobs are kept, ${job.name} resumes from its newest checkpoint.`);
        }
        records[i] = jobRecord(job, plan.output, plan.select, metrics[i]!, 'done', out.summary, { worker: workerName() });
        opts.log(`[${n}/${total}] ${job.name}: done${out.trainedHere ? ` in ${out.summary.seconds.toFixed(1)} s${out.resumedFrom > 0 ? ` (resumed from step ${out.resumedFrom})` : ''}` : ' (finished elsewhere)'} — ${doneLine(records[i]!, plan.select.metric ?? metrics[i]!)}`);
      } catch (err) {
        if (err instanceof SoftpromptError && err.code === 'interrupted') throw err;
        const code = err instanceof SoftpromptError ? err.code : 'bug';
        const message = err instanceof Error ? err.message : String(err);
        const failure = { code, message, worker: workerName(), at: new Date().toISOString() };
        writeFailure(job.runDir, failure);
        records[i] = jobRecord(job, plan.output, plan.select, metrics[i]!, 'failed', null, { failure, worker: failure.worker });
        opts.log(`[${n}/${total}] ${job.name}: ✖ failed (${code}): ${message}`);
      }
      flush();
    }
    todo = busy;
    if (todo.length > 0) await sleep(1000);
  }
  return flush();
}

export interface QueuedOptions {
  log: (line: string) => void;
  pollMs?: number;
  /** Return right after enqueueing. */
  detach?: boolean;
}

/** Enqueue every job not finished on disk, then follow them until all are done or failed. */
export async function runQueuedSweep(plan: SweepPlan, q: SweepQueue, opts: QueuedOptions): Promise<SweepResults> {
  const metrics = metricsOf(plan);
  const health = new RedisHealth(q.url, opts.log, 'The runs are safe on disk; waiting for Redis to come back (the workers wait too)…');
  const records = plan.jobs.map((j, i) => diskRecord(plan, j, metrics[i]!));
  writeResults(buildResults(plan, records, q.url));
  let added = 0, present = 0;
  for (const [i, job] of plan.jobs.entries()) {
    if (records[i]!.state === 'done') continue;
    for (;;) {
      try {
        const r = await q.ensure(jobData(job), false);
        health.ok();
        if (r === 'present') present++;
        else added++;
        break;
      } catch (err) {
        health.failed(err);
        await sleep(opts.pollMs ?? 1000);
      }
    }
  }
  const done0 = records.filter((r) => r.state === 'done').length;
  opts.log(`Sweep ${plan.name}: ${plan.jobs.length} jobs; ${done0} already finished, ${added} enqueued, ${present} already in the queue "${q.name}" at ${q.url}.`);
  if (opts.detach === true) return buildResults(plan, records, q.url);
  for (;;) {
    let changed = false;
    for (const [i, job] of plan.jobs.entries()) {
      const before = records[i]!;
      if (before.state === 'done') continue;
      let next = diskRecord(plan, job, metrics[i]!);
      let info: QueuedJobInfo | null = null;
      if (!health.isDown) {
        try {
          info = await q.info(job.id);
          health.ok();
        } catch (err) {
          health.failed(err);
        }
      }
      if (next.state === 'done') {
        if (info?.result !== undefined) next = { ...next, worker: info.result.worker };
      } else if (info !== null) {
        const rec = (state: JobState, summary: RunSummary | null, extra: Parameters<typeof jobRecord>[6] = {}): JobRecord =>
          jobRecord(job, plan.output, plan.select, metrics[i]!, state, summary, extra);
        if (info.state === 'failed') {
          next = rec('failed', null, { failure: readFailure(job.runDir) ?? { code: 'sweep_failed', message: info.failedReason ?? 'failed', worker: '?', at: '' } });
        } else if (info.state === 'completed' && info.result !== undefined) {
          next = rec('done', info.result.summary, { worker: info.result.worker });
        } else if (info.state === 'active') {
          const lock = readLock(job.runDir); // the trainer now; job.progress may still name an earlier worker
          const worker = lock !== null ? `${lock.host}:${lock.pid}` : info.progress?.worker;
          next = rec('running', null, {
            ...(worker !== undefined ? { worker } : {}),
            ...(info.progress !== undefined ? { progress: { step: info.progress.step, steps: info.progress.steps } } : {}),
          });
        } else if (info.state === 'unknown') {
          try {
            await q.ensure(jobData(job), false);
            opts.log(`${job.name}: missing from Redis (restarted without its data?); enqueued again.`);
          } catch (err) {
            health.failed(err);
          }
          next = rec('queued', null);
        } else {
          next = rec('queued', null);
        }
      }
      if (next.state !== before.state || (next.state === 'running' && next.worker !== before.worker)) {
        changed = true;
        const m = plan.select.metric ?? metrics[i]!;
        if (next.state === 'done') opts.log(`${job.name}: done${next.worker !== undefined ? ` on ${next.worker}` : ''} — ${doneLine(next, m)}`);
        else if (next.state === 'failed') opts.log(`${job.name}: ✖ failed: ${next.error ?? ''}`);
        else if (next.state === 'running' && next.worker !== undefined) opts.log(`${job.name}: running on ${next.worker}`);
      }
      records[i] = next;
    }
    if (changed) writeResults(buildResults(plan, records, q.url));
    if (records.every((r) => r.state === 'done' || r.state === 'failed')) break;
    if (health.isDown) {
      // probe with one call, so a Redis that is back is noticed within a poll
      try {
        await q.info(plan.jobs[0]!.id);
        health.ok();
      } catch {
        /* still down */
      }
    }
    await sleep(opts.pollMs ?? 1000);
  }
  const res = buildResults(plan, records, q.url);
  writeResults(res);
  return res;
}

/** Every job's state: the run folders, and the queue's view when one is given (Redis down: folders only). */
export async function sweepStatus(plan: SweepPlan, q: SweepQueue | null): Promise<SweepResults> {
  const metrics = metricsOf(plan);
  const records: JobRecord[] = [];
  for (const [i, job] of plan.jobs.entries()) {
    let r = diskRecord(plan, job, metrics[i]!);
    if (q !== null && r.state !== 'done') {
      const info = await q.info(job.id);
      const state: JobState | null = info.state === 'failed' ? 'failed' : info.state === 'active' ? 'running'
        : ['waiting', 'delayed', 'prioritized', 'waiting-children'].includes(info.state) ? 'queued' : null;
      if (state !== null) {
        r = { ...r, state, ...(info.failedReason !== undefined && state === 'failed' ? { error: info.failedReason } : {}) };
        if (state === 'running' && info.progress !== undefined) r = { ...r, worker: info.progress.worker, progress: { step: info.progress.step, steps: info.progress.steps } };
      }
    }
    records.push(r);
  }
  return buildResults(plan, records, q?.url ?? null);
}
