/**
 * Decoder-only training end to end on committed real data (the bundled SST-2 slice): a small GPT-2 with random
 * weights but the real GPT-2 vocabulary and tokenizer (test/random-causal.ts), DePT with right padding. The loss
 * falls, the adapter is saved as CAUSAL_LM and reloads to identical predictions, and a run stopped mid-way and
 * resumed ends bit-identical to an uninterrupted one.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture, repoRoot } from '../../test/paths.js';
import { buildRandomGpt2, buildRandomLlama } from '../../test/random-causal.js';
import { loadTokenizerSync } from '../io/tokenizer.js';
import { loadAdapter } from '../methods/registry.js';
import { loadAnyModel } from '../models/registry.js';
import { parseTrainConfig, type TrainConfig } from './config.js';
import { loadRunData } from './data.js';
import { readMetrics } from './metrics-log.js';
import { predict, trainRun } from './run.js';
import { assertSameRun } from '../../test/same-run.js';

let modelDir = '';
const dirs: string[] = [];
before(() => { modelDir = buildRandomGpt2({ seed: 7 }); dirs.push(modelDir); });
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const tmp = (prefix: string) => { const d = mkdtempSync(join(tmpdir(), prefix)); dirs.push(d); return d; };

function config(over: Partial<TrainConfig>): TrainConfig {
  return parseTrainConfig({
    model: modelDir, task: 'sst2', dataDir: join(repoRoot(), 'data'), method: 'dept', promptLength: 8, budget: 12,
    maxLength: 48, batchSize: 8, lr: 0.3, lrLowrank: 5e-2, warmupSteps: 5, evalMode: 'rank', maxEvalExamples: 16,
    evalBatchSize: 16, quiet: true, ...over,
  });
}

test('GPT-2 DePT trains on real SST-2 rows: loss falls, CAUSAL_LM adapter reloads to identical predictions', () => {
  assert.ok(existsSync(fixture('tokenizers', 'gpt2', 'tokenizer.json')));
  const out = tmp('sp-causal-run-');
  const cfg = config({ output: out, steps: 60, evalEvery: 30 });
  const res = trainRun(cfg, { log: () => {} });
  const losses = readMetrics(join(out, 'metrics.jsonl')).filter((r) => typeof r.loss === 'number').map((r) => r.loss as number);
  assert.equal(losses.length, 60);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = mean(losses.slice(0, 10)), middle = mean(losses.slice(25, 35)), last = mean(losses.slice(-10));
  // the random model starts near ln(50257) = 10.8 nats on the label token and EOS; DePT moves ~2 nats in 60 steps
  assert.ok(first > 9 && first > middle && middle > last && last < first - 1, `training loss should fall: means ${first} → ${middle} → ${last}`);
  for (const f of ['adapter/adapter_config.json', 'adapter/adapter_model.safetensors', 'adapter/README.md', 'summary.json']) {
    assert.ok(existsSync(join(out, f)), `${f} written`);
  }
  const ac = JSON.parse(readFileSync(join(out, 'adapter', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(ac['task_type'], 'CAUSAL_LM');
  assert.equal(ac['peft_type'], 'PROMPT_TUNING_LORA');
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { test: Record<string, number> };
  assert.equal(typeof summary.test['accuracy'], 'number');

  const lm = loadAnyModel(cfg.model);
  assert.equal(lm.kind, 'causal');
  const tok = loadTokenizerSync(cfg.model);
  const data = loadRunData(cfg, tok, 'causal');
  const before = predict(cfg, lm.model, res.trained!, tok, data, 'test');
  const reloaded = loadAdapter(join(out, 'adapter'), { expectDModel: lm.model.info.dModel });
  const afterReload = predict(cfg, lm.model, reloaded, tok, data, 'test');
  assert.deepEqual(afterReload, before);
  assert.ok(before.every((p) => p === '0' || p === '1'));
  // generation runs too (greedy up to <|endoftext|>), and a batch of one predicts what the batch does (right padding)
  const gen = predict({ ...cfg, evalMode: 'generate', maxNewTokens: 4 }, lm.model, reloaded, tok, data, 'test');
  assert.equal(gen.length, data.test.length);
  const single = predict({ ...cfg, evalMode: 'generate', maxNewTokens: 4, evalBatchSize: 1 }, lm.model, reloaded, tok, data, 'test');
  assert.deepEqual(single, gen);
});

test('GPT-2 DePT: a run stopped at step 12 and resumed ends bit-identical to an uninterrupted run (dropout on)', () => {
  const a = tmp('sp-causal-full-'), b = tmp('sp-causal-stop-');
  const common = { steps: 20, evalEvery: 8, saveEvery: 4, dropout: true } as const;
  const full = trainRun(config({ ...common, output: a }), { log: () => {} });
  const stopped = trainRun(config({ ...common, output: b }), { log: () => {}, stopAtStep: 12 });
  assert.ok(stopped.loop.interrupted);
  const resumed = trainRun(config({ ...common, output: b, resume: true }), { log: () => {} });
  assert.equal(resumed.loop.resumedFrom, 12);
  assertSameRun(full, resumed);
});

test('LLaMA (random weights, real LLaMA-2 tokenizer: <s> prepended, </s> as EOS) trains and predicts label words', () => {
  const llama = buildRandomLlama({ seed: 5 });
  dirs.push(llama);
  const out = tmp('sp-causal-llama-');
  const cfg = config({ model: llama, output: out, steps: 30, evalEvery: 0, maxEvalExamples: 8 });
  const res = trainRun(cfg, { log: () => {} });
  const losses = readMetrics(join(out, 'metrics.jsonl')).filter((r) => typeof r.loss === 'number').map((r) => r.loss as number);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(mean(losses.slice(-10)) < mean(losses.slice(0, 10)), `LLaMA loss should fall: ${losses.join(', ')}`);
  const ac = JSON.parse(readFileSync(join(out, 'adapter', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(ac['task_type'], 'CAUSAL_LM');
  assert.equal(typeof res.test?.['accuracy'], 'number');
});
