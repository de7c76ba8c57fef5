import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import {
  defaultCheckpointIO,
  latestCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  restoreParams,
  saveCheckpoint,
  type CheckpointContent,
  type CheckpointIO,
} from './checkpoint.js';
import { DataOrder } from './data-order.js';
import { AdamW } from './optimizer.js';
import { makeParam, type Param } from './params.js';
import { Rng } from './rng.js';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'sp-ckpt-'));

function setup(): { params: Param[]; opt: AdamW; rng: Rng; data: DataOrder } {
  const params = [makeParam('prompt', 'prompt', [2, 3], [1, 2, 3, 4, 5, 6]), makeParam('lora.A', 'lora', [4], [0.5, -0.5, 0.25, 0])];
  const opt = new AdamW(params, [
    { name: 'prompt', lr: 0.3, weightDecay: 0 },
    { name: 'lora', lr: 1e-3, weightDecay: 0 },
  ]);
  for (const p of params) p.grad.fill(0.1);
  opt.step();
  const rng = new Rng(42);
  const data = new DataOrder(5, 2, rng);
  data.next();
  return { params, opt, rng, data };
}

function content(s: ReturnType<typeof setup>, step: number, extra: Partial<CheckpointContent> = {}): CheckpointContent {
  return {
    params: s.params,
    optimizerState: s.opt.state(),
    step,
    epoch: 0,
    rngState: s.rng.getState(),
    dataCursor: s.data.cursor(),
    bestMetric: null,
    extra: { method: 'dept' },
    ...extra,
  };
}

const code = (c: string) => (e: unknown) => e instanceof SoftpromptError && e.code === c;

test('save → load round-trips params, moments, step, rng and cursor exactly', () => {
  const dir = tmp();
  const s = setup();
  const where = saveCheckpoint(dir, content(s, 7, { bestMetric: 0.8, bestStep: 7 }));
  assert.equal(where, path.join(dir, 'checkpoint-7'));
  assert.deepEqual(fs.readdirSync(where).sort(), ['optimizer.safetensors', 'params.safetensors', 'trainer_state.json']);
  const ck = loadCheckpoint(where);
  assert.equal(ck.state.step, 7);
  assert.equal(ck.state.bestCheckpoint, 'checkpoint-7');
  assert.deepEqual(ck.state.rngState, s.rng.getState());
  assert.deepEqual(ck.state.dataCursor, s.data.cursor());
  assert.deepEqual(ck.state.extra, { method: 'dept' });
  assert.deepEqual(ck.params['prompt']!.shape, [2, 3]);
  assert.deepEqual(ck.params['prompt']!.data, s.params[0]!.data);
  const st = s.opt.state();
  assert.equal(ck.optimizerState.step, 1);
  assert.deepEqual(ck.optimizerState.expAvg['lora.A'], st.expAvg['lora.A']);
  assert.deepEqual(ck.optimizerState.expAvgSq['prompt'], st.expAvgSq['prompt']);

  const fresh = [makeParam('prompt', 'prompt', [2, 3]), makeParam('lora.A', 'lora', [4])];
  restoreParams(fresh, ck);
  assert.deepEqual(fresh[0]!.data, s.params[0]!.data);
  assert.throws(() => restoreParams([makeParam('prompt', 'prompt', [5])], ck), code('shape_mismatch'));
  assert.throws(() => restoreParams([makeParam('other', 'prompt', [5])], ck), code('missing_tensor'));
});

test('a save that fails half-way leaves the previous checkpoint intact and no partial folder', () => {
  const dir = tmp();
  const s = setup();
  saveCheckpoint(dir, content(s, 10));
  const before = loadCheckpoint(path.join(dir, 'checkpoint-10'));

  for (const p of s.params) p.data.fill(99); // the state the failed save would have written
  let calls = 0;
  const failing: CheckpointIO = {
    writeTensors(file, tensors, metadata) {
      calls += 1;
      if (calls === 2) throw new Error('disk full (simulated) while writing optimizer.safetensors');
      defaultCheckpointIO.writeTensors(file, tensors, metadata);
    },
    writeText: defaultCheckpointIO.writeText,
  };
  assert.throws(() => saveCheckpoint(dir, content(s, 20), { io: failing }), /disk full/);
  assert.deepEqual(fs.readdirSync(dir), ['checkpoint-10']); // no checkpoint-20, no temp folder
  assert.equal(latestCheckpoint(dir), path.join(dir, 'checkpoint-10'));
  const after = loadCheckpoint(latestCheckpoint(dir)!);
  assert.deepEqual(after.params, before.params);
  assert.deepEqual(after.optimizerState, before.optimizerState);

  // A failure while overwriting the same step keeps the old copy too.
  const failText: CheckpointIO = { ...defaultCheckpointIO, writeText: () => { throw new Error('crash'); } };
  assert.throws(() => saveCheckpoint(dir, content(s, 10), { io: failText }), /crash/);
  assert.deepEqual(loadCheckpoint(path.join(dir, 'checkpoint-10')).params, before.params);
});

