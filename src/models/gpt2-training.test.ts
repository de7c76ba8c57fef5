/**
 * GPT-2 weight training (WeightTraining): every weight's gradient against central finite differences (tied and
 * untied heads, biases, LayerNorms, wpe, dropout on), trainable and frozen runs giving the same loss and
 * dInputsEmbeds, and side paths (y += x·M) against merging Mᵀ into the weight, in forward, backward and generate.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openWeights } from '../io/hf-folder.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { GPT2Model, gpt2TensorTable, loadGPT2Weights, parseGPT2Config } from './gpt2.js';
import { hfLayout } from './weight-grads.js';
import { expectError } from '../../test/expect-error.js';
import { finiteDifferenceError } from '../../test/model-checks.js';
import { fixture } from '../../test/paths.js';
import {
  embedBatch, idsBatch, maxAbs, maxAbsDiff, mergeSidePaths, randomSource, sidePathsFor, weightGradientErrors,
} from '../../test/weight-checks.js';

function tinyModel(over: Record<string, unknown> = {}, seed = 7): GPT2Model {
  const cfg = parseGPT2Config({
    model_type: 'gpt2', vocab_size: 50, n_positions: 32, n_embd: 16, n_layer: 2, n_head: 4,
    resid_pdrop: 0, embd_pdrop: 0, attn_pdrop: 0, eos_token_id: null, pad_token_id: 0, ...over,
  });
  const std = (name: string, shape: readonly number[]) => (/ln_/.test(name) ? 0.1 : name.endsWith('.bias') ? 0.05
    : /wte|lm_head/.test(name) ? 0.3 : /wpe/.test(name) ? 0.2 : 1 / Math.sqrt(shape[0]!));
  return new GPT2Model(cfg, loadGPT2Weights(cfg, randomSource(gpt2TensorTable(cfg), seed, std)));
}

const UNTIED = { tie_word_embeddings: false, activation_function: 'gelu', n_inner: 40, scale_attn_by_inverse_layer_idx: true };
const DROPOUT = { resid_pdrop: 0.1, embd_pdrop: 0.1, attn_pdrop: 0.1 };
const all = (m: GPT2Model) => m.weights().map((w) => w.name);

test('weights(): every HF tensor once, HF shapes, Conv1D held transposed, live buffers', () => {
  for (const over of [{}, UNTIED]) {
    const model = tinyModel(over);
    const ws = model.weights();
    assert.deepEqual(ws.map((w) => [w.name, w.shape]), gpt2TensorTable(model.config).map((r) => [r.name, r.shape]));
    const transposed = ws.filter((w) => w.transposed).map((w) => w.name);
    assert.equal(transposed.length, 4 * 2);
    assert.deepEqual(transposed, ws.map((w) => w.name).filter((n) => /\.(c_attn|c_proj|c_fc)\.weight$/.test(n)));
    for (const w of ws) assert.equal(w.data.length, w.shape.reduce((a, b) => a * b, 1), w.name);
    const byName = new Map(ws.map((w) => [w.name, w]));
    assert.equal(byName.get('transformer.h.1.attn.c_attn.weight')!.data, model.tensors.blocks[1]!.attnW);
    assert.equal(byName.has('lm_head.weight'), over === UNTIED);
    const C = 16;
    assert.deepEqual(model.linearModules().slice(0, 4).map((m) => [m.name, m.inFeatures, m.outFeatures]), [
      ['transformer.h.0.attn.c_attn', C, 3 * C], ['transformer.h.0.attn.c_proj', C, C],
      ['transformer.h.0.mlp.c_fc', C, over === UNTIED ? 40 : 4 * C], ['transformer.h.0.mlp.c_proj', over === UNTIED ? 40 : 4 * C, C],
    ]);
    assert.deepEqual(model.linearModules().at(-1), { name: 'lm_head', inFeatures: C, outFeatures: 50 });
  }
});

test('hfLayout(weight) gives back every checkpoint tensor bit for bit (Conv1D transposed back to [in, out])', () => {
  const dir = fixture('gpt2-tiny');
  const model = GPT2Model.load(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), openWeights(dir));
  const st = SafetensorsFile.open(join(dir, 'model.safetensors'));
  for (const w of model.weights()) {
    assert.deepEqual(st.info(w.name).shape, w.shape, w.name);
    assert.deepEqual(hfLayout(w), st.getF32(w.name), w.name);
  }
});

describe('GPT-2 weight gradients vs central finite differences (2 virtual rows + embedded ids, embedBackward)', () => {
  const cases: [string, Record<string, unknown>, boolean][] = [
    ['tied head, gelu_new', {}, false],
    ['untied head, erf-GELU, n_inner=40, inverse-layer-idx scaling, dropout on (fixed seed)', { ...UNTIED, ...DROPOUT }, true],
  ];
  for (const [name, over, train] of cases) {
    test(name, () => {
      const model = tinyModel(over);
      const { errors } = weightGradientErrors(model, idsBatch(16, 50, 3), { train, seed: 42 }, 1e-2, 12);
      assert.equal(errors.size, model.weights().length);
      let worst = 0, worstName = '';
      for (const [n, e] of errors) if (e > worst) { worst = e; worstName = n; }
      console.log(`  ${name}: worst max |analytic - FD| / max|grad| = ${worst.toExponential(2)} (${worstName})`);
      for (const [n, e] of errors) assert.ok(e < 1e-3, `${n}: finite-difference mismatch ${e}`);
    });
  }
});

test('trainable weights change neither the loss nor dInputsEmbeds; setTrainable([]) restores the frozen path', () => {
  const x = idsBatch(16, 50, 4), opts = { train: true, seed: 9 };
  const frozen = tinyModel(DROPOUT), trained = tinyModel(DROPOUT);
  const a = frozen.lossAndGrad(embedBatch(frozen, x), opts);
  const bytesFrozen = frozen.workspaceBytes();
  const grads = trained.setTrainable(all(trained));
  const b = trained.lossAndGrad(embedBatch(trained, x), opts);
  assert.equal(b.loss, a.loss);
  assert.deepEqual(b.dInputsEmbeds, a.dInputsEmbeds);
  assert.ok(trained.workspaceBytes() > bytesFrozen, 'trainable weights keep per-layer GEMM inputs');
  // a second step accumulates: every gradient doubles
  const first = new Map([...grads].map(([n, g]) => [n, g.slice()]));
  trained.lossAndGrad(embedBatch(trained, x), opts);
  for (const [n, g] of grads) assert.ok(maxAbsDiff(g, first.get(n)!.map((v) => 2 * v)) <= 1e-6 * maxAbs(g), n);
  // a subset gets exactly the same gradients, and nothing else
  const c1 = 'transformer.h.1.attn.c_attn.weight', c2 = 'transformer.h.0.ln_2.bias';
  const subset = tinyModel(DROPOUT);
  const sg = subset.setTrainable([c1, c2, c1]);
  assert.deepEqual([...sg.keys()].sort(), [c1, c2].sort());
  subset.lossAndGrad(embedBatch(subset, x), opts);
  assert.deepEqual(sg.get(c1), first.get(c1));
  assert.deepEqual(sg.get(c2), first.get(c2));
  // frozen again: no new buffers, the same workspace as a model never made trainable
  const again = tinyModel(DROPOUT);
  again.setTrainable(all(again));
  assert.equal(again.setTrainable([]).size, 0);
  const d = again.lossAndGrad(embedBatch(again, x), opts);
  assert.deepEqual(d.dInputsEmbeds, a.dInputsEmbeds);
  assert.equal(again.workspaceBytes(), bytesFrozen);
});

test('embedBackward: a no-op while wte is frozen; checks its arguments', () => {
  const model = tinyModel();
  const x = idsBatch(16, 50, 4);
  const dX = new Float32Array(2 * 8 * 16).fill(1);
  model.embedBackward(x.ids, dX, 2, 6, 2); // frozen: nothing to do
  const g = model.setTrainable(['transformer.wte.weight']).get('transformer.wte.weight')!;
  model.embedBackward(x.ids, dX, 2, 6, 2);
  let sum = 0;
  for (const v of g) sum += v;
  assert.equal(sum, 2 * 6 * 16);
  expectError(() => model.embedBackward(x.ids, dX.subarray(1), 2, 6, 2), 'shape_mismatch', 'dInputsEmbeds');
  expectError(() => model.embedBackward(Int32Array.from(x.ids, (v, i) => (i === 3 ? 50 : v)), dX, 2, 6, 2), 'invalid_data', '50');
});

test('unknown weight or module names are refused with the valid ones listed', () => {
  const model = tinyModel();
  expectError(() => model.setTrainable(['transformer.h.0.attn.c_attn.weigth']), 'invalid_config',
    'transformer.h.0.attn.c_attn.weigth', 'transformer.h.{l}.attn.c_attn.weight', 'transformer.wpe.weight', 'l = 0..1');
  expectError(() => model.setTrainable(['lm_head.weight']), 'invalid_config', 'lm_head.weight'); // tied: it is wte
  const paths = sidePathsFor(model, false, 1);
  expectError(() => model.setSidePaths(new Map([['transformer.h.0.attn.q', paths.values().next().value!]])), 'invalid_config',
    'transformer.h.0.attn.q', 'transformer.h.{l}.attn.c_attn', 'lm_head');
});

describe('side paths y += x·M on every linear equal merged weights W + Mᵀ', () => {
  for (const [name, over, withHead] of [['tied head (lm_head left alone)', {}, false], ['untied head, lm_head included', UNTIED, true]] as const) {
    test(`${name}: forward logits, generate (KV cache), call modes`, () => {
      const model = tinyModel(over), merged = tinyModel(over);
      const paths = sidePathsFor(model, withHead, 100);
      model.setSidePaths(paths);
      mergeSidePaths(merged, paths, withHead ? 'lm_head.weight' : 'transformer.wte.weight');
      const batch = embedBatch(model, idsBatch(16, 50, 6));
      const a = model.forward(batch, { keepLogits: true }), b = merged.forward(batch, { keepLogits: true });
      const plain = tinyModel(over).forward(batch, { keepLogits: true });
      assert.ok(maxAbsDiff(a.logits!, plain.logits!) > 0.1, 'the side paths change the logits');
      const d = maxAbsDiff(a.logits!, b.logits!);
      assert.ok(d < 2e-5 * maxAbs(b.logits!), `logits differ by ${d}`);
      for (const p of paths.values()) assert.deepEqual(p.calls.map((c) => c.saveForBackward), [false]);
      // generation: prefill + 3 fed-back tokens
      for (const p of paths.values()) p.calls.length = 0;
      const gen = { maxNewTokens: 4, keepStepLogits: true };
      const ga = model.generate(batch.inputsEmbeds, batch.attentionMask, batch.B, batch.T, gen);
      const gb = merged.generate(batch.inputsEmbeds, batch.attentionMask, batch.B, batch.T, gen);
      assert.deepEqual(ga.ids, gb.ids);
      assert.ok(maxAbsDiff(ga.stepLogits!, gb.stepLogits!) < 2e-5 * maxAbs(gb.stepLogits!));
      for (const [m, p] of paths) {
        assert.equal(p.calls.length, 4, m);
        assert.ok(p.calls.every((c) => c.module === m && !c.saveForBackward && !c.train));
      }
      model.setSidePaths(null);
      assert.deepEqual(model.forward(batch, { keepLogits: true }).logits, plain.logits);
    });
  }

  test('backward: dInputsEmbeds and every dM match finite differences (dropout on, lm_head included)', () => {
    const model = tinyModel({ ...UNTIED, ...DROPOUT });
    const paths = sidePathsFor(model, true, 200);
    model.setSidePaths(paths);
    const batch = embedBatch(model, idsBatch(16, 50, 7)), opts = { train: true, seed: 5 };
    const { dInputsEmbeds } = model.lossAndGrad(batch, opts);
    for (const [m, p] of paths) assert.deepEqual(p.calls.map((c) => [c.module, c.train, c.seed, c.saveForBackward]), [[m, true, 5, true]]);
    const loss = () => model.forward(batch, opts).loss;
    const ex = finiteDifferenceError(loss, batch.inputsEmbeds, dInputsEmbeds, 3e-3);
    assert.ok(ex < 1e-3, `dInputsEmbeds: ${ex}`);
    for (const [m, p] of paths) {
      const e = finiteDifferenceError(loss, p.M, p.dM, 3e-3, 6);
      assert.ok(e < 2e-3, `${m} dM: ${e}`);
    }
  });
});
