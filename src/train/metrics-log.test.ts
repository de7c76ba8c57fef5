import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import { MetricsLog, readMetrics, truncateMetrics } from './metrics-log.js';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'sp-metrics-'));

test('append writes one JSON object per line with a timestamp; read returns them', () => {
  const file = path.join(tmp(), 'metrics.jsonl');
  const log = new MetricsLog(file);
  log.append({ step: 1, loss: 0.7, lr: { prompt: 0.3, lora: 1e-4 }, grad_norm: 1.2, tokens_per_s: 100 });
  log.append({ step: 1, eval: { accuracy: 0.5 } });
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  assert.equal(lines.length, 3);
  assert.equal(lines[2], '');
  const recs = log.read();
  assert.equal(recs.length, 2);
  assert.deepEqual(recs[0]!.lr, { prompt: 0.3, lora: 1e-4 });
  assert.deepEqual(recs[1]!.eval, { accuracy: 0.5 });
  assert.match(recs[0]!.timestamp ?? '', /^\d{4}-\d\d-\d\dT/);
});

test('a torn last line is skipped; a bad middle line is malformed_file', () => {
  const file = path.join(tmp(), 'metrics.jsonl');
  fs.writeFileSync(file, '{"step":1,"loss":1}\n{"step":2,"lo');
  assert.deepEqual(readMetrics(file).map((r) => r.step), [1]);
  fs.writeFileSync(file, '{"step":1}\nnot json\n{"step":3}\n');
  assert.throws(
    () => readMetrics(file),
    (e: unknown) => e instanceof SoftpromptError && e.code === 'malformed_file' && e.path === 'line 2' && e.file === file,
  );
  assert.deepEqual(readMetrics(path.join(tmp(), 'missing.jsonl')), []);
});

test('truncateMetrics drops lines past a step (resume)', () => {
  const file = path.join(tmp(), 'metrics.jsonl');
  const log = new MetricsLog(file);
  for (let s = 1; s <= 5; s++) log.append({ step: s, loss: s });
  fs.appendFileSync(file, '{"step":6,'); // crash mid-append
  truncateMetrics(file, 3);
  assert.deepEqual(readMetrics(file).map((r) => r.step), [1, 2, 3]);
  log.append({ step: 4, loss: 4 });
  assert.deepEqual(readMetrics(file).map((r) => r.step), [1, 2, 3, 4]);
});
