/**
 * GPT-2 beyond the golden fixture: finite-difference gradient checks on small random configs (tied gelu_new,
 * untied erf-GELU with n_inner and inverse-layer-idx scaling, dropout on), generation consistency (KV cache vs
 * recomputing the prefix, batched vs per row, eos), and the loading errors a user can hit.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openWeights } from '../io/hf-folder.js';
import { GPT2Model, gpt2TensorTable, loadGPT2Weights, parseGPT2Config, type GPT2Config } from './gpt2.js';
import type { CausalBatch, WeightSource } from './types.js';
import { expectError } from '../../test/expect-error.js';
import { editedCopy, finiteDifferenceError } from '../../test/model-checks.js';
import { fixture } from '../../test/paths.js';

const TINY = fixture('gpt2-tiny');

function lcg(seed: number): () => number {
  let s = seed;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return (s + 0.5) / 4294967296; };
}

/** Seeded normal weights for every tensor of `cfg`, in the checkpoint's stored shapes (Conv1D [in, out]). */
function randomWeights(cfg: GPT2Config, seed: number): WeightSource {
  const shapes = new Map(gpt2TensorTable(cfg).map((r) => [r.name, r.shape]));
  const u = lcg(seed);
  const normal = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return {
    has: (n) => shapes.has(n),
    getF32Checked: (name, shape) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const out = new Float32Array(n);
      const isLnW = /ln_(1|2|f)\.weight$/.test(name);
      const std = /ln_/.test(name) ? 0.1 : name.endsWith('.bias') ? 0.05 : /wte|lm_head/.test(name) ? 0.3
        : /wpe/.test(name) ? 0.2 : 1 / Math.sqrt(shape[0]!);
      for (let i = 0; i < n; i++) out[i] = (isLnW ? 1 : 0) + std * normal();
      return out;
    },
  };
}

function tinyConfig(over: Record<string, unknown> = {}): GPT2Config {
  return parseGPT2Config({
    model_type: 'gpt2', vocab_size: 50, n_positions: 32, n_embd: 16, n_layer: 2, n_head: 4,
    resid_pdrop: 0, embd_pdrop: 0, attn_pdrop: 0, eos_token_id: null, pad_token_id: 0, ...over,
  });
}

function tinyModel(over: Record<string, unknown> = {}, seed = 7): GPT2Model {
  const cfg = tinyConfig(over);
  return new GPT2Model(cfg, loadGPT2Weights(cfg, randomWeights(cfg, seed)));
}

/** B=2, T=7; row 1 right-padded after 4 tokens; labels on a few real positions. */
function randomBatch(C: number, seed: number): CausalBatch {
  const B = 2, T = 7;
  const u = lcg(seed);
  return {
    B, T,
    inputsEmbeds: Float32Array.from({ length: B * T * C }, () => u() * 2 - 1),
    attentionMask: Float32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]),
    labels: Int32Array.from([-100, -100, -100, 5, 9, 1, 7, -100, -100, 3, 11, -100, -100, -100]),
  };
}

const CASES: [string, Record<string, unknown>, boolean][] = [
  ['gelu_new, tied head', {}, false],
  ['gelu (erf), untied head, n_inner=40, scale_attn_by_inverse_layer_idx', { activation_function: 'gelu', tie_word_embeddings: false, n_inner: 40, scale_attn_by_inverse_layer_idx: true }, false],
  ['gelu_new, dropout on (train, fixed seed: the masks are fixed too)', { resid_pdrop: 0.1, embd_pdrop: 0.1, attn_pdrop: 0.1 }, true],
];

describe('GPT-2 backward to inputs_embeds vs central finite differences', () => {
  for (const [name, over, train] of CASES) {
    test(name, () => {
      const model = tinyModel(over);
      const C = model.config.n_embd;
      const batch = randomBatch(C, 3);
      const opts = { train, seed: 42 };
      const { loss, dInputsEmbeds } = model.lossAndGrad(batch, opts);
      assert.ok(Number.isFinite(loss));
      assert.ok(Math.abs(model.forward(batch, opts).loss - loss) < 1e-6, 'forward and lossAndGrad agree');
      let maxG = 0;
      for (const g of dInputsEmbeds) maxG = Math.max(maxG, Math.abs(g));
      assert.ok(maxG > 1e-4, 'gradient should not vanish');
      const eps = 3e-3;
      const worst = finiteDifferenceError(() => model.forward(batch, opts).loss, batch.inputsEmbeds, dInputsEmbeds, eps);
      console.log(`  ${name}: max |analytic - FD| / max|grad| = ${worst.toExponential(2)}`);
      assert.ok(worst < 1e-3, `finite-difference mismatch ${worst}`);
      // padded positions of row 1 are masked keys and predict only ignored labels: no gradient reaches them
      for (let t = 4; t < 7; t++) for (let c = 0; c < C; c++) assert.equal(dInputsEmbeds[(7 + t) * C + c], 0);
      if (train) assert.notEqual(model.forward(batch).loss, loss, 'dropout changes the loss');
    });
  }
});

