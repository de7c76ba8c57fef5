/**
 * T5's WeightTraining side on small random configs: every weight kind's gradient against central finite
 * differences (ReLU + tied head, gated-GELU + untied head, heads × d_kv ≠ d_model, absorbed cross-attention,
 * dropout on), frozen vs trainable runs agree exactly, and a test side path y += x·M (M fixed, random) behaves
 * like merging Mᵀ into the weight in forward, backward and generate.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { T5Model, loadT5Weights, parseT5Config, t5TensorTable, type T5Config } from './t5.js';
import type { ForwardOptions, LinearSidePath, Seq2SeqBatch, SideCall, WeightSource } from './types.js';
import { expectError } from '../../test/expect-error.js';
import { finiteDifferenceError } from '../../test/model-checks.js';
import { lcg, MatSidePath, randomSource } from '../../test/weight-checks.js';

/** Seeded normal weights for every tensor of `cfg` (norm weights around 1). */
function randomWeights(cfg: T5Config, seed: number): WeightSource {
  return randomSource(t5TensorTable(cfg), seed, (name, shape) => (name.includes('relative_attention_bias') ? 0.5 : 1 / Math.sqrt(shape[shape.length - 1]!)));
}

function tinyModel(over: Record<string, unknown>, seed = 7): T5Model {
  const cfg = parseT5Config({ model_type: 't5', vocab_size: 50, d_model: 16, d_kv: 4, d_ff: 24, num_layers: 2, num_decoder_layers: 2, num_heads: 4, dropout_rate: 0, ...over });
  return new T5Model(cfg, loadT5Weights(cfg, randomWeights(cfg, seed)));
}

/** Encoder input = `skip` virtual rows, then embed(ids) from the live table; row 1 padded after 3 ids. */
interface IdsBatch { B: number; T: number; skip: number; ids: Int32Array; virtual: Float32Array; mask: Float32Array; labels: Int32Array }

function idsBatch(model: T5Model, seed: number): IdsBatch {
  const B = 2, T = 5, skip = 2, C = model.config.d_model, V = model.config.vocab_size, u = lcg(seed);
  const ids = Int32Array.from({ length: B * T }, () => 2 + Math.floor(u() * (V - 2)));
  const virtual = Float32Array.from({ length: skip * C }, () => u() - 0.5);
  const mask = new Float32Array(B * (skip + T)).fill(1);
  mask.fill(0, (skip + T) + skip + 3, 2 * (skip + T));
  return { B, T, skip, ids, virtual, mask, labels: Int32Array.from([5, 9, 1, 7, 1, -100]) };
}

