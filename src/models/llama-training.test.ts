/**
 * LLaMA weight training (WeightTraining) on a tiny GQA config: every weight's gradient against central finite
 * differences (untied and tied heads, RMSNorm weights, q/k/v views of the fused weight), trainable and frozen
 * runs giving the same loss and dInputsEmbeds, and side paths (y += x·M, q/k/v before RoPE) against merging Mᵀ
 * into the weight, in forward, backward and generate.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openWeights } from '../io/hf-folder.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { LlamaModel, llamaTensorTable, loadLlamaWeights, parseLlamaConfig } from './llama.js';
import { hfLayout } from './weight-grads.js';
import { expectError } from '../../test/expect-error.js';
import { finiteDifferenceError } from '../../test/model-checks.js';
import { fixture } from '../../test/paths.js';
import {
  embedBatch, idsBatch, maxAbs, maxAbsDiff, mergeSidePaths, randomSource, sidePathsFor, weightGradientErrors,
} from '../../test/weight-checks.js';

/** C=16, NH=4, NKV=2 (GQA), head_dim=6 (D=24 ≠ C), F=24, V=40 */
function tinyModel(over: Record<string, unknown> = {}, seed = 7): LlamaModel {
  const cfg = parseLlamaConfig({
    model_type: 'llama', vocab_size: 40, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, head_dim: 6, rms_norm_eps: 1e-6, pad_token_id: 0, eos_token_id: null,
    ...over,
  });
  const std = (name: string, shape: readonly number[]) => (/embed_tokens|lm_head/.test(name) ? 0.5 : 1 / Math.sqrt(shape[1]!));
  return new LlamaModel(cfg, loadLlamaWeights(cfg, randomSource(llamaTensorTable(cfg), seed, std)));
}

const TIED = { tie_word_embeddings: true };
const all = (m: LlamaModel) => m.weights().map((w) => w.name);

test('weights(): every HF tensor once, HF shapes, q/k/v as views of the fused buffer; linearModules()', () => {
  for (const over of [{}, TIED]) {
    const model = tinyModel(over);
    const ws = model.weights();
    assert.deepEqual(ws.map((w) => [w.name, w.shape]), llamaTensorTable(model.config).map((r) => [r.name, r.shape]));
    assert.ok(ws.every((w) => !w.transposed && w.data.length === w.shape.reduce((a, b) => a * b, 1)));
    const byName = new Map(ws.map((w) => [w.name, w.data]));
    assert.equal(byName.has('lm_head.weight'), over !== TIED);
    const fused = model.tensors.layers[1]!.qkv;
    assert.ok(fused instanceof Float32Array);
    for (const p of ['q_proj', 'k_proj', 'v_proj']) assert.equal(byName.get(`model.layers.1.self_attn.${p}.weight`)!.buffer, fused.buffer);
    assert.equal(byName.get('model.layers.1.self_attn.v_proj.weight')![0], fused[(24 + 12) * 16]);
  }
  assert.deepEqual(tinyModel().linearModules().slice(0, 7).map((m) => [m.name.replace('model.layers.0.', ''), m.inFeatures, m.outFeatures]), [
    ['self_attn.q_proj', 16, 24], ['self_attn.k_proj', 16, 12], ['self_attn.v_proj', 16, 12], ['self_attn.o_proj', 24, 16],
    ['mlp.gate_proj', 16, 24], ['mlp.up_proj', 16, 24], ['mlp.down_proj', 24, 16],
  ]);
  assert.deepEqual(tinyModel().linearModules().at(-1), { name: 'lm_head', inFeatures: 16, outFeatures: 40 });
});

test('weights() give back every checkpoint tensor bit for bit (q/k/v views of the fused buffer)', () => {
  const dir = fixture('llama-tiny');
  const model = LlamaModel.load(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), openWeights(dir));
  const st = SafetensorsFile.open(join(dir, 'model.safetensors'));
  assert.deepEqual(model.weights().map((w) => w.name).sort(), st.names().sort());
  for (const w of model.weights()) assert.deepEqual(hfLayout(w), st.getF32(w.name), w.name);
});

describe('LLaMA weight gradients vs central finite differences (GQA, 2 virtual rows + embedded ids, embedBackward)', () => {
  for (const [name, over] of [['untied lm_head', {}], ['tied lm_head (embed_tokens gets both uses)', TIED]] as const) {
    test(name, () => {
      const model = tinyModel(over);
      const { errors } = weightGradientErrors(model, idsBatch(16, 40, 3), {}, 1e-2, 12);
      assert.equal(errors.size, model.weights().length);
      let worst = 0, worstName = '';
      for (const [n, e] of errors) if (e > worst) { worst = e; worstName = n; }
      console.log(`  ${name}: worst max |analytic - FD| / max|grad| = ${worst.toExponential(2)} (${worstName})`);
      for (const [n, e] of errors) assert.ok(e < 1e-3, `${n}: finite-difference mismatch ${e}`);
    });
  }
});