test('tokenNll is aligned with the labels (position t-1 predicts labels[t]) and averages to the loss', () => {
  const model = tinyModel();
  const batch = randomBatch(16, 5);
  batch.labels[0] = 4; // a label at t = 0 has no predicting position: ignored
  const out = model.forward(batch);
  let sum = 0;
  for (let i = 0; i < batch.labels.length; i++) {
    const scored = i % batch.T !== 0 && batch.labels[i] !== -100;
    assert.equal(out.tokenNll[i]! > 0, scored, `position ${i}`);
    sum += out.tokenNll[i]!;
  }
  assert.equal(out.numTokens, 6);
  assert.ok(Math.abs(sum / out.numTokens - out.loss) < 1e-6);
});

test('explicit positionIds equal to arange give the default; shifted ones change the result', () => {
  const model = tinyModel();
  const batch = randomBatch(16, 5);
  const base = model.forward(batch).loss;
  const arange = Int32Array.from({ length: 14 }, (_, i) => i % 7);
  assert.equal(model.forward({ ...batch, positionIds: arange }).loss, base);
  const shifted = Int32Array.from(arange, (p) => p + 3);
  assert.notEqual(model.forward({ ...batch, positionIds: shifted }).loss, base);
});

/** argmax of one (V) row */
function argmax(row: Float32Array): number {
  let best = 0;
  for (let j = 1; j < row.length; j++) if (row[j]! > row[best]!) best = j;
  return best;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

test('greedy generation with the KV cache equals re-running the model on the whole prefix', () => {
  const model = tinyModel({}, 11);
  const C = model.config.n_embd, V = model.config.vocab_size, T = 7, steps = 6;
  const X = randomBatch(C, 9).inputsEmbeds.subarray(0, T * C); // one unpadded row
  const gen = model.generate(X, new Float32Array(T).fill(1), 1, T, { maxNewTokens: steps, keepStepLogits: true });
  assert.equal(gen.steps, steps);
  for (let t = 0; t < steps; t++) {
    // prefix = prompt embeddings + wte rows of the tokens generated before step t
    const Tt = T + t;
    const inputsEmbeds = new Float32Array(Tt * C);
    inputsEmbeds.set(X);
    inputsEmbeds.set(model.embed(gen.ids.subarray(0, t)), T * C);
    const out = model.forward({ B: 1, T: Tt, inputsEmbeds, attentionMask: new Float32Array(Tt).fill(1), labels: new Int32Array(Tt).fill(-100) }, { keepLogits: true });
    const last = out.logits!.subarray((Tt - 1) * V, Tt * V);
    const step = gen.stepLogits!.subarray(t * V, (t + 1) * V);
    assert.ok(maxAbsDiff(last, step) < 1e-4, `step ${t}: logits differ by ${maxAbsDiff(last, step)}`);
    assert.equal(gen.ids[t], argmax(last), `step ${t}`);
  }
});

describe('batched generation equals generating each row alone', () => {
  const model = tinyModel({}, 13);
  const C = model.config.n_embd, V = model.config.vocab_size, T = 7, B = 2, steps = 5;
  const X = randomBatch(C, 21).inputsEmbeds; // (2, 7, C); row 1 has 4 real tokens
  const real = [7, 4];
  for (const side of ['right', 'left'] as const) {
    test(`${side} padding`, () => {
      const Xb = new Float32Array(B * T * C), M = new Float32Array(B * T);
      for (let b = 0; b < B; b++) {
        const n = real[b]!, off = side === 'right' ? 0 : T - n;
        Xb.set(X.subarray(b * T * C, (b * T + n) * C), (b * T + off) * C);
        M.fill(1, b * T + off, b * T + off + n);
      }
      const batched = model.generate(Xb, M, B, T, { maxNewTokens: steps, keepStepLogits: true });
      for (let b = 0; b < B; b++) {
        const n = real[b]!;
        const one = model.generate(X.subarray(b * T * C, (b * T + n) * C), new Float32Array(n).fill(1), 1, n, { maxNewTokens: steps, keepStepLogits: true });
        assert.deepEqual([...batched.ids.subarray(b * steps, (b + 1) * steps)], [...one.ids], `row ${b}`);
        for (let t = 0; t < steps; t++) {
          const d = maxAbsDiff(batched.stepLogits!.subarray((t * B + b) * V, (t * B + b + 1) * V), one.stepLogits!.subarray(t * V, (t + 1) * V));
          assert.ok(d < 1e-4, `row ${b} step ${t}: logits differ by ${d}`);
        }
      }
    });
  }
});

test('generation stops a row at eos and pads it; without eosId it never stops', () => {
  const model = tinyModel({}, 17);
  const C = model.config.n_embd, T = 7;
  const X = randomBatch(C, 23).inputsEmbeds;
  const M = new Float32Array(2 * T).fill(1);
  const free = model.generate(X, M, 2, T, { maxNewTokens: 4 });
  assert.equal(free.steps, 4);
  const eos = free.ids[1]!; // row 0's second token
  const stopped = model.generate(X, M, 2, T, { maxNewTokens: 4, eosId: eos });
  const row0 = [...stopped.ids.subarray(0, stopped.steps)];
  const k = row0.indexOf(eos);
  assert.ok(k >= 0 && k <= 1);
  for (let t = k + 1; t < stopped.steps; t++) assert.equal(row0[t], model.padId);
});

test('a sequence longer than n_positions is refused', () => {
  const model = tinyModel();
  const T = 33, C = 16;
  const batch: CausalBatch = { B: 1, T, inputsEmbeds: new Float32Array(T * C), attentionMask: new Float32Array(T).fill(1), labels: new Int32Array(T).fill(-100) };
  expectError(() => model.forward(batch), 'invalid_data', 'n_positions', '32', '33');
  expectError(() => model.generate(batch.inputsEmbeds.subarray(0, 30 * C), new Float32Array(30).fill(1), 1, 30, { maxNewTokens: 5 }),
    'invalid_data', 'n_positions');
});


function load(dir: string): GPT2Model {
  const cfgFile = join(dir, 'config.json');
  return GPT2Model.load(JSON.parse(readFileSync(cfgFile, 'utf8')), openWeights(dir), cfgFile);
}

describe('loading errors name the file and the tensor or field', () => {
  test('missing tensor', () => {
    const name = 'transformer.h.1.mlp.c_proj.weight';
    expectError(() => load(editedCopy(TINY, { drop: name })), 'missing_tensor', name, 'model.safetensors');
  });
  test('shape that disagrees with config.json', () => {
    expectError(() => load(editedCopy(TINY, { config: { n_inner: 96 } })), 'shape_mismatch', 'transformer.h.0.mlp.c_fc.weight', 'model.safetensors', '96');
    expectError(() => load(editedCopy(TINY, { config: { n_positions: 128 } })), 'shape_mismatch', 'transformer.wpe.weight', 'model.safetensors', '128');
  });
  test('unknown activation_function', () => {
    expectError(() => load(editedCopy(TINY, { config: { activation_function: 'gelu_fancy' } })), 'unsupported', 'activation_function', 'config.json', 'gelu_fancy');
  });
  test('n_embd not divisible by n_head', () => {
    expectError(() => load(editedCopy(TINY, { config: { n_head: 5 } })), 'invalid_config', 'n_embd', 'n_head', 'config.json');
  });
  test('model_type that is not GPT-2', () => {
    expectError(() => load(editedCopy(TINY, { config: { model_type: 'bert' } })), 'unsupported', 'bert', 'config.json');
  });
});

test('a checkpoint without the transformer. prefix (openai-community/gpt2 layout) loads the same weights', () => {
  const a = load(TINY);
  const b = load(editedCopy(TINY, { rename: (n) => n.replace(/^transformer\./, '') }));
  assert.deepEqual(b.tensors.blocks[1]!.fcW, a.tensors.blocks[1]!.fcW);
  assert.deepEqual(b.tensors.wpe, a.tensors.wpe);
  assert.equal(a.info.architecture, 'gpt2');
  assert.equal(a.info.maxPositions, 64);
  assert.equal(a.info.eosId, -1); // eos_token_id: null in the fixture config
});
