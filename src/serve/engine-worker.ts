/**
 * The worker thread behind WorkerEngine (worker-engine.ts): loads the model, tokenizer and adapters named in
 * workerData, then runs a LocalEngine, taking requests and cancellations between its steps.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { setThreads } from '../engine/index.js';
import { loadTokenizerSync } from '../io/tokenizer.js';
import { withMethod, type PeftMethod } from '../methods/method.js';
import { loadAdapter } from '../methods/registry.js';
import { loadAnyModel } from '../models/registry.js';
import { LocalEngine } from './engine.js';
import { STATS_MS, toWire, type FromWorker, type ToWorker, type WorkerEngineSpec } from './worker-engine.js';

const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);

function start(spec: WorkerEngineSpec): void {
  if (spec.threads !== undefined && spec.threads > 0) setThreads(spec.threads);
  const lm = loadAnyModel(spec.model);
  const tok = loadTokenizerSync(spec.tokenizer ?? spec.model);
  const load = (dir: string) => {
    const method = loadAdapter(dir, { expectDModel: lm.model.info.dModel });
    withMethod(lm.model, method, () => undefined); // LoRA: its target modules must exist in this model
    return method;
  };
  const adapters = new Map<string, PeftMethod>(spec.adapters.map(([name, dir]) => [name, load(dir)]));
  const engine = new LocalEngine(lm, tok, adapters, spec.batcher);
  const running = new Map<number, AbortController>();
  const reply = (id: number, p: Promise<unknown>) => {
    p.then((value) => post({ type: 'done', id, value, stats: engine.stats() }),
      (err: unknown) => post({ type: 'error', id, error: toWire(err), stats: engine.stats() }));
  };
  port.on('message', (m: ToWorker) => {
    switch (m.type) {
      case 'submit': {
        const ac = new AbortController();
        running.set(m.id, ac);
        const onToken = m.stream ? (row: number, token: number) => post({ type: 'token', id: m.id, row, token }) : undefined;
        reply(m.id, engine.submit(m.adapter, m.rows, { ...m.options, signal: ac.signal, ...(onToken ? { onToken } : {}) }).finally(() => running.delete(m.id)));
        break;
      }
      case 'cancel':
        running.get(m.id)?.abort();
        break;
      case 'add':
        reply(m.id, (async () => engine.addAdapter(m.name, load(m.dir)))());
        break;
      case 'remove':
        reply(m.id, engine.removeAdapter(m.name));
        break;
    }
  });
  setInterval(() => { if (running.size > 0) post({ type: 'stats', stats: engine.stats() }); }, STATS_MS).unref();
  post({ type: 'ready', kind: lm.kind, info: { ...lm.model.info } });
}

try {
  start(workerData as WorkerEngineSpec);
} catch (err) {
  post({ type: 'fatal', error: toWire(err) });
}
