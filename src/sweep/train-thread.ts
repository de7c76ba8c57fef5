/**
 * Worker-thread entry: one sweep job's `trainRun`. The trainer is synchronous; running it off the main thread
 * keeps the main thread free for the run-folder heartbeat, progress and BullMQ's lock renewal, and ends with the
 * process (a killed worker leaves no trainer behind).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SoftpromptError } from '../errors.js';
import { parseTrainConfig } from '../train/config.js';
import { trainRun } from '../train/run.js';

export type ThreadMessage =
  | { type: 'log'; line: string }
  | { type: 'done'; summary: Record<string, unknown> }
  | { type: 'error'; code: string; message: string; path?: string; file?: string; hint?: string; stack?: string };

const port = parentPort!;
const post = (m: ThreadMessage): void => port.postMessage(m);
try {
  const cfg = parseTrainConfig((workerData as { config: unknown }).config);
  const { trained: _trained, ...summary } = trainRun(cfg, { log: (line) => post({ type: 'log', line }) });
  post({ type: 'done', summary: JSON.parse(JSON.stringify(summary)) as Record<string, unknown> });
} catch (err) {
  const e = err instanceof Error ? err : new Error(String(err));
  post({
    type: 'error', code: err instanceof SoftpromptError ? err.code : 'bug', message: e.message,
    ...(err instanceof SoftpromptError && err.path !== undefined ? { path: err.path } : {}),
    ...(err instanceof SoftpromptError && err.file !== undefined ? { file: err.file } : {}),
    ...(err instanceof SoftpromptError && err.hint !== undefined ? { hint: err.hint } : {}),
    ...(e.stack !== undefined ? { stack: e.stack } : {}),
  });
}
