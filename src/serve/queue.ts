/**
 * One request computes at a time (the engine already uses every core), in chunks of one batch: between two
 * chunks the event loop runs, so `/health` answers, new requests are read and counted, and the jobs take turns
 * (round robin), so a small request waits for one chunk of a long one, not for all of it. The queue is bounded
 * (beyond `maxQueue` requests besides the one computing, a new one is refused with a retry estimate), and each
 * request has a deadline counted from its arrival: past it, or once its client has disconnected, its remaining
 * chunks are skipped.
 */

export interface QueueOptions {
  /** requests admitted besides the one computing, before new ones are refused */
  maxQueue: number;
  /** milliseconds from arrival after which a request's remaining chunks are skipped */
  timeoutMs: number;
  /** clock in ms (default Date.now); tests pass a fake one so deadlines do not depend on machine load */
  now?: () => number;
}

export type JobOutcome<T> =
  | { ok: true; value: T[] }
  | { ok: false; reason: 'expired'; elapsedMs: number; started: boolean }
  | { ok: false; reason: 'error'; error: unknown }
  | { ok: false; reason: 'gone' };

interface Job {
  arrivedAt: number;
  chunks: readonly (() => readonly unknown[])[];
  next: number;
  results: unknown[];
  gone: () => boolean;
  done: (o: JobOutcome<unknown>) => void;
}

export class ComputeQueue {
  private readonly jobs: Job[] = [];
  private scheduled = false;
  /** mean compute time of recent chunks (exponential average), for Retry-After */
  private meanChunkMs = 50;
  private idleWaiters: (() => void)[] = [];

  constructor(readonly opts: QueueOptions) {}

  /** requests admitted and not finished */
  get depth(): number {
    return this.jobs.length;
  }

  get idle(): boolean {
    return !this.scheduled && this.jobs.length === 0;
  }

  /** Whole seconds until the work admitted now is done (at least 1): the Retry-After of a refused request. */
  retryAfterSeconds(): number {
    const chunks = this.jobs.reduce((n, j) => n + j.chunks.length - j.next, 0);
    return Math.max(1, Math.ceil((chunks * this.meanChunkMs) / 1000));
  }

  /**
   * Queue a request's chunks (their results are concatenated); null when the queue is full (the caller answers
   * 429). `gone` says the client has left: the remaining chunks are then skipped.
   */
  submit<T>(chunks: readonly (() => readonly T[])[], arrivedAt: number, gone: () => boolean = () => false): Promise<JobOutcome<T>> | null {
    // chunks run synchronously, so here none is computing: one of the admitted computes next, the rest wait
    if (this.jobs.length > this.opts.maxQueue) return null;
    return new Promise((resolve) => {
      this.jobs.push({ arrivedAt, chunks, next: 0, results: [], gone, done: resolve as (o: JobOutcome<unknown>) => void });
      if (!this.scheduled) this.schedule();
    });
  }

  /** Resolves once nothing is computing or waiting (graceful shutdown). */
  drained(): Promise<void> {
    return this.idle ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    this.scheduled = true;
    setImmediate(() => this.step()); // let the event loop read (and count) new requests between chunks
  }

  private step(): void {
    const job = this.jobs.shift();
    if (job === undefined) {
      this.scheduled = false;
      for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    const now = this.opts.now ?? Date.now;
    const start = now();
    const elapsedMs = start - job.arrivedAt;
    if (job.gone()) {
      job.done({ ok: false, reason: 'gone' });
    } else if (elapsedMs > this.opts.timeoutMs) {
      job.done({ ok: false, reason: 'expired', elapsedMs, started: job.next > 0 });
    } else {
      try {
        for (const r of job.chunks[job.next++]!()) job.results.push(r);
        if (job.next === job.chunks.length) job.done({ ok: true, value: job.results });
        else this.jobs.push(job); // round robin: the next request's chunk goes first
      } catch (error) {
        job.done({ ok: false, reason: 'error', error });
      }
      this.meanChunkMs = 0.8 * this.meanChunkMs + 0.2 * (now() - start);
    }
    this.schedule();
  }
}
