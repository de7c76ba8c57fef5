/**
 * The serving engine on a worker thread (node:worker_threads): the worker loads the model, tokenizer and
 * adapters from their folders and steps the scheduler; this thread only posts requests and receives results,
 * so the HTTP server's event loop is never blocked by compute (/health answers in milliseconds under any load).
 * The native addon is an N-API module, loadable in a worker; only the worker computes.
 *
 *   const engine = await WorkerEngine.start({ model: dir, adapters: [['sst2', adapterDir]] });
 *   const rows = await engine.submit('sst2', [ids], { mode: 'rank', labels: ['0', '1'] });
 */
import { Worker } from 'node:worker_threads';
import { SoftpromptError, type ErrorCode } from '../errors.js';
import type { PeftMethod } from '../methods/method.js';
import type { AnyModel } from '../models/registry.js';
import type { ModelInfo } from '../models/types.js';
import type { BatcherOptions, RowResult } from './batcher.js';
import type { EngineStats, EngineSubmitOptions, ServeEngine } from './engine.js';

export interface WorkerEngineSpec {
  /** model folder (config.json + weights) */
  model: string;
  /** tokenizer folder (default: the model folder) */
  tokenizer?: string;
  /** [name, folder] of each adapter */
  adapters: readonly (readonly [string, string])[];
  /** compute threads of the worker's engine (0 / absent: the default, one per core) */
  threads?: number;
  batcher?: BatcherOptions;
}

/** An error as it crosses the thread boundary. */
export interface WireError {
  name: string;
  message: string;
  code?: ErrorCode;
  path?: string;
  file?: string;
  hint?: string;
}

export type ToWorker =
  | { type: 'submit'; id: number; adapter: string; rows: Int32Array[]; options: Omit<EngineSubmitOptions, 'signal' | 'onToken'>; stream: boolean }
  | { type: 'cancel'; id: number }
  | { type: 'add'; id: number; name: string; dir: string }
  | { type: 'remove'; id: number; name: string };

export type FromWorker =
  | { type: 'ready'; kind: AnyModel['kind']; info: ModelInfo }
  | { type: 'fatal'; error: WireError }
  | { type: 'token'; id: number; row: number; token: number }
  /** the engine's counters, sent every STATS_MS while it has work (so /metrics moves during a long request) */
  | { type: 'stats'; stats: EngineStats }
  | { type: 'done'; id: number; value: unknown; stats: EngineStats }
  | { type: 'error'; id: number; error: WireError; stats: EngineStats };

export const STATS_MS = 200;

export function toWire(err: unknown): WireError {
  if (err instanceof SoftpromptError) {
    const w: WireError = { name: err.name, message: err.message, code: err.code };
    if (err.path !== undefined) w.path = err.path;
    if (err.file !== undefined) w.file = err.file;
    if (err.hint !== undefined) w.hint = err.hint;
    return w;
  }
  return err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
}

export function fromWire(w: WireError): Error {
  if (w.code !== undefined) {
    const o: { path?: string; file?: string; hint?: string } = {};
    if (w.path !== undefined) o.path = w.path;
    if (w.file !== undefined) o.file = w.file;
    if (w.hint !== undefined) o.hint = w.hint;
    return new SoftpromptError(w.code, w.message, o);
  }
  const e = new Error(w.message);
  e.name = w.name;
  return e;
}

interface Pending {
  onToken?: ((row: number, id: number) => void) | undefined;
  resolve(value: unknown): void;
  reject(err: unknown): void;
  /** a request (not an adapter change): counted in depth */
  request: boolean;
}

export class WorkerEngine implements ServeEngine {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private last: EngineStats = { depth: 0, lanes: 0, steps: 0, tokens: 0 };
  private exited: Error | null = null;

  private constructor(private readonly worker: Worker, readonly kind: AnyModel['kind'], readonly info: ModelInfo) {
    worker.on('message', (m: FromWorker) => this.receive(m));
    const fail = (err: Error) => {
      this.exited = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', (err) => fail(err));
    worker.on('exit', (code) => fail(new Error(`The engine worker exited (code ${code}).`)));
  }

  /** Start the worker and wait until it has loaded everything (load errors reject, typed). */
  static start(spec: WorkerEngineSpec): Promise<WorkerEngine> {
    const worker = new Worker(new URL('./engine-worker.js', import.meta.url), { workerData: spec });
    return new Promise((resolve, reject) => {
      const onMessage = (m: FromWorker) => {
        worker.off('error', onError);
        worker.off('message', onMessage);
        if (m.type === 'ready') {
          resolve(new WorkerEngine(worker, m.kind, m.info));
        } else {
          void worker.terminate();
          reject(m.type === 'fatal' ? fromWire(m.error) : new Error(`unexpected first message ${m.type} from the engine worker`));
        }
      };
      const onError = (err: Error) => reject(err);
      worker.on('message', onMessage);
      worker.once('error', onError);
    });
  }

  submit(adapter: string, rows: readonly Int32Array[], options: EngineSubmitOptions): Promise<RowResult[]> {
    const { signal, onToken, ...opts } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const id = this.nextId++;
    const p = this.call<RowResult[]>({ type: 'submit', id, adapter, rows: [...rows], options: opts, stream: onToken !== undefined }, true, onToken);
    if (signal === undefined) return p;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const entry = this.pending.get(id);
        if (entry === undefined) return;
        this.pending.delete(id);
        this.worker.postMessage({ type: 'cancel', id } satisfies ToWorker);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  stats(): EngineStats {
    return { ...this.last, depth: [...this.pending.values()].filter((p) => p.request).length };
  }

  addAdapter(name: string, source: PeftMethod | string): Promise<void> {
    if (typeof source !== 'string') return Promise.reject(new TypeError('WorkerEngine.addAdapter takes the adapter folder (it is loaded on the worker).'));
    return this.call<void>({ type: 'add', id: this.nextId++, name, dir: source }, false);
  }

  removeAdapter(name: string): Promise<boolean> {
    return this.call<boolean>({ type: 'remove', id: this.nextId++, name }, false);
  }

  async close(): Promise<void> {
    if (this.exited !== null) return;
    await this.worker.terminate();
  }

  private call<T>(msg: ToWorker & { id: number }, request: boolean, onToken?: (row: number, id: number) => void): Promise<T> {
    if (this.exited !== null) return Promise.reject(this.exited);
    return new Promise<T>((resolve, reject) => {
      this.pending.set(msg.id, { resolve: resolve as (v: unknown) => void, reject, request, onToken });
      this.worker.postMessage(msg);
    });
  }

  private receive(m: FromWorker): void {
    if (m.type === 'token') {
      this.pending.get(m.id)?.onToken?.(m.row, m.token);
      return;
    }
    if (m.type === 'stats') {
      this.last = m.stats;
      return;
    }
    if (m.type !== 'done' && m.type !== 'error') return;
    this.last = m.stats;
    const p = this.pending.get(m.id);
    if (p === undefined) return; // cancelled here first
    this.pending.delete(m.id);
    if (m.type === 'done') p.resolve(m.value);
    else p.reject(fromWire(m.error));
  }
}
