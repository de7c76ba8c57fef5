/**
 * `softprompt worker`: a BullMQ worker that trains one sweep job at a time (runJob: resume from the run folder's
 * newest checkpoint, never retrain a finished run), reports progress (step / steps / loss) and returns the run
 * summary as the job result.
 *
 * Failure handling, all BullMQ's own machinery plus the run folder:
 *   worker killed (SIGKILL, power loss)  its BullMQ lock expires → another worker's stalled check requeues the
 *                                         job → that worker resumes from the checkpoint on the shared disk
 *   SIGINT / SIGTERM                     training stops, the job goes straight back to the queue
 *   run folder locked by a live trainer  the job is delayed and tried again (Redis lost it and it was re-added)
 *   training error                       the job fails (no retry: the same config fails the same way) and
 *                                         sweep_error.json records it in the run folder
 *   Redis unreachable                    one message; BullMQ reconnects; training in progress goes on
 */
import { DelayedError, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { SoftpromptError } from '../errors.js';
import { parseTrainConfig } from '../train/config.js';
import { writeFailure } from './run-folder.js';
import { StaleWatch } from './run-lock.js';
import { runJob, workerName, type JobData } from './run-job.js';
import { connectionOptions, isConnectionError, RedisHealth, SweepQueue, type JobProgress, type JobResult } from './queue.js';

export interface WorkerOptions {
  url: string;
  queueName: string;
  log: (line: string) => void;
  threads?: number;
  /** BullMQ lock: a worker silent this long is presumed dead. */
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
  /** Run-folder lock without a heartbeat for this long is stale (other hosts; a dead pid on this host at once). */
  staleMs: number;
  busyRetryMs: number;
  /** Exit after this long without a job (undefined: run until stopped). */
  idleExitMs?: number;
}

function checkJobData(data: unknown): JobData {
  const d = data as Partial<JobData> | null;
  if (d === null || typeof d !== 'object' || typeof d.name !== 'string' || typeof d.id !== 'string' || typeof d.runDir !== 'string') {
    throw new UnrecoverableError('invalid_config: the job carries no sweep job (name, id, runDir, config); was it added by softprompt sweep?');
  }
  return { name: d.name, id: d.id, runDir: d.runDir, config: parseTrainConfig(d.config) };
}

/** Runs until SIGINT/SIGTERM (or idle exit); resolves with the exit status. */
export async function runWorker(o: WorkerOptions): Promise<number> {
  const me = workerName();
  const probe = new SweepQueue(o.url, o.queueName);
  await probe.ping().catch(async (err: unknown) => {
    await probe.close();
    throw err;
  });
  const health = new RedisHealth(o.url, o.log, 'A job in training goes on; waiting for Redis to come back…');
  const watch = new StaleWatch(o.staleMs);
  let current: { job: Job<JobData, JobResult>; token: string | undefined; abort: AbortController } | null = null;
  let stopping = false;
  let lastActive = Date.now();

  const processor = async (job: Job<JobData, JobResult>, token?: string): Promise<JobResult> => {
    const data = checkJobData(job.data);
    const abort = new AbortController();
    current = { job, token, abort };
    lastActive = Date.now();
    o.log(`${data.name}: started (job ${job.id}${job.attemptsStarted > 1 ? `, start #${job.attemptsStarted}` : ''})`);
    try {
      const out = await runJob(data, {
        watch, signal: abort.signal, ...(o.threads !== undefined ? { threads: o.threads } : {}),
        onLog: (line) => { if (/resume: from|early stop/i.test(line)) o.log(line); },
        onProgress: (p) => {
          const progress: JobProgress = { step: p.step, steps: p.steps, loss: p.loss, worker: me };
          job.updateProgress(progress as unknown as Record<string, unknown>).then(() => health.ok(), (err: unknown) => { if (isConnectionError(err)) health.failed(err); });
        },
      });
      if (out.kind === 'busy') {
        const who = out.heldBy !== null ? `${out.heldBy.host}:${out.heldBy.pid}` : 'another process';
        o.log(`${data.name}: its run folder is locked by ${who}, which is still training it; trying again in ${Math.round(o.busyRetryMs / 1000)} s.`);
        await job.moveToDelayed(Date.now() + o.busyRetryMs, token);
        throw new DelayedError();
      }
      if (out.kind === 'aborted') {
        await job.moveToWait(token).catch(() => undefined);
        throw new WaitingError();
      }
      o.log(`${data.name}: done${out.trainedHere ? ` in ${out.summary.seconds.toFixed(1)} s${out.resumedFrom > 0 ? `, resumed from step ${out.resumedFrom}` : ''}` : ' (had already finished; reported only)'}`);
      return { summary: out.summary, worker: me, trainedHere: out.trainedHere, resumedFrom: out.resumedFrom };
    } catch (err) {
      if (err instanceof DelayedError || err instanceof WaitingError) throw err;
      const code = err instanceof SoftpromptError ? err.code : 'bug';
      const message = err instanceof Error ? err.message : String(err);
      writeFailure(data.runDir, { code, message, worker: me, at: new Date().toISOString() });
      o.log(`${data.name}: ✖ failed (${code}): ${message}`);
      throw new UnrecoverableError(`${code}: ${message}`);
    } finally {
      current = null;
      lastActive = Date.now();
    }
  };

  const worker = new Worker<JobData, JobResult>(o.queueName, processor, {
    connection: connectionOptions(o.url, true), concurrency: 1, name: me,
    lockDuration: o.lockDurationMs, stalledInterval: o.stalledIntervalMs, maxStalledCount: o.maxStalledCount,
    removeOnComplete: { count: 100000 }, removeOnFail: { count: 100000 },
  });
  const said = new Set<string>();
  worker.on('error', (err) => {
    if (isConnectionError(err)) return health.failed(err);
    // e.g. "could not renew lock for job …" after Redis lost the job: say it once, training goes on
    const line = err.message.split('\n')[0]!;
    if (said.has(line)) return;
    said.add(line);
    o.log(`BullMQ: ${line}${/lock/.test(line) ? ' (Redis restarted or the job was removed; the run folder stays locked by this worker and training goes on)' : ''}`);
  });
  worker.on('stalled', (id) => o.log(`job ${id} stalled (its worker stopped answering); back in the queue to resume.`));
  o.log(`softprompt worker ${me}: waiting for jobs on queue "${o.queueName}" at ${o.url}${o.threads !== undefined ? `, ${o.threads} threads` : ''}.`);

  return new Promise<number>((resolve) => {
    let status = 0;
    const stop = async (why: string, code: number): Promise<void> => {
      if (stopping) return;
      stopping = true;
      status = code;
      o.log(`softprompt worker ${me}: ${why}${current !== null ? '; the current job goes back to the queue (it resumes from its checkpoint)' : ''}.`);
      current?.abort.abort();
      clearInterval(tick);
      await Promise.race([Promise.all([worker.close(), probe.close()]), new Promise((r) => setTimeout(r, 5000))]);
      resolve(status);
    };
    process.once('SIGINT', () => void stop('interrupted', 130));
    process.once('SIGTERM', () => void stop('terminated', 130));
    const tick = setInterval(() => {
      if (health.isDown) {
        // the worker reconnects by itself; a cheap call tells when Redis answers again
        probe.ping(900).then(() => health.ok(), () => undefined);
      }
      if (o.idleExitMs !== undefined && current === null && Date.now() - lastActive > o.idleExitMs) void stop(`no job for ${Math.round(o.idleExitMs / 1000)} s, exiting`, 0);
    }, 1000);
  });
}
