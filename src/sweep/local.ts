/** `softprompt sweep` without a queue: every job in this process, one after another, resumable. */
import { setTimeout as sleep } from 'node:timers/promises';
import { SoftpromptError } from '../errors.js';
import { hasCheckpoint, writeFailure } from './run-folder.js';
import { StaleWatch } from './run-lock.js';
import { runJob, workerName } from './run-job.js';
import { jobRecord, type SweepResults } from './results.js';
import type { SweepPlan } from './spec.js';
import { buildResults, diskRecord, doneLine, jobData, metricsOf, writeResults } from './state.js';

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