test('trainable weights change neither the loss nor dInputsEmbeds; subsets of q|k|v get the same gradients', () => {
  const x = idsBatch(16, 40, 4), opts = { train: true, seed: 9 };
  const over = { attention_dropout: 0.1 };
  const frozen = tinyModel(over), trained = tinyModel(over);
  const a = frozen.lossAndGrad(embedBatch(frozen, x), opts);
  const bytesFrozen = frozen.workspaceBytes();
  const grads = trained.setTrainable(all(trained));
  const b = trained.lossAndGrad(embedBatch(trained, x), opts);
  assert.equal(b.loss, a.loss);
  assert.deepEqual(b.dInputsEmbeds, a.dInputsEmbeds);
  // the q|k|v gradients are views of one fused gradient, laid out like the fused weight
  const q = grads.get('model.layers.0.self_attn.q_proj.weight')!, v = grads.get('model.layers.0.self_attn.v_proj.weight')!;
  assert.equal(q.buffer, v.buffer);
  assert.equal(v.byteOffset - q.byteOffset, (24 + 12) * 16 * 4);
  // one of the three alone, and a few others
  const k = 'model.layers.1.self_attn.k_proj.weight', n2 = 'model.layers.0.post_attention_layernorm.weight', up = 'model.layers.1.mlp.up_proj.weight';
  const subset = tinyModel(over);
  const sg = subset.setTrainable([k, n2, up]);
  subset.lossAndGrad(embedBatch(subset, x), opts);
  assert.deepEqual([...sg.keys()].sort(), [k, n2, up].sort());
  for (const n of [k, n2, up]) assert.ok(maxAbsDiff(sg.get(n)!, grads.get(n)!) <= 1e-6 * maxAbs(grads.get(n)!), n);
  // frozen again: the same workspace as a model never made trainable
  const again = tinyModel(over);
  again.setTrainable(all(again));
  again.setTrainable([]);
  assert.deepEqual(again.lossAndGrad(embedBatch(again, x), opts).dInputsEmbeds, a.dInputsEmbeds);
  assert.equal(again.workspaceBytes(), bytesFrozen);
});

test('unknown weight or module names are refused with the valid ones listed; embedBackward is a no-op while frozen', () => {
  const model = tinyModel();
  expectError(() => model.setTrainable(['model.layers.0.self_attn.qkv.weight']), 'invalid_config',
    'model.layers.0.self_attn.qkv.weight', 'model.layers.{l}.self_attn.q_proj.weight', 'lm_head.weight', 'l = 0..1');
  const p = sidePathsFor(model, false, 1).values().next().value!;
  expectError(() => model.setSidePaths(new Map([['model.layers.0.self_attn.qkv_proj', p]])), 'invalid_config',
    'model.layers.{l}.self_attn.v_proj', 'model.layers.{l}.mlp.down_proj');
  const x = idsBatch(16, 40, 4);
  model.embedBackward(x.ids, new Float32Array(2 * 8 * 16), 2, 6, 2);
  expectError(() => model.setTrainable(['model.embed_tokens.weight']) && model.embedBackward(x.ids, new Float32Array(5), 2, 6, 2),
    'shape_mismatch', 'dInputsEmbeds');
});

describe('side paths y += x·M on every linear equal merged weights W + Mᵀ', () => {
  for (const [name, over, withHead] of [['untied, lm_head included', {}, true], ['tied, lm_head left alone', TIED, false]] as const) {
    test(`${name}: forward logits, generate (KV cache), call modes`, () => {
      const model = tinyModel(over), merged = tinyModel(over);
      const paths = sidePathsFor(model, withHead, 100);
      model.setSidePaths(paths);
      mergeSidePaths(merged, paths, withHead ? 'lm_head.weight' : 'model.embed_tokens.weight');
      const batch = embedBatch(model, idsBatch(16, 40, 6));
      const a = model.forward(batch, { keepLogits: true }), b = merged.forward(batch, { keepLogits: true });
      const plain = tinyModel(over).forward(batch, { keepLogits: true });
      assert.ok(maxAbsDiff(a.logits!, plain.logits!) > 0.1, 'the side paths change the logits');
      const d = maxAbsDiff(a.logits!, b.logits!);
      assert.ok(d < 2e-5 * maxAbs(b.logits!), `logits differ by ${d}`);
      for (const p of paths.values()) { assert.deepEqual(p.calls.map((c) => c.saveForBackward), [false]); p.calls.length = 0; }
      const gen = { maxNewTokens: 4, keepStepLogits: true };
      const ga = model.generate(batch.inputsEmbeds, batch.attentionMask, batch.B, batch.T, gen);
      const gb = merged.generate(batch.inputsEmbeds, batch.attentionMask, batch.B, batch.T, gen);
      assert.deepEqual(ga.ids, gb.ids);
      assert.ok(maxAbsDiff(ga.stepLogits!, gb.stepLogits!) < 2e-5 * maxAbs(gb.stepLogits!));
      for (const [m, p] of paths) { // prefill + 3 fed-back tokens; lm_head once per step
        assert.equal(p.calls.length, 4, m);
        assert.ok(p.calls.every((c) => c.module === m && !c.saveForBackward && !c.train));
      }
    });
  }

  test('backward: dInputsEmbeds and every dM match finite differences (attention dropout on, lm_head included)', () => {
    const model = tinyModel({ attention_dropout: 0.1 });
    const paths = sidePathsFor(model, true, 200);
    model.setSidePaths(paths);
    const batch = embedBatch(model, idsBatch(16, 40, 7)), opts = { train: true, seed: 5 };
    const { dInputsEmbeds } = model.lossAndGrad(batch, opts);
    for (const [m, p] of paths) assert.deepEqual(p.calls.map((c) => [c.module, c.train, c.seed, c.saveForBackward]), [[m, true, 5, true]]);
    const loss = () => model.forward(batch, opts).loss;
    const ex = finiteDifferenceError(loss, batch.inputsEmbeds, dInputsEmbeds, 1e-2);
    assert.ok(ex < 1e-3, `dInputsEmbeds: ${ex}`);
    for (const [m, p] of paths) {
      const e = finiteDifferenceError(loss, p.M, p.dM, 1e-2, 6);
      assert.ok(e < 1e-3, `${m} dM: ${e}`);
    }
  });
});
