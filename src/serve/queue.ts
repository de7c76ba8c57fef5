/**
 * One request computes at a time (the engine already uses every core), so requests wait here. The queue is
 * bounded (beyond `maxQueue` waiting requests a new one is refused with a retry estimate), each request has a
 * deadline counted from its arrival (one that waited past it is answered without computing), and between two
 * jobs the event loop runs, so new requests are read, counted and refused while the queue is full.
 */

export interface QueueOptions {
  /** requests waiting (not counting the one computing) before new ones are refused */
  maxQueue: number;
  /** milliseconds from arrival after which a waiting request is no longer computed */
  timeoutMs: number;
}

export type JobOutcome<T> = { ok: true; value: T } | { ok: false; reason: 'expired'; waitedMs: number } | { ok: false; reason: 'error'; error: unknown };

interface Job<T> {
  arrivedAt: number;
  run: () => T;
  done: (o: JobOutcome<T>) => void;
}

export class ComputeQueue {
  private readonly waiting: Job<unknown>[] = [];
  private busy = false;
  /** mean compute time of recent jobs (exponential average), for Retry-After */
  private meanMs = 100;
  private idleWaiters: (() => void)[] = [];

  constructor(readonly opts: QueueOptions) {}

  get depth(): number {
    return this.waiting.length;
  }

  get idle(): boolean {
    return !this.busy && this.waiting.length === 0;
  }

  /** Whole seconds until a request refused now could expect a place (at least 1). */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(((this.waiting.length + 1) * this.meanMs) / 1000));
  }

  /** Queue `run`; null when the queue is full (the caller answers 429). */
  submit<T>(run: () => T, arrivedAt: number): Promise<JobOutcome<T>> | null {
    // jobs run synchronously, so here none is computing: one of those admitted computes next, the rest wait
    if (this.waiting.length > this.opts.maxQueue) return null;
    return new Promise((resolve) => {
      this.waiting.push({ arrivedAt, run, done: resolve as (o: JobOutcome<unknown>) => void });
      if (!this.busy) this.schedule();
    });
  }

  /** Resolves once nothing is computing or waiting (graceful shutdown). */
  drained(): Promise<void> {
    return this.idle ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    this.busy = true;
    setImmediate(() => this.next());
  }

  private next(): void {
    const job = this.waiting.shift();
    if (job === undefined) {
      this.busy = false;
      for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    const start = Date.now();
    const waitedMs = start - job.arrivedAt;
    if (waitedMs > this.opts.timeoutMs) {
      job.done({ ok: false, reason: 'expired', waitedMs });
    } else {
      try {
        const value = job.run();
        job.done({ ok: true, value });
      } catch (error) {
        job.done({ ok: false, reason: 'error', error });
      }
      this.meanMs = 0.8 * this.meanMs + 0.2 * (Date.now() - start);
    }
    setImmediate(() => this.next()); // let the event loop read (and count) new requests between jobs
  }
}
