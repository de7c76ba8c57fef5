/**
 * The serving core's entry point: `engine.submit(adapter, rows, options) → Promise<RowResult[]>`, one call per
 * request, whatever else is running. Two hosts of the same scheduler (batcher.ts):
 *  - LocalEngine steps it on this thread between turns of the event loop (one step = one bounded batch), for
 *    the library and tests;
 *  - WorkerEngine (worker-engine.ts) runs a LocalEngine on a worker thread, so the event loop of the HTTP
 *    server never waits for compute (`softprompt serve` uses it).
 */
import type { Tokenizer } from '../io/tokenizer.js';
import { withMethod, type PeftMethod } from '../methods/method.js';
import type { AnyModel } from '../models/registry.js';
import type { ModelInfo } from '../models/types.js';
import { Batcher, BASE_MODEL, type BatcherOptions, type RowResult, type SubmitOptions } from './batcher.js';

export { BASE_MODEL };
export type { RowResult, SubmitOptions, BatcherOptions };

export interface EngineSubmitOptions extends SubmitOptions {
  /** aborting drops the request's remaining work; the promise then rejects with the signal's reason */
  signal?: AbortSignal;
}

/** Counters for /health and /metrics. */
export interface EngineStats {
  /** requests submitted and not settled */
  depth: number;
  /** decoder lanes of the last step (its batch size) */
  lanes: number;
  steps: number;
  /** tokens generated or scored so far */
  tokens: number;
}

export interface ServeEngine {
  readonly kind: AnyModel['kind'];
  /** the model's facts (the HTTP thread checks requests against them without holding the model) */
  readonly info: ModelInfo;
  /**
   * Rows are source ids (predict's encodeSources, truncated to the adapter's limit), or raw prompts (`raw`);
   * results in row order. `adapter` BASE_MODEL ('') is the model without adapter (raw generation only).
   */
  submit(adapter: string, rows: readonly Int32Array[], options: EngineSubmitOptions): Promise<RowResult[]>;
  stats(): EngineStats;
  /**
   * Add (or replace) an adapter: LocalEngine takes the method, WorkerEngine its folder (loaded on the worker).
   * Rejects (typed) an adapter that does not fit the model (e.g. LoRA targets the model does not have).
   */
  addAdapter(name: string, source: PeftMethod | string): Promise<void>;
  removeAdapter(name: string): Promise<boolean>;
  close(): Promise<void>;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The request was aborted.', 'AbortError');
}

export class LocalEngine implements ServeEngine {
  readonly kind: AnyModel['kind'];
  readonly info: ModelInfo;
  private readonly batcher: Batcher;
  private readonly lm: AnyModel;
  private running = false;
  private steps = 0;
  private tokens = 0;

  constructor(lm: AnyModel, tok: Tokenizer, adapters: ReadonlyMap<string, PeftMethod>, opts: BatcherOptions = {}) {
    this.kind = lm.kind;
    this.info = lm.model.info;
    this.lm = lm;
    this.batcher = new Batcher(lm, tok, adapters, opts);
  }

  submit(adapter: string, rows: readonly Int32Array[], options: EngineSubmitOptions): Promise<RowResult[]> {
    const { signal, ...opts } = options;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        handle.cancel();
        reject(abortReason(signal!));
      };
      const handle = this.batcher.add({
        adapter, rows, options: opts,
        settle: (o) => {
          signal?.removeEventListener('abort', onAbort);
          if (o.ok) resolve(o.results);
          else reject(o.error);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.kick();
    });
  }

  stats(): EngineStats {
    return { depth: this.batcher.depth, lanes: this.batcher.last.lanes, steps: this.steps, tokens: this.tokens };
  }

  addAdapter(name: string, source: PeftMethod | string): Promise<void> {
    if (typeof source === 'string') return Promise.reject(new TypeError('LocalEngine.addAdapter takes a loaded method (loadAdapter(dir)).'));
    try {
      withMethod(this.lm.model, source, () => undefined); // LoRA: its target modules must exist in this model
    } catch (err) {
      return Promise.reject(err);
    }
    this.batcher.addAdapter(name, source);
    return Promise.resolve();
  }

  removeAdapter(name: string): Promise<boolean> {
    return Promise.resolve(this.batcher.removeAdapter(name));
  }

  /** The adapter's rows are batched (T5 with a prompt or side-path method): generate results carry their ids. */
  batches(name: string): boolean {
    return this.batcher.batches(name);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Step until idle, yielding to the event loop between steps (new requests join at the next step). */
  private kick(): void {
    if (this.running) return;
    this.running = true;
    const tick = () => {
      const worked = this.batcher.step();
      if (worked) {
        this.steps++;
        this.tokens += this.batcher.last.lanes;
      }
      if (worked && !this.batcher.idle) setImmediate(tick);
      else this.running = false;
    };
    setImmediate(tick);
  }
}
