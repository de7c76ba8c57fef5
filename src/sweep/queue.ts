/**
 * The BullMQ side shared by `softprompt sweep --queue` and `softprompt worker`: the Redis URL, one queue (name
 * "softprompt" unless --queue-name), jobs keyed by their stable id (so enqueueing twice adds once), and a
 * `RedisHealth` that turns a lost connection into one clear message and one "back" message instead of a stack
 * trace per retry.
 */
import { Queue, type ConnectionOptions, type Job } from 'bullmq';
import { SoftpromptError } from '../errors.js';
import type { RunSummary } from './run-folder.js';
import type { JobData } from './run-job.js';
import { describeRedisError, isConnectionError, shownUrl } from './redis-health.js';

export { DEFAULT_QUEUE_NAME } from './spec.js';
export { describeRedisError, isConnectionError, RedisHealth, shownUrl } from './redis-health.js';

/** What a worker returns as the BullMQ job result. */
export interface JobResult {
  summary: RunSummary;
  worker: string;
  /** False when the run had already finished on disk and was only reported. */
  trainedHere: boolean;
  resumedFrom: number;
}

export interface JobProgress {
  step: number;
  steps: number;
  loss: number | null;
  worker: string;
}

export function parseRedisUrl(url: string): { host: string; port: number; username?: string; password?: string; db?: number; tls?: Record<string, never> } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SoftpromptError('usage', `--queue ${url} is not a URL; expected redis://HOST:PORT (e.g. redis://10.0.0.5:6379).`, { path: 'queue' });
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new SoftpromptError('usage', `--queue ${url}: expected a redis:// or rediss:// URL, got ${u.protocol}//.`, { path: 'queue' });
  }
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined;
  if (db !== undefined && !Number.isInteger(db)) throw new SoftpromptError('usage', `--queue ${url}: the path should be a database number, e.g. redis://host:6379/0.`, { path: 'queue' });
  return {
    host: u.hostname || '127.0.0.1', port: u.port === '' ? 6379 : Number(u.port),
    ...(u.username !== '' ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password !== '' ? { password: decodeURIComponent(u.password) } : {}),
    ...(db !== undefined ? { db } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** Connection options: reconnect forever (every ≤ 2 s), fail commands fast while disconnected. */
export function connectionOptions(url: string, blocking: boolean): ConnectionOptions {
  return {
    ...parseRedisUrl(url),
    maxRetriesPerRequest: blocking ? null : 1,
    retryStrategy: (times: number) => Math.min(200 * times, 2000),
    connectTimeout: 5000,
  };
}

export function unreachable(url: string, err: unknown): SoftpromptError {
  return new SoftpromptError('queue_unavailable', `Cannot reach Redis at ${shownUrl(url)} (${describeRedisError(err)}).`, {
    path: 'queue', hint: 'start it (e.g. `redis-server --port 6379`) or check the host, port and firewall; every machine must reach it.',
  });
}

function timeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(Object.assign(new Error(`${what} timed out after ${ms} ms`), { code: 'ETIMEDOUT' })), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(e); });
  });
}

export type QueueJobState = 'completed' | 'failed' | 'active' | 'waiting' | 'delayed' | 'prioritized' | 'waiting-children' | 'unknown';

export interface QueuedJobInfo {
  state: QueueJobState;
  failedReason?: string;
  progress?: JobProgress;
  result?: JobResult;
}

/** The sweep's handle on the queue: add jobs once, read their states. Every call fails fast when Redis is down. */
export class SweepQueue {
  readonly queue: Queue<JobData, JobResult>;

  /** The last connection-level error seen (ECONNREFUSED…): what a failed command is reported as. */
  private connError: unknown = null;

  constructor(readonly url: string, readonly name: string) {
    this.queue = new Queue<JobData, JobResult>(name, { connection: connectionOptions(url, false) });
    this.queue.on('error', (err) => {
      if (typeof (err as { code?: unknown }).code === 'string') this.connError = err;
    });
  }

  /** Runs a queue call with a deadline; a failure caused by the connection is reported as that. */
  private async call<T>(p: Promise<T>, what: string): Promise<T> {
    try {
      const v = await timeout(p, 5000, what);
      this.connError = null;
      return v;
    } catch (err) {
      throw isConnectionError(err) && this.connError !== null ? this.connError : err;
    }
  }

  /** Throws queue_unavailable when Redis does not answer within `ms`. */
  async ping(ms = 5000): Promise<void> {
    try {
      await timeout(this.queue.waitUntilReady(), ms, 'connecting');
      await timeout(this.queue.getJobCounts('active'), ms, 'a first command');
    } catch (err) {
      throw unreachable(this.url, this.connError ?? err);
    }
  }

  /** Adds the job unless the queue already has it; a failed one is retried; one completed whose run is gone is re-added. */
  async ensure(data: JobData, finishedOnDisk: boolean): Promise<'added' | 'retried' | 'present'> {
    const existing = await this.call(this.queue.getJob(data.id), 'getJob');
    if (existing !== undefined && existing !== null) {
      const state = await this.call(existing.getState(), 'getState');
      if (state === 'failed') {
        await this.call(existing.retry('failed'), 'retry');
        return 'retried';
      }
      if (state === 'completed' && !finishedOnDisk) {
        await this.call(existing.remove(), 'remove');
      } else {
        return 'present';
      }
    }
    await this.call(this.queue.add('train', data, { jobId: data.id, attempts: 1, removeOnComplete: false, removeOnFail: false }), 'add');
    return 'added';
  }

  async info(id: string): Promise<QueuedJobInfo> {
    const job: Job<JobData, JobResult> | undefined | null = await this.call(this.queue.getJob(id), 'getJob');
    if (job === undefined || job === null) return { state: 'unknown' };
    const state = (await this.call(job.getState(), 'getState')) as QueueJobState;
    const out: QueuedJobInfo = { state };
    if (job.failedReason) out.failedReason = job.failedReason;
    if (typeof job.progress === 'object' && job.progress !== null && 'step' in job.progress) out.progress = job.progress as unknown as JobProgress;
    if (job.returnvalue !== undefined && job.returnvalue !== null) out.result = job.returnvalue;
    return out;
  }

  async close(): Promise<void> {
    await timeout(this.queue.close(), 3000, 'close').catch(() => undefined);
  }
}
