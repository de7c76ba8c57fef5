/**
 * Full fine-tuning end to end on the bundled SST-2 slice: the committed tiny T5 (random weights, real T5
 * tokenizer) and a random GPT-2 with the real GPT-2 vocabulary. The saved folder is checked against the best
 * checkpoint's raw parameters and reloaded through both of softprompt's paths (as a model folder, and as an
 * adapter copied into the base model) to identical logits.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { bf16Available } from '../../engine/index.js';
import { SoftpromptError } from '../../errors.js';
import { SafetensorsFile } from '../../io/safetensors.js';
import { loadAnyModel } from '../../models/registry.js';
import type { CausalLM, Seq2SeqLM } from '../../models/types.js';
import { parseTrainConfig, type TrainConfig } from '../../train/config.js';
import { readMetrics } from '../../train/metrics-log.js';
import { trainRun, type TrainRunResult } from '../../train/run.js';
import { Rng } from '../../train/rng.js';
import { repoRoot } from '../../../test/paths.js';
import { buildRandomGpt2 } from '../../../test/random-causal.js';
import { withMethod } from '../method.js';
import { getMethod, loadAdapter, optimizerGroups, readAdapter, saveAdapter } from '../registry.js';
import { FullFineTune } from './full.js';

const root = repoRoot();
const T5 = join(root, 'test/fixtures/t5-tiny');
const temps: string[] = [];
const tmp = (tag: string): string => {
  const d = mkdtempSync(join(tmpdir(), `sp-full-${tag}-`));
  temps.push(d);
  return d;
};
after(() => { for (const d of temps) rmSync(d, { recursive: true, force: true }); });

function config(over: Partial<TrainConfig>): TrainConfig {
  return parseTrainConfig({
    model: T5, tokenizer: join(root, 'test/fixtures/tokenizers/t5'), task: 'sst2', dataDir: join(root, 'data'),
    method: 'full', maxLength: 32, batchSize: 8, lr: 1e-3, warmupSteps: 2, evalMode: 'rank', maxEvalExamples: 16,
    evalBatchSize: 16, quiet: true, ...over,
  });
}

const run = (cfg: TrainConfig, hooks: { stopAtStep?: number } = {}): TrainRunResult => trainRun(cfg, { log: () => {}, ...hooks });
const losses = (dir: string): number[] => readMetrics(join(dir, 'metrics.jsonl')).filter((r) => typeof r.loss === 'number').map((r) => r.loss as number);
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Every tensor of a safetensors file as F32 arrays. */
function tensors(file: string): Map<string, Float32Array> {
  const st = SafetensorsFile.open(file);
  return new Map(st.names().map((n) => [n, st.getF32(n)]));
}

/** Loss and logits of a fixed seq2seq batch (random ids, eval mode). */
function t5Logits(model: Seq2SeqLM): Float32Array {
  const rng = new Rng(5, 1);
  const B = 2, Te = 6, S = 3;
  const ids = Int32Array.from({ length: B * Te }, () => Math.floor(rng.nextFloat() * 1000));
  const labels = Int32Array.from({ length: B * S }, () => Math.floor(rng.nextFloat() * 1000));
  const out = model.forward({ B, Te, inputsEmbeds: model.embed(ids), encoderMask: new Float32Array(B * Te).fill(1), S, labels }, { keepLogits: true });
  return out.logits!;
}

function gpt2Logits(model: CausalLM): Float32Array {
  const rng = new Rng(6, 1);
  const B = 2, T = 7;
  const ids = Int32Array.from({ length: B * T }, () => Math.floor(rng.nextFloat() * 50000));
  const out = model.forward({ B, T, inputsEmbeds: model.embed(ids), attentionMask: new Float32Array(B * T).fill(1), labels: ids }, { keepLogits: true });
  return out.logits!;
}

