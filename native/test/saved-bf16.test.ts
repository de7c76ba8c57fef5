// Activations saved for backward in bf16: the forward kernels' bf16 copies are exactly bf16(x) (the engine's
// round-to-nearest-even toBf16) without changing what the forward computes, and every backward given the bf16
// copy computes what it computes on the widened fp32 values (the fp32 path, tested against float64 references in
// kernels.test.ts). Sizes are odd to reach remainder loops; strided q/k/v as T5's fused projection lays them out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Act, contiguousAttn, engine, toBf16, type AttnDims } from '../../src/engine/index.js';
import { assertClose, randF32, rng } from './check.js';

const E = engine();
const r = rng(777);

function widen(x: Uint16Array): Float32Array {
  const out = new Float32Array(x.length);
  E.widenBf16(out, x, x.length);
  return out;
}

describe('bf16 saved activations', () => {
  it('widenBf16 is exact and inverts toBf16 on bf16 values', () => {
    const x = randF32(r, 1001, -3, 3);
    const h = toBf16(x);
    const w = widen(h);
    for (let i = 0; i < x.length; i++) {
      assert.equal(w[i], new Float32Array(new Uint32Array([h[i]! << 16]).buffer)[0]);
      assert.ok(Math.abs(w[i]! - x[i]!) <= Math.abs(x[i]!) * 2 ** -8, `element ${i}: ${w[i]} vs ${x[i]}`);
    }
    assert.deepEqual(toBf16(w), h);
  });

  it('rmsnorm: the forward writes bf16(inp) and the same output; backward and a forward from the copy match the widened input', () => {
    const N = 7, C = 13;
    const x = randF32(r, N * C, -2, 2), w = randF32(r, C, 0.5, 1.5), dout = randF32(r, N * C);
    const out = new Float32Array(N * C), rstd = new Float32Array(N), out2 = new Float32Array(N * C), rstd2 = new Float32Array(N);
    const x16 = new Uint16Array(N * C);
    E.rmsnormForward(out, rstd, x, w, N, C, 1e-6);
    E.rmsnormForward(out2, rstd2, x, w, N, C, 1e-6, x16);
    assert.deepEqual(out2, out);
    assert.deepEqual(rstd2, rstd);
    assert.deepEqual(x16, toBf16(x));
    const xw = widen(x16);
    const [dA, dwA, dB, dwB] = [new Float32Array(N * C), new Float32Array(C), new Float32Array(N * C), new Float32Array(C)];
    E.rmsnormBackward(dA, dwA, dout, xw, w, rstd, N, C);
    E.rmsnormBackward(dB, dwB, dout, x16, w, rstd, N, C);
    assertClose('dinp from bf16', dB, dA, 1e-6);
    assertClose('dw from bf16', dwB, dwA, 1e-6);
    const [fA, fB] = [new Float32Array(N * C), new Float32Array(N * C)];
    E.rmsnormForward(fA, null, xw, w, N, C, 1e-6);
    E.rmsnormForward(fB, null, x16, w, N, C, 1e-6);
    assertClose('forward from bf16', fB, fA, 1e-6);
  });

  for (const act of [Act.Relu, Act.GeluTanh, Act.GeluErf, Act.Silu]) {
    it(`activation ${Act[act]}: plain and gated, forward copies and backward from bf16`, () => {
      const n = 1037;
      const a = randF32(r, n, -4, 4), g = randF32(r, n, -2, 2), dout = randF32(r, n);
      const [o1, o2] = [new Float32Array(n), new Float32Array(n)];
      const a16 = new Uint16Array(n), g16 = new Uint16Array(n);
      E.actForward(act, o1, a, n);
      E.actForward(act, o2, a, n, a16);
      assert.deepEqual(o2, o1);
      assert.deepEqual(a16, toBf16(a));
      const [dA, dB] = [new Float32Array(n), new Float32Array(n)];
      E.actBackward(act, dA, dout, widen(a16), n);
      E.actBackward(act, dB, dout, a16, n);
      assertClose('act backward from bf16', dB, dA, 1e-6);

      E.gatedForward(act, o1, a, g, n);
      a16.fill(0);
      E.gatedForward(act, o2, a, g, n, a16, g16);
      assert.deepEqual(o2, o1);
      assert.deepEqual(a16, toBf16(a));
      assert.deepEqual(g16, toBf16(g));
      const [da1, dg1, da2, dg2] = [new Float32Array(n), new Float32Array(n), new Float32Array(n), new Float32Array(n)];
      E.gatedBackward(act, da1, dg1, dout, widen(a16), widen(g16), n);
      E.gatedBackward(act, da2, dg2, dout, a16, g16, n);
      assertClose('gated da from bf16', da2, da1, 1e-6);
      assertClose('gated dg from bf16', dg2, dg1, 1e-6);
      assert.throws(() => E.gatedBackward(act, da2, dg2, dout, a16, widen(g16), n), /both/);
    });
  }

  const cases: { name: string; d: AttnDims; fused: boolean; causal?: boolean }[] = [
    { name: 'fused q|k|v rows, bias', d: contiguousAttn(2, 3, 5, 5, 4), fused: true },
    { name: 'cross (Tq != Tk), grouped kv', d: contiguousAttn(2, 4, 3, 7, 5, { NKV: 2 }), fused: false },
    { name: 'causal, fused', d: contiguousAttn(1, 2, 6, 6, 3, { causal: true }), fused: true },
  ];
  for (const c of cases) {
    it(`attention ${c.name}: forward writes bf16 probs and q/k/v copies, backward from them matches the widened fp32`, () => {
      const d0 = c.d, D = d0.NH * d0.HS, DK = d0.NKV * d0.HS;
      let d: AttnDims = d0, q: Float32Array, k: Float32Array, v: Float32Array, n: number[];
      if (c.fused) {
        const qkv = randF32(r, d0.B * d0.Tq * 3 * D, -1.5, 1.5);
        d = { ...d0, qRow: 3 * D, kRow: 3 * D, vRow: 3 * D, qBatch: d0.Tq * 3 * D, kBatch: d0.Tk * 3 * D, vBatch: d0.Tk * 3 * D };
        [q, k, v] = [qkv, qkv.subarray(D), qkv.subarray(2 * D)];
        n = [qkv.length, qkv.length - D, qkv.length - 2 * D];
      } else {
        [q, k, v] = [randF32(r, d0.B * d0.Tq * D, -1.5, 1.5), randF32(r, d0.B * d0.Tk * DK, -1.5, 1.5), randF32(r, d0.B * d0.Tk * DK, -1.5, 1.5)];
        n = [q.length, k.length, v.length];
      }
      const bias = c.fused ? randF32(r, d.NH * d.Tq * d.Tk) : null;
      const nP = d.B * d.NH * d.Tq * d.Tk, nO = d.B * d.Tq * D;
      const [out1, out2, probs] = [new Float32Array(nO), new Float32Array(nO), new Float32Array(nP)];
      const p16 = new Uint16Array(nP);
      // q/k/v copies: each its own buffer with q/k/v's strides (the fused case writes disjoint columns of one)
      const q16 = new Uint16Array(n[0]!), k16 = new Uint16Array(n[1]!), v16 = new Uint16Array(n[2]!);
      E.attentionForward(out1, probs, q, k, v, bias, null, d);
      E.attentionForward(out2, p16, q, k, v, bias, null, d, q16, k16, v16);
      assert.deepEqual(out2, out1, 'the forward output does not depend on saving in bf16');
      assert.deepEqual(p16, toBf16(probs));
      // every element the attention reads is copied; with strides, compare through the same views
      const widened = (x16: Uint16Array, x: Float32Array, row: number, batch: number, T: number, W: number) => {
        for (let b = 0; b < d.B; b++)
          for (let t = 0; t < T; t++)
            for (let i = 0; i < W; i++) {
              const j = b * batch + t * row + i;
              assert.equal(x16[j], toBf16(x.subarray(j, j + 1))[0], `copy at ${j}`);
            }
      };
      widened(q16, q, d.qRow, d.qBatch, d.Tq, D);
      widened(k16, k, d.kRow, d.kBatch, d.Tk, DK);
      widened(v16, v, d.vRow, d.vBatch, d.Tk, DK);
      const dout = randF32(r, nO);
      const grads = () => [new Float32Array(n[0]!), new Float32Array(n[1]!), new Float32Array(n[2]!)] as const;
      const [gA, gB] = [grads(), grads()];
      const dbA = bias && new Float32Array(bias.length), dbB = bias && new Float32Array(bias.length);
      E.attentionBackward(gA[0], gA[1], gA[2], dout, widen(q16), widen(k16), widen(v16), widen(p16), d, dbA);
      E.attentionBackward(gB[0], gB[1], gB[2], dout, q16, k16, v16, p16, d, dbB);
      ['dq', 'dk', 'dv'].forEach((name, i) => assertClose(`${name} from bf16`, gB[i]!, gA[i]!, 1e-6));
      if (dbA !== null) assertClose('dbias from bf16', dbB!, dbA, 1e-6);
      // mixed: fp32 q with bf16 probs (the absorbed cross-attention keeps the encoder output fp32)
      const gC = grads();
      E.attentionBackward(gC[0], gC[1], gC[2], dout, widen(q16), k16, widen(v16), p16, d, null);
      ['dq', 'dk', 'dv'].forEach((name, i) => assertClose(`${name}, mixed operands`, gC[i]!, gA[i]!, 1e-6));
    });
  }
});
