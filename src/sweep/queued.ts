/** `softprompt sweep --queue`: enqueue the jobs in BullMQ, then follow the workers until every job is done or failed. */
import { setTimeout as sleep } from 'node:timers/promises';
import { readFailure, type RunSummary } from './run-folder.js';
import { readLock } from './run-lock.js';
import { jobRecord, type JobRecord, type JobState, type SweepResults } from './results.js';
import type { SweepPlan } from './spec.js';
import type { QueuedJobInfo, SweepQueue } from './queue.js';
import { RedisHealth } from './redis-health.js';
import { buildResults, diskRecord, doneLine, jobData, metricsOf, writeResults } from './state.js';

export interface QueuedOptions {
  log: (line: string) => void;
  pollMs?: number;
  /** Return right after enqueueing. */
  detach?: boolean;
  /** A line on the running jobs' progress at most this often (ms); default 30 s. */
  progressEveryMs?: number;
}

/** "2/6 done, 1 queued; running: lr=0.3 step 120/400 on host:pid, …" */
function progressLine(records: readonly JobRecord[]): string {
  const n = (s: JobState): number => records.filter((r) => r.state === s).length;
  const running = records.filter((r) => r.state === 'running').map((r) =>
    `${r.name}${r.progress !== undefined ? ` step ${r.progress.step}/${r.progress.steps}` : ''}${r.worker !== undefined ? ` on ${r.worker}` : ''}`);
  const rest = (['queued', 'failed'] as const).filter((s) => n(s) > 0).map((s) => `, ${n(s)} ${s}`).join('');
  return `${n('done')}/${records.length} done${rest}${running.length > 0 ? `; running: ${running.join(', ')}` : ''}`;
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
  let lastProgress = Date.now();
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
          // the job hash and its state are two reads: a job completing between them shows no result yet
          if (info.state === 'completed' && info.result === undefined) info = await q.info(job.id);
          health.ok();
        } catch (err) {
          health.failed(err);
        }
      }
      if (next.state === 'done') {
        if (info?.result !== undefined) next = { ...next, worker: info.result.worker };
        // finished on disk, but its worker has not returned the job to Redis yet: wait a poll for its result
        else if (info !== null && (info.state === 'active' || info.state === 'waiting' || info.state === 'delayed')) next = before;
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
    if (Date.now() - lastProgress >= (opts.progressEveryMs ?? 30_000)) {
      lastProgress = Date.now();
      opts.log(progressLine(records));
    }
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