test('a crash that left a temp folder (process killed) is ignored and cleaned by the next save', () => {
  const dir = tmp();
  const s = setup();
  saveCheckpoint(dir, content(s, 1));
  const stale = path.join(dir, '.tmp-checkpoint-2-123-456');
  fs.mkdirSync(stale);
  fs.writeFileSync(path.join(stale, 'params.safetensors'), 'half');
  assert.equal(latestCheckpoint(dir), path.join(dir, 'checkpoint-1'));
  saveCheckpoint(dir, content(s, 2));
  assert.deepEqual(fs.readdirSync(dir).sort(), ['checkpoint-1', 'checkpoint-2']);
});

test('keep at most `keep` newest plus the best', () => {
  const dir = tmp();
  const s = setup();
  for (const step of [100, 200, 300, 400]) saveCheckpoint(dir, content(s, step, { bestStep: 200, bestMetric: 0.9 }), { keep: 1 });
  assert.deepEqual(listCheckpoints(dir).map((c) => c.step), [200, 400]);
  saveCheckpoint(dir, content(s, 500, { bestStep: 500, bestMetric: 0.95 }), { keep: 2 });
  assert.deepEqual(listCheckpoints(dir).map((c) => c.step), [400, 500]);
  assert.throws(() => saveCheckpoint(dir, content(s, 600), { keep: 0 }), code('invalid_config'));
});

test('clear errors on missing and corrupt files', () => {
  const dir = tmp();
  const s = setup();
  const ck = saveCheckpoint(dir, content(s, 5));
  assert.throws(() => loadCheckpoint(path.join(dir, 'checkpoint-6')), (e: unknown) => code('file_not_found')(e) && /checkpoint-5/.test((e as SoftpromptError).hint ?? ''));

  const statePath = path.join(ck, 'trainer_state.json');
  const good = fs.readFileSync(statePath, 'utf8');
  fs.writeFileSync(statePath, good.slice(0, 40));
  assert.throws(() => loadCheckpoint(ck), (e: unknown) => code('malformed_file')(e) && (e as SoftpromptError).file === statePath);
  fs.writeFileSync(statePath, JSON.stringify({ ...JSON.parse(good), rngState: [1, 2] }));
  assert.throws(() => loadCheckpoint(ck), (e: unknown) => code('malformed_file')(e) && (e as SoftpromptError).path === 'rngState');
  fs.writeFileSync(statePath, good);

  const opt = path.join(ck, 'optimizer.safetensors');
  const bytes = fs.readFileSync(opt);
  fs.writeFileSync(opt, bytes.subarray(0, bytes.length - 8)); // truncated
  assert.throws(() => loadCheckpoint(ck), code('malformed_file'));
  fs.rmSync(opt);
  assert.throws(() => loadCheckpoint(ck), (e: unknown) => code('file_not_found')(e) && (e as SoftpromptError).file === opt);
  fs.rmSync(statePath);
  assert.throws(() => loadCheckpoint(ck), code('file_not_found'));
  assert.equal(latestCheckpoint(dir), null); // incomplete folders are not candidates
  assert.equal(latestCheckpoint(path.join(dir, 'nope')), null);
});

test('a crash between the two renames of a same-step re-save is undone', async () => {
  const { cleanInterruptedSaves } = await import('./checkpoint.js');
  const dir = tmp();
  const s = setup();
  saveCheckpoint(dir, content(s, 3));
  fs.renameSync(path.join(dir, 'checkpoint-3'), path.join(dir, '.old-checkpoint-3-99-1'));
  assert.equal(latestCheckpoint(dir), null);
  cleanInterruptedSaves(dir);
  assert.equal(latestCheckpoint(dir), path.join(dir, 'checkpoint-3'));
  loadCheckpoint(path.join(dir, 'checkpoint-3'));
});
