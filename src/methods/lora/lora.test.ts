// LoRA's pieces without a model: the side path against a float64 reference and finite differences, target
// resolution as PEFT resolves a list, and the PEFT adapter_config/tensor format.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertClose, f64, randF32, rng } from '../../../native/test/check.js';
import type { LinearModule, SideCall } from '../../models/types.js';
import { loraScaling, validateLoraConfig } from './config.js';
import { checkPairsAgainstModel, loraAdapterConfigJson, loraConfigFromAdapter, loraKeyA, loraKeyB, readLoraPairs, type TensorSource } from './files.js';
import { LoraLinear } from './side-path.js';
import { resolveTargets } from './targets.js';

const r0 = rng(7);
const call = (train: boolean, save: boolean, seed = 3): SideCall => ({ module: 'm', train, seed, saveForBackward: save });

/** float64 y[n, j] += s · Σ_k (Σ_i x[n,i] A[k,i]) B[j,k] */
function refForward(x: Float64Array, A: Float64Array, B: Float64Array, N: number, I: number, O: number, r: number, s: number): Float64Array {
  const y = new Float64Array(N * O);
  for (let n = 0; n < N; n++) {
    const u = new Float64Array(r);
    for (let k = 0; k < r; k++) for (let i = 0; i < I; i++) u[k] += x[n * I + i]! * A[k * I + i]!;
    for (let j = 0; j < O; j++) for (let k = 0; k < r; k++) y[n * O + j] += s * u[k]! * B[j * r + k]!;
  }
  return y;
}

