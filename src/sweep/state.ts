/**
 * A sweep's state: each job's record as its run folder (and the queue, when given) shows it, and the results
 * written from those records (sweep.json, results.md, results.html in the sweep folder). The run folders are the
 * truth; the queue only adds queued / running / failed for jobs not finished on disk.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import { atomicWriteFile } from '../io/atomic.js';
import type { TrainConfig } from '../train/config.js';
import { resolveTask } from '../train/data.js';
import { finishedSummary, hasCheckpoint, readFailure, readProgress } from './run-folder.js';
import { processAlive, readLock } from './run-lock.js';
import type { JobData } from './run-job.js';
import { countStates, fmt, jobRecord, renderHtml, renderMarkdown, selectBest, type JobRecord, type JobState, type SweepResults } from './results.js';
import { RESULTS_FILE, type SweepJob, type SweepPlan } from './spec.js';
import type { SweepQueue } from './queue.js';

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

export function doneLine(r: JobRecord, metric: string): string {
  return `validation ${metric} ${fmt(r.validation?.[metric] ?? null)}, test ${fmt(r.test?.[metric] ?? null)}`;
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