function embedBatch(model: T5Model, x: IdsBatch): Seq2SeqBatch {
  const C = model.config.d_model, Te = x.skip + x.T, E = model.embed(x.ids);
  const inputsEmbeds = new Float32Array(x.B * Te * C);
  for (let b = 0; b < x.B; b++) {
    inputsEmbeds.set(x.virtual, b * Te * C);
    inputsEmbeds.set(E.subarray(b * x.T * C, (b + 1) * x.T * C), (b * Te + x.skip) * C);
  }
  return { B: x.B, Te, inputsEmbeds, encoderMask: x.mask, S: 3, labels: x.labels };
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

/**
 * Central difference of the loss along the gradient's unit direction u = g / |g| against g·u = |g|: the signal
 * is |g| ≥ max|g|, so float32 rounding of the loss weighs less than in single-coordinate probes; relative error.
 * Truncation error grows with eps and rounding error shrinks with it: the caller takes the best of three steps
 * (a wrong gradient, off by δ relative, stays off by about δ at every step).
 */
function directionalError(loss: () => number, x: Float32Array, g: Float32Array, eps: number): number {
  const x0 = x.slice();
  let norm = 0;
  for (let i = 0; i < g.length; i++) norm += g[i]! * g[i]!;
  norm = Math.sqrt(norm);
  for (let i = 0; i < x.length; i++) x[i] = x0[i]! + eps * g[i]! / norm;
  const lp = loss();
  for (let i = 0; i < x.length; i++) x[i] = x0[i]! - eps * g[i]! / norm;
  const lm = loss();
  x.set(x0);
  return Math.abs((lp - lm) / (2 * eps) - norm) / norm;
}

/** The weight kind a name belongs to (one FD line per kind and model). */
function kind(name: string): string {
  return name.replace(/\.\d+\./g, '.*.').replace(/^(encoder|decoder)\.block\.\*\./, '$1.');
}

const FD_CASES: [string, Record<string, unknown>, ForwardOptions, number, number][] = [
  // [name, config, forward options, eps, tolerance]. ReLU kinks break wide central differences: small eps, loose bound.
  ['relu, tied head', { feed_forward_proj: 'relu', tie_word_embeddings: true }, {}, 2e-3, 1e-2],
  ['gated-gelu, untied head', { feed_forward_proj: 'gated-gelu', tie_word_embeddings: false }, {}, 3e-3, 2e-3],
  ['gated-gelu, untied, heads × d_kv = 24 ≠ d_model = 16', { feed_forward_proj: 'gated-gelu', tie_word_embeddings: false, d_kv: 6 }, {}, 3e-3, 2e-3],
  // d_kv = 8 ≥ 2 S: cross-attention runs absorbed unless its k/v train (here they do: the standard form serves them)
  ['gated-gelu, tied, absorbed cross-attention, dropout on', { feed_forward_proj: 'gated-gelu', tie_word_embeddings: true, d_kv: 8, dropout_rate: 0.1 },
    { train: true, seed: 99 }, 3e-3, 2e-3],
];

describe('T5 weight gradients (every weight trainable) vs central finite differences', () => {
  for (const [name, over, opts, eps, tol] of FD_CASES) {
    test(name, () => {
      const model = tinyModel(over);
      const x = idsBatch(model, 3);
      const grads = model.setTrainable(model.weights().map((w) => w.name));
      const { dInputsEmbeds } = model.lossAndGrad(embedBatch(model, x), opts);
      model.embedBackward(x.ids, dInputsEmbeds, x.B, x.T, x.skip);
      const loss = () => model.forward(embedBatch(model, x), opts).loss;
      const worst = new Map<string, number>();
      let worstDir = 0;
      for (const w of model.weights()) {
        const g = grads.get(w.name)!;
        assert.equal(g.length, w.data.length, w.name);
        assert.ok(maxAbs(g) > 1e-6, `${w.name}: gradient vanishes`);
        const err = finiteDifferenceError(loss, w.data, g, eps, 12);
        assert.ok(err < tol, `${w.name}: max |analytic - FD| / max|grad| = ${err.toExponential(2)} > ${tol}`);
        worst.set(kind(w.name), Math.max(worst.get(kind(w.name)) ?? 0, err));
        const dir = Math.min(...[1e-3, 3e-3, 1e-2].map((h) => directionalError(loss, w.data, g, h)));
        assert.ok(dir < tol / 4, `${w.name}: directional derivative off by ${dir.toExponential(2)} (relative)`);
        worstDir = Math.max(worstDir, dir);
      }
      console.log(`  ${name}: along the gradient ${worstDir.toExponential(1)}; per coordinate ${[...worst].map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ')}`);
    });
  }
});

describe('trainable weights change nothing else', () => {
  test('loss and dInputsEmbeds are identical with every weight trainable and with none', () => {
    for (const over of [{ feed_forward_proj: 'relu', tie_word_embeddings: true }, { feed_forward_proj: 'gated-gelu', tie_word_embeddings: false, d_kv: 6, dropout_rate: 0.1 }]) {
      const model = tinyModel(over);
      model.crossAttention = 'standard'; // trainable cross k/v would switch the absorbed form off (equal, not bit-equal)
      const batch = embedBatch(model, idsBatch(model, 5));
      const opts = { train: true, seed: 4 };
      const frozen = model.lossAndGrad(batch, opts);
      model.setTrainable(model.weights().map((w) => w.name));
      const trained = model.lossAndGrad(batch, opts);
      assert.equal(trained.loss, frozen.loss);
      assert.deepEqual(trained.dInputsEmbeds, frozen.dInputsEmbeds);
      assert.deepEqual(model.setTrainable([]), new Map());
      assert.deepEqual(model.lossAndGrad(batch, opts).dInputsEmbeds, frozen.dInputsEmbeds);
    }
  });

  test('a subset gets the same gradients as in the full set; gradients accumulate across steps; fused q/k/v share one buffer', () => {
    const model = tinyModel({ feed_forward_proj: 'gated-gelu', tie_word_embeddings: false });
    const x = idsBatch(model, 8);
    const batch = embedBatch(model, x);
    const all = model.setTrainable(model.weights().map((w) => w.name));
    model.lossAndGrad(batch);
    const full = new Map([...all].map(([n, g]) => [n, g.slice()]));
    const subset = ['decoder.block.1.layer.0.SelfAttention.k.weight', 'decoder.block.1.layer.1.EncDecAttention.v.weight',
      'encoder.block.0.layer.0.SelfAttention.q.weight', 'encoder.block.0.layer.0.SelfAttention.v.weight',
      'decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', 'decoder.block.0.layer.0.layer_norm.weight',
      'encoder.block.1.layer.1.DenseReluDense.wi_1.weight', 'lm_head.weight', 'shared.weight'];
    const some = model.setTrainable(subset);
    assert.deepEqual([...some.keys()], subset);
    model.lossAndGrad(batch);
    model.lossAndGrad(batch);
    for (const n of subset) {
      const want = full.get(n)!.map((v) => 2 * v);
      assert.ok(maxAbsDiff(some.get(n)!, want) <= 1e-6 * maxAbs(want), `${n}: twice one step's gradient`);
    }
    const q = some.get('encoder.block.0.layer.0.SelfAttention.q.weight')!, v = some.get('encoder.block.0.layer.0.SelfAttention.v.weight')!;
    assert.equal(q.buffer, v.buffer);
    assert.equal(v.byteOffset - q.byteOffset, 2 * q.byteLength, 'q | k | v rows of one (3D, C) buffer');
    // shared without embedBackward: only the decoder's input embedding and nothing from the encoder ids
    const shared = model.setTrainable(['shared.weight']).get('shared.weight')!;
    model.lossAndGrad(batch);
    const before = shared.slice();
    const dX = model.lossAndGrad(batch).dInputsEmbeds;
    const after1 = shared.slice();
    model.embedBackward(x.ids, dX, x.B, x.T, x.skip);
    const C = model.config.d_model, row = x.ids[1]!, Te = x.skip + x.T;
    const got = shared[row * C]! - after1[row * C]!;
    let want = 0;
    for (let b = 0; b < x.B; b++) for (let t = 0; t < x.T; t++) if (x.ids[b * x.T + t] === row) want += dX[(b * Te + x.skip + t) * C]!;
    assert.ok(Math.abs(got - want) <= 1e-6 * Math.abs(want) + 1e-9, `embedBackward scatter: ${got} vs ${want}`);
    assert.ok(maxAbsDiff(after1, before) > 0);
  });

  test('absorbed cross-attention keeps serving trainable cross q and o, and matches the standard form', () => {
    const model = tinyModel({ feed_forward_proj: 'gated-gelu', tie_word_embeddings: false, d_kv: 8 });
    const batch = embedBatch(model, idsBatch(model, 6));
    assert.ok(model.absorbCross(3));
    const names = ['decoder.block.0.layer.1.EncDecAttention.q.weight', 'decoder.block.1.layer.1.EncDecAttention.o.weight'];
    const run = (mode: 'auto' | 'standard') => {
      model.crossAttention = mode;
      const g = model.setTrainable(names);
      model.lossAndGrad(batch);
      return names.map((n) => g.get(n)!.slice());
    };
    const absorbed = run('auto'), standard = run('standard');
    model.crossAttention = 'auto';
    for (let i = 0; i < names.length; i++) {
      assert.ok(maxAbsDiff(absorbed[i]!, standard[i]!) <= 1e-5 * maxAbs(standard[i]!), names[i]);
    }
  });

  test('unknown names, bf16-held trainable weights and precision changes while training are refused', () => {
    const model = tinyModel({});
    expectError(() => model.setTrainable(['encoder.block.0.layer.0.SelfAttention.qkv.weight']), 'invalid_config',
      'encoder.block.0.layer.0.SelfAttention.qkv.weight', 'encoder.block.0.layer.0.SelfAttention.q.weight', 'shared.weight');
    expectError(() => model.setTrainable(['lm_head.weight']), 'invalid_config', "'lm_head.weight'"); // tied: stored as shared
    const noop: LinearSidePath = { forward: () => undefined, backward: () => undefined };
    expectError(() => model.setSidePaths(new Map([['encoder.block.0.layer.0.SelfAttention.qkv', noop]])), 'invalid_config',
      'encoder.block.0.layer.0.SelfAttention.qkv', 'encoder.block.0.layer.0.SelfAttention.q', 'lm_head');
    model.precision = 'bf16';
    expectError(() => model.setTrainable(['shared.weight']), 'invalid_config', 'bf16', 'fp32');
    model.precision = 'fp32';
    model.setTrainable(['encoder.final_layer_norm.weight']);
    expectError(() => { model.precision = 'bf16'; }, 'invalid_config', 'precision', 'setTrainable([])');
    model.setTrainable([]);
    model.precision = 'bf16';
    const g = model.setTrainable(['encoder.final_layer_norm.weight']).get('encoder.final_layer_norm.weight')!; // norms stay fp32: trainable
    const batch = embedBatch(model, idsBatch(model, 1));
    assert.ok(Number.isFinite(model.lossAndGrad(batch).loss));
    assert.ok(g.some((x) => x !== 0));
  });

  test('weights() and linearModules() follow the HF tensor table', () => {
    for (const tied of [true, false]) {
      const model = tinyModel({ feed_forward_proj: 'gated-gelu', tie_word_embeddings: tied, d_kv: 6 });
      const table = t5TensorTable(model.config);
      assert.deepEqual(model.weights().map((w) => [w.name, w.shape, w.data.length, w.transposed]),
        table.map((r) => [r.name, r.shape, r.shape.reduce((a, b) => a * b, 1), false]));
      const mods = model.linearModules();
      const byName = new Map(model.weights().map((w) => [w.name, w]));
      for (const m of mods) {
        const w = byName.get(m.name === 'lm_head' && tied ? 'shared.weight' : `${m.name}.weight`)!;
        assert.deepEqual(w.shape, [m.outFeatures, m.inFeatures], m.name);
      }
      assert.equal(mods.length, 2 * 7 + 2 * 11 + 1);
    }
  });
});


describe('side paths', () => {
  const crossKv = /EncDecAttention\.[kv]$/;
  const SIDE_CASES: [string, Record<string, unknown>, (module: string) => boolean][] = [
    ['relu, untied, standard cross-attention', { feed_forward_proj: 'relu', tie_word_embeddings: false }, () => true],
    ['gated-gelu, tied, heads × d_kv ≠ d_model, cross k/v paths: absorbed form falls back',
      { feed_forward_proj: 'gated-gelu', tie_word_embeddings: true, d_kv: 8, num_heads: 3 }, () => true],
    ['gated-gelu, untied, absorbed cross-attention kept (no path on cross k/v)',
      { feed_forward_proj: 'gated-gelu', tie_word_embeddings: false, d_kv: 8 }, (m) => !crossKv.test(m)],
  ];
  for (const [name, over, want] of SIDE_CASES) {
    test(`${name}: y += x·M on every linear equals merging Mᵀ into W (forward, backward, generate); dM matches dW and FD`, () => {
      const model = tinyModel(over), merged = tinyModel(over);
      const tied = model.config.tie_word_embeddings;
      // y = x Wᵀ + x M = x (W + Mᵀ)ᵀ; a tied head shares `shared` with the embeddings, so it gets no path there
      const paths = new Map(model.linearModules().filter((m) => want(m.name) && !(tied && m.name === 'lm_head'))
        .map((m, k) => [m.name, new MatSidePath(m.inFeatures, m.outFeatures, 100 + k, 0.5)]));
      model.setSidePaths(paths);
      const mw = new Map(merged.weights().map((w) => [w.name, w]));
      for (const [module, p] of paths) {
        const w = mw.get(`${module}.weight`)!;
        for (let o = 0; o < p.outF; o++) for (let i = 0; i < p.inF; i++) w.data[o * p.inF + i] += p.M[i * p.outF + o]!;
      }
      const x = idsBatch(model, 12);
      const batch = embedBatch(model, x);
      const opts = { train: true, seed: 31 };
      const a = model.lossAndGrad(batch, opts);
      const linear = merged.linearModules().map((m) => m.name).filter((n) => paths.has(n));
      const dW = merged.setTrainable(linear.map((n) => `${n}.weight`));
      const b = merged.lossAndGrad(batch, opts);
      assert.ok(Math.abs(a.loss - b.loss) <= 1e-5 * Math.abs(b.loss), `loss ${a.loss} vs merged ${b.loss}`);
      assert.ok(maxAbsDiff(a.dInputsEmbeds, b.dInputsEmbeds) <= 1e-4 * maxAbs(b.dInputsEmbeds), 'dInputsEmbeds vs merged');
      for (const [module, p] of paths) {
        const g = dW.get(`${module}.weight`)!;
        const dMt = new Float32Array(g.length); // dW = dMᵀ
        for (let o = 0; o < p.outF; o++) for (let i = 0; i < p.inF; i++) dMt[o * p.inF + i] = p.dM[i * p.outF + o]!;
        assert.ok(maxAbsDiff(dMt, g) <= 1e-4 * maxAbs(g) + 1e-9, `${module}: dM vs merged dW`);
        // each module is called once per forward, with the forward's mode
        assert.deepEqual(p.calls.map((c) => [c.module, c.train, c.seed, c.saveForBackward]), [[module, true, 31, true]]);
        p.calls.length = 0;
      }
      // dM against finite differences of the loss through the side path (a few modules)
      for (const module of ['encoder.block.0.layer.0.SelfAttention.k', 'decoder.block.1.layer.1.EncDecAttention.v', 'decoder.block.0.layer.0.SelfAttention.q', 'decoder.block.1.layer.1.EncDecAttention.q']) {
        const p = paths.get(module);
        if (p === undefined) continue;
        const err = finiteDifferenceError(() => model.forward(batch, opts).loss, p.M, p.dM, 3e-3, 8);
        assert.ok(err < (over.feed_forward_proj === 'relu' ? 1e-2 : 2e-3), `${module}: dM vs FD ${err}`);
      }
      // greedy decoding: same ids, same step logits
      const q = paths.get('decoder.block.0.layer.1.EncDecAttention.q')!;
      q.calls.length = 0;
      const ga = model.generate(batch.inputsEmbeds, batch.encoderMask, x.B, batch.Te, { maxNewTokens: 4, keepStepLogits: true });
      const gb = merged.generate(batch.inputsEmbeds, batch.encoderMask, x.B, batch.Te, { maxNewTokens: 4, keepStepLogits: true });
      assert.deepEqual(ga.ids, gb.ids);
      assert.ok(maxAbsDiff(ga.stepLogits!, gb.stepLogits!) <= 1e-4 * maxAbs(gb.stepLogits!), 'step logits vs merged');
      assert.ok(q.calls.length === ga.steps && q.calls.every((c) => !c.saveForBackward && !c.train), 'generate: once per step, no backward');
      // removing the paths restores the plain model
      const plain = tinyModel(over);
      model.setSidePaths(null);
      assert.equal(model.forward(batch).loss, plain.forward(batch).loss);
    });
  }
});
