/**
 * metrics.jsonl: an append-only training log, one JSON object per line. A training line carries the loss, the lr
 * of every parameter group, the pre-clip grad norm and throughput; an evaluation line carries `eval`. Every line
 * has `step` and an ISO `timestamp`.
 *
 *   {"step":100,"epoch":0,"loss":0.71,"lr":{"prompt":0.3,"lora":0.0005},"grad_norm":0.93,"tokens":4096,
 *    "tokens_per_s":5120.4,"examples_per_s":40.2,"timestamp":"2024-05-01T12:00:00.000Z"}
 *   {"step":1000,"eval":{"accuracy":0.86,"f1":0.9},"timestamp":"…"}
 */

import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { atomicWriteFile } from '../io/atomic.js';
import { SoftpromptError } from '../errors.js';

export interface MetricsRecord {
  step: number;
  epoch?: number;
  loss?: number;
  /** Scheduled lr per parameter group, as used by this step's update. */
  lr?: Record<string, number>;
  /** Global grad L2 norm before clipping. */
  grad_norm?: number;
  tokens?: number;
  tokens_per_s?: number;
  examples_per_s?: number;
  /** Validation metrics, on evaluation lines. */
  eval?: Record<string, number>;
  /** A marker such as "resume" or "early_stop". */
  event?: string;
  timestamp?: string;
}

export class MetricsLog {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  /** Appends one line; the timestamp is filled in when missing. */
  append(record: MetricsRecord): void {
    const line = JSON.stringify({ ...record, timestamp: record.timestamp ?? new Date().toISOString() });
    appendFileSync(this.path, line + '\n');
  }

  read(): MetricsRecord[] {
    return readMetrics(this.path);
  }
}

/**
 * Reads every record. A missing file reads as empty. A last line without its newline (a crash mid-append) is
 * skipped if it does not parse; a bad line anywhere else is a 'malformed_file' error naming the line.
 */
export function readMetrics(path: string): MetricsRecord[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  const out: MetricsRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const isTornTail = i === lines.length - 1; // no trailing newline after it
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (cause) {
      if (isTornTail) continue;
      throw malformed(path, i + 1, 'is not valid JSON', cause);
    }
    if (typeof value !== 'object' || value === null || typeof (value as { step?: unknown }).step !== 'number') {
      if (isTornTail) continue;
      throw malformed(path, i + 1, 'is not an object with a numeric "step"');
    }
    out.push(value as MetricsRecord);
  }
  return out;
}

/**
 * Drops every record with step > `maxStep` (atomically). Used on resume, so that steps re-run after the checkpoint
 * are not logged twice.
 */
export function truncateMetrics(path: string, maxStep: number): void {
  if (!existsSync(path)) return;
  const kept = readMetrics(path).filter((r) => r.step <= maxStep);
  atomicWriteFile(path, kept.map((r) => JSON.stringify(r) + '\n').join(''));
}

function malformed(path: string, line: number, what: string, cause?: unknown): SoftpromptError {
  return new SoftpromptError('malformed_file', `Line ${line} of ${path} ${what}`, {
    file: path,
    path: `line ${line}`,
    hint: 'metrics.jsonl holds one JSON object per line; was it edited by hand?',
    cause,
  });
}