describe('LoraLinear side path', () => {
  const N = 5, I = 7, O = 6, r = 3, s = loraScaling({ r, loraAlpha: 8, useRslora: false });
  const mk = () => new LoraLinear('m', I, O, r, s, 0, 0, randF32(r0, r * I), randF32(r0, O * r));

  it('forward adds s·x Aᵀ Bᵀ into a strided output (ldy > out), leaving the gaps alone', () => {
    const p = mk(), x = randF32(r0, N * I), ldy = O + 4;
    const y = randF32(r0, N * ldy), y0 = y.slice();
    p.forward(x, y, ldy, N, call(false, false));
    const ref = refForward(f64(x), f64(p.A.data), f64(p.B.data), N, I, O, r, s);
    const got = new Float64Array(N * O);
    for (let n = 0; n < N; n++) {
      for (let j = 0; j < O; j++) got[n * O + j] = y[n * ldy + j]! - y0[n * ldy + j]!;
      for (let j = O; j < ldy; j++) assert.equal(y[n * ldy + j], y0[n * ldy + j]);
    }
    assertClose('lora forward', got, ref, 1e-5);
  });

  it('backward: dA, dB, dx match finite differences of L = Σ dy·y (float64 reference)', () => {
    const p = mk(), x = randF32(r0, N * I), dy = randF32(r0, N * O);
    const A = f64(p.A.data), B = f64(p.B.data), X = f64(x);
    const L = () => { const y = refForward(X, A, B, N, I, O, r, s); let t = 0; for (let i = 0; i < y.length; i++) t += y[i]! * dy[i]!; return t; };
    const fd = (v: Float64Array) => Float64Array.from(v, (_, i) => { const v0 = v[i]!; v[i] = v0 + 1e-6; const lp = L(); v[i] = v0 - 1e-6; const lm = L(); v[i] = v0; return (lp - lm) / 2e-6; });
    p.forward(x, new Float32Array(N * O), O, N, call(true, true));
    const dx = randF32(r0, N * I), dx0 = dx.slice();
    p.backward(dy, O, dx, N, call(true, true));
    assertClose('dA', p.A.grad, fd(A), 1e-4);
    assertClose('dB', p.B.grad, fd(B), 1e-4);
    assertClose('dx (accumulated)', Float64Array.from(dx, (v, i) => v - dx0[i]!), fd(X), 1e-4);
  });

  it('dropout: the same seed gives the same mask; dA matches finite differences through that mask', () => {
    const p = new LoraLinear('m', I, O, r, s, 0.4, 1, randF32(r0, r * I), randF32(r0, O * r));
    const x = randF32(r0, N * I), dy = randF32(r0, N * O);
    const run = () => { const y = new Float32Array(N * O); p.forward(x, y, O, N, call(true, false, 11)); return y; };
    assert.deepEqual(run(), run());
    const L = () => { const y = run(); let t = 0; for (let i = 0; i < y.length; i++) t += y[i]! * dy[i]!; return t; };
    const fdA = new Float64Array(p.A.data.length);
    for (let i = 0; i < fdA.length; i++) {
      const v0 = p.A.data[i]!, h = 1e-2;
      p.A.data[i] = v0 + h; const lp = L(); p.A.data[i] = v0 - h; const lm = L(); p.A.data[i] = v0;
      fdA[i] = (lp - lm) / (2 * h);
    }
    p.forward(x, new Float32Array(N * O), O, N, call(true, true, 11));
    p.backward(dy, O, new Float32Array(N * I), N, call(true, true, 11));
    assertClose('dA with dropout', p.A.grad, fdA, 1e-3);
    const y = new Float32Array(N * O);
    p.forward(x, y, O, N, call(false, false, 11));
    assertClose('eval mode has no dropout', y, refForward(f64(x), f64(p.A.data), f64(p.B.data), N, I, O, r, s), 1e-5);
  });

  it('PEFT init: A ~ U(±1/√in), B = 0', () => {
    const p = LoraLinear.init('m', 400, 9, 8, 1, 0, 0, { nextFloat: r0, normal: () => 0 });
    const bound = 1 / Math.sqrt(400);
    assert.ok(p.A.data.every((v) => Math.abs(v) <= bound));
    assert.ok(Math.max(...p.A.data) > 0.9 * bound && Math.min(...p.A.data) < -0.9 * bound);
    assert.ok(p.B.data.every((v) => v === 0));
  });

  it('mergeInto adds s·B A to the weight (O, I)', () => {
    const p = mk(), W = randF32(r0, O * I), W0 = W.slice(), x = randF32(r0, 1 * I);
    p.mergeInto(W);
    const side = new Float32Array(O);
    p.forward(x, side, O, 1, call(false, false));
    const viaMerge = new Float64Array(O);
    for (let j = 0; j < O; j++) for (let i = 0; i < I; i++) viaMerge[j] += (W[j * I + i]! - W0[j * I + i]!) * x[i]!;
    assertClose('merged delta', viaMerge, f64(side), 1e-5);
  });
});