describe('full fine-tuning (--method full)', () => {
  test('T5: the training loss falls; the saved HF folder holds the best step\'s weights and reloads to identical logits', () => {
    const out = tmp('t5');
    const res = run(config({ output: out, steps: 20, evalEvery: 10 }));
    const ls = losses(out);
    assert.equal(ls.length, 20);
    const first = mean(ls.slice(0, 5)), last = mean(ls.slice(-5));
    // random tiny T5: ~10.4 nats (ln 32128) at the start; full FT learns the two label words quickly
    assert.ok(last < first - 1, `training loss should fall: ${first} → ${last}`);
    assert.equal(res.trainableParams, 2221056);

    const dir = join(out, 'adapter');
    const saved = tensors(join(dir, 'model.safetensors'));
    const base = tensors(join(T5, 'model.safetensors'));
    assert.deepEqual([...saved.keys()].sort(), [...base.keys()].sort(), 'the same tensors as the base checkpoint (tied shared.weight once)');
    const best = tensors(join(out, `checkpoint-${res.loop.bestStep}`, 'params.safetensors'));
    for (const [name, data] of saved) assert.deepEqual(data, best.get(name), `${name} is the best checkpoint's`);
    assert.equal(readFileSync(join(dir, 'config.json'), 'utf8'), readFileSync(join(T5, 'config.json'), 'utf8'), 'config.json verbatim (1.0 stays a float for transformers)');
    for (const f of ['tokenizer.json', 'spiece.model', 'README.md']) assert.ok(readFileSync(join(dir, f)).length > 0, f);
    const card = readFileSync(join(dir, 'README.md'), 'utf8');
    assert.match(card, /library_name: transformers/);
    assert.match(card, /\| trainable parameters \| 2221056 \(every weight\) \|/);
    assert.match(card, /AutoModelForSeq2SeqLM\.from_pretrained/);

    // reload: as a plain model folder, and as an adapter copied into the base model (restored on detach)
    const asModel = t5Logits(loadAnyModel(dir).model as Seq2SeqLM);
    const baseModel = loadAnyModel(T5).model as Seq2SeqLM;
    const before = t5Logits(baseModel);
    const loaded = readAdapter(dir, { expectDModel: 64 });
    assert.equal(loaded.entry.name, 'full');
    assert.equal(loaded.method.numParams(), 2221056);
    const asAdapter = withMethod(baseModel, loaded.method, () => t5Logits(baseModel));
    assert.deepEqual(asAdapter, asModel);
    assert.notDeepEqual(asAdapter, before);
    assert.deepEqual(t5Logits(baseModel), before, 'detach restores the base weights');
  });

  test('--train-modules: only the selected weights change, every other weight stays bit-identical', () => {
    const out = tmp('subset');
    const res = run(config({ output: out, steps: 4, evalEvery: 0, trainModules: ['decoder.block.1', 'final_layer_norm'] } as Partial<TrainConfig>));
    const saved = tensors(join(out, 'adapter', 'model.safetensors'));
    const base = tensors(join(T5, 'model.safetensors'));
    const selected = [...base.keys()].filter((n) => n.startsWith('decoder.block.1.') || n.endsWith('final_layer_norm.weight'));
    assert.ok(selected.length > 3);
    for (const [name, data] of base) {
      if (selected.includes(name)) assert.notDeepEqual(saved.get(name), data, `${name} trained`);
      else assert.deepEqual(saved.get(name), data, `${name} untouched`);
    }
    const n = selected.reduce((s, name) => s + base.get(name)!.length, 0);
    assert.equal(res.trainableParams, n);
    const loaded = loadAdapter(join(out, 'adapter')) as FullFineTune;
    assert.deepEqual(loaded.config.trainModules, ['decoder.block.1', 'final_layer_norm']);
    assert.equal(loaded.numParams(), n);
    assert.throws(() => run(config({ output: tmp('bad'), steps: 1, trainModules: ['q_proj'] } as Partial<TrainConfig>)),
      (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_config' && /"q_proj" matches no weight/.test(e.message));
  });

  test('an interrupted and resumed run ends bit-identical to an uninterrupted one (all weights + AdamW moments checkpointed)', () => {
    const a = tmp('whole'), b = tmp('resumed');
    const common = { steps: 8, evalEvery: 4, saveEvery: 4, dropout: true } as const;
    const whole = run(config({ ...common, output: a }));
    const stopped = run(config({ ...common, output: b }), { stopAtStep: 5 });
    assert.equal(stopped.loop.interrupted, true);
    const ck = tensors(join(b, 'checkpoint-4', 'optimizer.safetensors'));
    assert.equal(ck.size, 2 * 47, 'exp_avg and exp_avg_sq of every weight');
    const resumed = run(config({ ...common, output: b, resume: true }));
    assert.equal(resumed.loop.resumedFrom, 5, 'the interrupt checkpoints its step');
    assert.equal(resumed.lastLoss, whole.lastLoss);
    assert.deepEqual(readFileSync(join(b, 'adapter', 'model.safetensors')), readFileSync(join(a, 'adapter', 'model.safetensors')));
    const records = (dir: string) => readMetrics(join(dir, 'metrics.jsonl')).filter((r) => r['event'] === undefined).map((r) => JSON.stringify([r.step, r.loss, r['eval']]));
    assert.deepEqual(records(b), records(a));
  });

  test('GPT-2: Conv1D weights are saved in HF [in, out] layout; the folder reloads to identical logits', () => {
    const model = buildRandomGpt2({ seed: 3 });
    temps.push(model);
    const out = tmp('gpt2');
    const res = run(config({ model, tokenizer: model, output: out, steps: 3, evalEvery: 0, maxLength: 48 }));
    const dir = join(out, 'adapter');
    const st = SafetensorsFile.open(join(dir, 'model.safetensors'));
    assert.deepEqual(st.info('transformer.h.0.attn.c_attn.weight').shape, [32, 96]);
    assert.deepEqual(st.info('transformer.h.1.mlp.c_proj.weight').shape, [128, 32]);
    assert.ok(!st.has('lm_head.weight'), 'the tied head is stored once, as wte');
    // the checkpoint holds the model's (out, in) layout: the saved tensor is its transpose
    const ck = tensors(join(out, `checkpoint-${res.loop.step}`, 'params.safetensors'));
    const held = ck.get('transformer.h.0.attn.c_attn.weight')!, hf = st.getF32('transformer.h.0.attn.c_attn.weight');
    for (let i = 0; i < 32; i++) for (let o = 0; o < 96; o++) assert.equal(hf[i * 96 + o], held[o * 32 + i]);
    for (const f of ['tokenizer.json', 'config.json']) assert.ok(readFileSync(join(dir, f)).length > 0);

    const asModel = gpt2Logits(loadAnyModel(dir).model as CausalLM);
    const baseModel = loadAnyModel(model).model as CausalLM;
    const asAdapter = withMethod(baseModel, loadAdapter(dir), () => gpt2Logits(baseModel));
    assert.deepEqual(asAdapter, asModel);
  });

  test('groups: weight decay on weights, none on biases and norms; --weight-decay overrides the decay group only', () => {
    const entry = getMethod('full');
    assert.deepEqual(optimizerGroups(entry, {}).map((g) => [g.name, g.lr, g.weightDecay]), [['decay', 1e-4, 0.01], ['no_decay', 1e-4, 0]]);
    assert.deepEqual(optimizerGroups(entry, { lr: 3e-5, weightDecay: 0.1 }).map((g) => [g.name, g.lr, g.weightDecay]), [['decay', 3e-5, 0.1], ['no_decay', 3e-5, 0]]);
    const model = loadAnyModel(T5).model;
    const m = entry.create({ maxLength: 32 }, { dModel: 64, vocabSize: 32128, embed: (ids) => model.embed(ids), rng: new Rng(1, 1), model });
    const ps = withMethod(model, m, () => m.params().map((p) => [p.name, p.group] as const));
    const group = new Map(ps);
    assert.equal(group.get('shared.weight'), 'decay');
    assert.equal(group.get('encoder.block.0.layer.0.SelfAttention.q.weight'), 'decay');
    assert.equal(group.get('encoder.block.0.layer.0.layer_norm.weight'), 'no_decay');
    assert.equal(group.get('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight'), 'no_decay');
  });

  test('bad input: bf16 precision, a folder for another model, a PEFT adapter folder as the save target', () => {
    const model = loadAnyModel(T5).model;
    const ctx = { dModel: 64, vocabSize: 32128, embed: (ids: Int32Array) => model.embed(ids), rng: new Rng(1, 1), model };
    // precision bf16: the weights to train must be loaded as fp32 masters (trainedWeights tells the loader which);
    // on a model holding them in bf16, params() (setTrainable) refuses, naming the precision
    const entry = getMethod('full');
    const keep = entry.trainedWeights!({ maxLength: 32, trainModules: ['decoder'] });
    assert.ok(keep('decoder.block.0.layer.0.SelfAttention.q.weight') && !keep('encoder.block.0.layer.0.SelfAttention.q.weight') && !keep('shared.weight'));
    assert.ok(entry.trainedWeights!({ maxLength: 32 })('shared.weight'));
    if (bf16Available()) {
      const held = loadAnyModel(T5, { precision: 'bf16' }).model;
      const m = entry.create({ maxLength: 32 }, { ...ctx, model: held });
      m.attach(held);
      assert.throws(() => m.params(), (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_config' && /bf16/.test(e.message));
      m.detach(held);
    }
    const gated = loadAnyModel(join(root, 'test/fixtures/t5-gated-tiny')).model;
    const t5Folder = loadAdapter(T5); // any HF folder loads as a full fine-tuning "adapter"
    assert.equal(t5Folder.type, 'full');
    assert.throws(() => t5Folder.attach(gated), (e: unknown) => e instanceof SoftpromptError && (e.code === 'shape_mismatch' || e.code === 'missing_tensor') && /"[a-z_.0-9A-Z]+"/.test(e.message));
    assert.throws(() => loadAdapter(T5, { expectDModel: 32 }), (e: unknown) => e instanceof SoftpromptError && e.code === 'shape_mismatch');
    const info = { baseModel: T5, tokenizer: null, modelInfo: { dModel: 64, numLayers: 2, numHeads: 4, kind: 'seq2seq' as const } };
    const peftDir = tmp('peft');
    writeFileSync(join(peftDir, 'adapter_config.json'), '{"peft_type": "LORA"}');
    assert.throws(() => saveAdapter(peftDir, t5Folder, info), (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_config' && /adapter_config\.json/.test(e.message));
    // a loaded folder, not attached, saves its stored tensors unchanged
    const copy = tmp('copy');
    saveAdapter(copy, t5Folder, info);
    assert.deepEqual(tensors(join(copy, 'model.safetensors')), tensors(join(T5, 'model.safetensors')));
  });
});
