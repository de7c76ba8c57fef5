import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseTrainConfig } from '../train/config.js';
import { expectErrorAsync } from '../../test/sweep-helpers.js';
import { RunLock, StaleWatch } from './run-lock.js';
import { runJob, type JobData } from './run-job.js';

/** A job whose training would fail at once (no such model): any outcome but an error proves it did not train. */
function job(): JobData {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-runjob-'));
  return { name: 'j', id: 'x', runDir, config: parseTrainConfig({ model: path.join(runDir, 'no-model'), output: runDir, resume: true }) };
}

const summary = { runDir: '', adapterDir: '', task: 'sst2', method: 'dept', trainableParams: 1, firstLoss: 1, lastLoss: 1, bestValidation: { accuracy: 50 }, test: { accuracy: 51 }, seconds: 1 };

test('a run that finished on disk is returned as it is, never trained again', async () => {
  const j = job();
  fs.writeFileSync(path.join(j.runDir, 'summary.json'), JSON.stringify({ ...summary, loop: { step: 9, interrupted: false, stoppedEarly: false, resumedFrom: 3, bestStep: 9, bestMetric: 50 } }));
  const out = await runJob(j, { watch: new StaleWatch(60_000) });
  assert.equal(out.kind, 'done');
  assert.ok(out.kind === 'done' && !out.trainedHere && out.summary.test?.['accuracy'] === 51 && out.resumedFrom === 3);
});

test('a summary of a run stopped part-way does not count as finished', async () => {
  const j = job();
  fs.writeFileSync(path.join(j.runDir, 'summary.json'), JSON.stringify({ ...summary, loop: { step: 4, interrupted: true, stoppedEarly: false, resumedFrom: 0, bestStep: null, bestMetric: null } }));
  await expectErrorAsync(() => runJob(j, { watch: new StaleWatch(60_000) }), 'file_not_found', 'no-model');
  assert.ok(!fs.existsSync(path.join(j.runDir, '.sweep-lock')), 'the lock is released after a failure');
});

test('a run folder locked by a live trainer is reported busy, not trained', async () => {
  const j = job();
  const lock = RunLock.acquire(j.runDir, new StaleWatch(60_000));
  assert.ok(lock instanceof RunLock);
  const out = await runJob(j, { watch: new StaleWatch(60_000) });
  assert.equal(out.kind, 'busy');
  assert.ok(out.kind === 'busy' && out.heldBy?.pid === process.pid);
  lock.release();
});

test('a run folder holding another config is refused, naming the differing field', async () => {
  const j = job();
  fs.writeFileSync(path.join(j.runDir, 'run_config.json'), JSON.stringify({ ...j.config, lr: 0.9, threads: 7 }));
  await expectErrorAsync(() => runJob(j, { watch: new StaleWatch(60_000) }), 'invalid_config', 'another config', 'lr: 0.9 there, the default now');
});