describe('LoRA targets and config', () => {
  const modules: LinearModule[] = ['encoder.block.0.layer.0.SelfAttention.q', 'encoder.block.0.layer.0.SelfAttention.v',
    'encoder.block.0.layer.1.DenseReluDense.wi', 'lm_head'].map((name) => ({ name, inFeatures: 4, outFeatures: 4 }));
  it('a list matches names and dotted suffixes; all-linear skips the head', () => {
    assert.deepEqual(resolveTargets(['q', 'v'], modules).map((m) => m.name), [modules[0]!.name, modules[1]!.name]);
    assert.deepEqual(resolveTargets(['all-linear'], modules).length, 3);
    assert.deepEqual(resolveTargets(['layer.1.DenseReluDense.wi'], modules).map((m) => m.name), [modules[2]!.name]);
  });
  it('a target that matches nothing names it and lists the valid names', () => {
    assert.throws(() => resolveTargets(['q_proj'], modules), (e: Error) => /"q_proj" matches no linear layer.*Valid names: q, v, wi, lm_head/.test(e.message));
  });
  it('scaling is α/r, or α/√r with rsLoRA; bad values name the field', () => {
    assert.equal(loraScaling(validateLoraConfig({ r: 4, loraAlpha: 8 })), 2);
    assert.equal(loraScaling(validateLoraConfig({ r: 4, loraAlpha: 8, useRslora: true })), 4);
    assert.throws(() => validateLoraConfig({ r: 0 }), /lora\.r/);
    assert.throws(() => validateLoraConfig({ loraDropout: 1 }), /lora\.loraDropout/);
  });
  it('adapter_config.json round-trips and refuses DoRA / rank patterns / biases by name', () => {
    const c = validateLoraConfig({ r: 4, loraAlpha: 16, loraDropout: 0.1, targetModules: ['q', 'v'] });
    const json = loraAdapterConfigJson(c, ['q', 'v'], { baseModel: 'x', taskType: null, fanInFanOut: false });
    assert.equal(json['peft_type'], 'LORA');
    assert.deepEqual(loraConfigFromAdapter(json, 'a.json'), c);
    assert.throws(() => loraConfigFromAdapter({ ...json, use_dora: true }, 'a.json'), /use_dora/);
    assert.throws(() => loraConfigFromAdapter({ ...json, rank_pattern: { q: 8 } }, 'a.json'), /rank_pattern/);
    assert.throws(() => loraConfigFromAdapter({ ...json, bias: 'all' }, 'a.json'), /bias/);
  });
});

describe('LoRA tensors', () => {
  const modules: LinearModule[] = [{ name: 'a.q', inFeatures: 4, outFeatures: 6 }, { name: 'a.v', inFeatures: 4, outFeatures: 6 }];
  const src = (t: Record<string, number[]>): TensorSource => ({
    names: () => Object.keys(t), shape: (n) => t[n]!, getF32: (n) => new Float32Array(t[n]!.reduce((a, b) => a * b, 1)),
  });
  it('reads pairs (sorted by module) with in/out from the shapes', () => {
    const pairs = readLoraPairs(src({ [loraKeyA('a.v')]: [2, 4], [loraKeyB('a.v')]: [6, 2], [loraKeyA('a.q')]: [2, 4], [loraKeyB('a.q')]: [6, 2] }), 2, 'f');
    assert.deepEqual(pairs.map((p) => [p.module, p.inFeatures, p.outFeatures]), [['a.q', 4, 6], ['a.v', 4, 6]]);
  });
  it('a rank that disagrees with the config, or a missing half, is named', () => {
    assert.throws(() => readLoraPairs(src({ [loraKeyA('a.q')]: [3, 4], [loraKeyB('a.q')]: [6, 3] }), 2, 'f'), /"base_model\.model\.a\.q\.lora_A\.weight" has shape \[3, 4\], expected \[2, in\]/);
    assert.throws(() => readLoraPairs(src({ [loraKeyA('a.q')]: [2, 4] }), 2, 'f'), /lora_B\.weight" is missing/);
    assert.throws(() => readLoraPairs(src({ 'x.weight': [2, 4] }), 2, 'f'), /not a LoRA weight/);
  });
  it('against the model: another base model names the tensor and both shapes; an unknown module is named', () => {
    assert.throws(() => checkPairsAgainstModel([{ module: 'a.q', inFeatures: 8, outFeatures: 6 }], 2, modules, 'f'),
      (e: Error) => /"base_model\.model\.a\.q\.lora_A\.weight" is \[2, 8\] but the model's a\.q takes 4 inputs \(expected \[2, 4\]\)/.test(e.message));
    assert.throws(() => checkPairsAgainstModel([{ module: 'a.q', inFeatures: 4, outFeatures: 9 }], 2, modules, 'f'), /is \[9, 2\] but the model's a\.q has 6 outputs \(expected \[6, 2\]\)/);
    assert.throws(() => checkPairsAgainstModel([{ module: 'b.k', inFeatures: 4, outFeatures: 6 }], 2, modules, 'f'), /module "b\.k"/);
  });
});
