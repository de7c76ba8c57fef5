/**
 * End to end on committed real data (the bundled SST-2 slice) with the committed tiny T5: the loss falls, the
 * saved adapter reloads to identical predictions, and an interrupted + resumed run ends bit-identical to an
 * uninterrupted one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bf16Available } from '../engine/index.js';
import { loadAdapter } from '../methods/registry.js';
import { loadModel } from '../models/registry.js';
import { loadTokenizerSync } from '../io/tokenizer.js';
import { parseTrainConfig, type TrainConfig } from './config.js';
import { loadRunData } from './data.js';
import { createMethod, predict, trainRun } from './run.js';
import { readMetrics } from './metrics-log.js';
import { assertSameRun } from '../../test/same-run.js';
import { repoRoot } from '../../test/paths.js';

const root = repoRoot();

function config(over: Partial<TrainConfig>): TrainConfig {
  return parseTrainConfig({
    model: join(root, 'test/fixtures/t5-tiny'), tokenizer: join(root, 'test/fixtures/tokenizers/t5'),
    task: 'sst2', dataDir: join(root, 'data'), method: 'dept', promptLength: 8, budget: 12, maxLength: 32,
    batchSize: 8, lr: 0.3, lrLowrank: 1e-2, warmupSteps: 5, evalMode: 'rank', maxEvalExamples: 24,
    evalBatchSize: 24, quiet: true, ...over,
  });
}

test('DePT trains on real SST-2 rows: loss falls, adapter reloads to identical predictions', () => {
  const out = mkdtempSync(join(tmpdir(), 'sp-run-'));
  const cfg = config({ output: out, steps: 150, evalEvery: 50 });
  const res = trainRun(cfg, { log: () => {} });
  const losses = readMetrics(join(out, 'metrics.jsonl')).filter((r) => typeof r.loss === 'number').map((r) => r.loss as number);
  assert.equal(losses.length, 150);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  // the untrained tiny model starts near ln(32128) = 10.4 nats; DePT moves ~1.3 nats in 150 steps
  const first = mean(losses.slice(0, 10)), middle = mean(losses.slice(65, 85)), last = mean(losses.slice(-20));
  assert.ok(first > middle && middle > last && last < first - 0.8, `training loss should fall: means ${first} → ${middle} → ${last}`);
  for (const f of ['adapter/adapter_config.json', 'adapter/adapter_model.safetensors', 'adapter/README.md', 'summary.json', 'loss.svg', 'eval.svg']) {
    assert.ok(existsSync(join(out, f)), `${f} written`);
  }
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { test: Record<string, number> };
  assert.ok(typeof summary.test['accuracy'] === 'number');

  const model = loadModel(cfg.model);
  const tok = loadTokenizerSync(cfg.tokenizer!);
  const data = loadRunData(cfg, tok);
  const before = predict(cfg, model, res.trained!, tok, data, 'test');
  const reloaded = loadAdapter(join(out, 'adapter'), { expectDModel: model.info.dModel });
  const after = predict(cfg, model, reloaded, tok, data, 'test');
  assert.deepEqual(after, before);
  assert.ok(before.every((p) => p === '0' || p === '1'));
});

test('a run killed with SIGKILL mid-way and resumed ends bit-identical to an uninterrupted run (dropout on)', () => {
  const a = mkdtempSync(join(tmpdir(), 'sp-full-')), b = mkdtempSync(join(tmpdir(), 'sp-killed-'));
  const common = { steps: 24, evalEvery: 8, saveEvery: 4, dropout: true } as const;
  const full = trainRun(config({ ...common, output: a }), { log: () => {} });

  // The child trains the same run and SIGKILLs itself right after checkpoint-12 is saved: no chance to clean up.
  const here = fileURLToPath(import.meta.url);
  const ext = here.endsWith('.ts') ? '.ts' : '.js';
  const script = `
    import { parseTrainConfig } from ${JSON.stringify(join(dirname(here), 'config' + ext))};
    import { trainRun } from ${JSON.stringify(join(dirname(here), 'run' + ext))};
    const cfg = parseTrainConfig(JSON.parse(process.env.SP_CFG));
    trainRun(cfg, { log: (line) => { if (line.includes('checkpoint-12')) process.kill(process.pid, 'SIGKILL'); } });
    console.log('finished without being killed');`;
  const child = spawnSync(process.execPath, [...(ext === '.ts' ? ['--import', 'tsx'] : []), '--input-type=module', '-e', script], {
    env: { ...process.env, SP_CFG: JSON.stringify(config({ ...common, output: b })) }, encoding: 'utf8',
  });
  assert.equal(child.signal, 'SIGKILL', `child should die by SIGKILL: ${child.stdout}${child.stderr}`);
  assert.ok(existsSync(join(b, 'checkpoint-12')) && !existsSync(join(b, 'checkpoint-16')));

  const resumed = trainRun(config({ ...common, output: b, resume: true }), { log: () => {} });
  assert.equal(resumed.loop.resumedFrom, 12);
  assertSameRun(full, resumed);
  assert.ok(readMetrics(join(b, 'metrics.jsonl')).some((r) => r['event'] === 'resume'));
});

test('--group-by-length: stopped and resumed ends bit-identical to an uninterrupted run on real SST-2 rows', () => {
  const a = mkdtempSync(join(tmpdir(), 'sp-gbl-')), b = mkdtempSync(join(tmpdir(), 'sp-gbl-stop-'));
  const common = { steps: 14, evalEvery: 0, groupByLength: true, maxTrainExamples: 160, dropout: true } as const;
  const full = trainRun(config({ ...common, output: a }), { log: () => {} });
  const part = trainRun(config({ ...common, output: b }), { log: () => {}, stopAtStep: 6 });
  assert.equal(part.loop.step, 6);
  const resumed = trainRun(config({ ...common, output: b, resume: true }), { log: () => {} });
  assert.equal(resumed.loop.resumedFrom, 6);
  assertSameRun(full, resumed);
  // the grouped order is not the plain shuffle's: the same run without grouping takes other batches
  const plain = trainRun(config({ ...common, groupByLength: false, output: mkdtempSync(join(tmpdir(), 'sp-plain-')) }), { log: () => {} });
  assert.notEqual(plain.firstLoss, full.firstLoss);
});

test('--init-adapter starts a run from a saved adapter (transfer init) and refuses a different max_length', () => {
  const first = mkdtempSync(join(tmpdir(), 'sp-src-'));
  const src = trainRun(config({ output: first, steps: 4, evalEvery: 0 }), { log: () => {} });
  const model = loadModel(join(root, 'test/fixtures/t5-tiny'));
  const tok = loadTokenizerSync(join(root, 'test/fixtures/tokenizers/t5'));
  const init = createMethod(config({ initAdapter: join(first, 'adapter') }), model, tok);
  const a = src.trained!.params(), b = init.params();
  for (let i = 0; i < a.length; i++) assert.deepEqual(b[i]!.data, a[i]!.data, `${a[i]!.name} not carried over`);
  assert.throws(() => createMethod(config({ initAdapter: join(first, 'adapter'), maxLength: 64 }), model, tok),
    (err: unknown) => err instanceof Error && /max_length 32/.test(err.message));
});

test('--saved-activations bf16 (T5, --precision bf16): the same first loss, then a run close to the default bf16 one; refused without bf16 or on a causal model', { skip: bf16Available() ? false : 'no native bf16 on this CPU' }, () => {
  const common = { steps: 10, evalEvery: 0, maxTrainExamples: 80, dropout: true, precision: 'bf16' } as const;
  const losses = (over: Partial<TrainConfig>) => {
    const out = mkdtempSync(join(tmpdir(), 'sp-saved16-'));
    trainRun(config({ ...common, ...over, output: out }), { log: () => {} });
    return readMetrics(join(out, 'metrics.jsonl')).filter((r) => typeof r.loss === 'number').map((r) => r.loss as number);
  };
  const plain = losses({}), saved16 = losses({ savedActivations: 'bf16' });
  assert.equal(saved16.length, 10);
  // the forward does not depend on how activations are saved: step 1's loss is the same bits
  assert.equal(saved16[0], plain[0]);
  // later steps follow gradients that differ by bf16 rounding: the curves stay close, not equal
  const maxRel = Math.max(...saved16.map((l, i) => Math.abs(l - plain[i]!) / plain[i]!));
  assert.ok(maxRel > 0 && maxRel < 1e-2, `losses differ by at most ${maxRel} relative`);
  assert.throws(() => trainRun(config({ ...common, precision: 'fp32', savedActivations: 'bf16', output: mkdtempSync(join(tmpdir(), 'sp-saved16-')) }), { log: () => {} }),
    (e: Error & { code?: string }) => e.code === 'invalid_config' && /precision 'bf16'/.test(e.message));
  assert.throws(() => trainRun(config({ ...common, model: join(root, 'test/fixtures/gpt2-tiny'), tokenizer: join(root, 'test/fixtures/gpt2-tiny'), savedActivations: 'bf16', output: mkdtempSync(join(tmpdir(), 'sp-saved16-')) }), { log: () => {} }),
    (e: Error & { code?: string }) => e.code === 'invalid_config' && /T5 models only/.test(e.message));
});
