// Every kernel of the addon against a naive float64 reference written below (llm.c's "naive version beside the
// fast one"), and every backward against central finite differences of L = sum(dout * forward(x)) taken through
// that reference in float64, plus the reference's own analytic backward.
// Dims: B=2, T=3, C=8, NH=2, HS=4 (N = B*T rows), plus odd sizes (5, 7) to catch remainder loops.
// Tolerances: forward maxdiff <= 1e-5 of max|ref|; gradients <= 1e-3 of max|finite difference|.
import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { Act, MASK_MIN, contiguousAttn, engine, type AttnDims } from '../../src/engine/index.js';
import { added, assertClose, f64, randF32, rng, withThreads } from './check.js';

const E = engine();
const FWD_TOL = 1e-5;
const GRAD_TOL = 1e-3;
const r = rng(20240607);
type F64 = Float64Array;

// ---------------------------------------------------------------------------------------------------------------
// finite differences

/** dL/dx by central differences: perturbs x in place (restoring it) and re-evaluates loss(). */
function fdGrad(x: F64, loss: () => number, h = 1e-5): F64 {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const x0 = x[i]!;
    x[i] = x0 + h;
    const lp = loss();
    x[i] = x0 - h;
    const lm = loss();
    x[i] = x0;
    g[i] = (lp - lm) / (2 * h);
  }
  return g;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** The analytic reference and the kernel's gradient (what it added to its += buffer) both match the FD one. */
function checkGrad(label: string, kernelGrad: ArrayLike<number>, refGrad: ArrayLike<number>, fd: ArrayLike<number>): void {
  assertClose(`${label} (naive analytic vs finite differences)`, refGrad, fd, GRAD_TOL);
  assertClose(`${label} (kernel vs finite differences)`, kernelGrad, fd, GRAD_TOL);
  assertClose(`${label} (kernel vs naive analytic)`, kernelGrad, refGrad, GRAD_TOL);
}

// ---------------------------------------------------------------------------------------------------------------
// naive float64 references

function gemmRef(tA: boolean, tB: boolean, M: number, N: number, K: number, alpha: number, A: F64, lda: number,
  B: F64, ldb: number, beta: number, C: F64, ldc: number): F64 {
  const out = Float64Array.from(C);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let p = 0; p < K; p++) s += (tA ? A[p * lda + i]! : A[i * lda + p]!) * (tB ? B[j * ldb + p]! : B[p * ldb + j]!);
      out[i * ldc + j] = alpha * s + beta * C[i * ldc + j]!;
    }
  return out;
}

// out (N, OC) = inp (N, C) @ w (OC, C)^T + bias (OC)
function matmulRef(inp: F64, w: F64, bias: F64 | null, N: number, C: number, OC: number): F64 {
  const out = new Float64Array(N * OC);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < OC; o++) {
      let s = bias !== null ? bias[o]! : 0;
      for (let c = 0; c < C; c++) s += inp[n * C + c]! * w[o * C + c]!;
      out[n * OC + o] = s;
    }
  return out;
}

function matmulBackwardRef(dout: F64, inp: F64, w: F64, N: number, C: number, OC: number) {
  const dinp = new Float64Array(N * C), dw = new Float64Array(OC * C), db = new Float64Array(OC);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < OC; o++) {
      const g = dout[n * OC + o]!;
      db[o] += g;
      for (let c = 0; c < C; c++) {
        dinp[n * C + c] += g * w[o * C + c]!;
        dw[o * C + c] += g * inp[n * C + c]!;
      }
    }
  return { dinp, dw, db };
}

function rmsnormRef(inp: F64, w: F64, N: number, C: number, eps: number) {
  const out = new Float64Array(N * C), rstd = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += inp[n * C + c]! ** 2;
    const rs = 1 / Math.sqrt(ss / C + eps);
    rstd[n] = rs;
    for (let c = 0; c < C; c++) out[n * C + c] = w[c]! * inp[n * C + c]! * rs;
  }
  return { out, rstd };
}

function rmsnormBackwardRef(dout: F64, inp: F64, w: F64, N: number, C: number, eps: number) {
  const { rstd } = rmsnormRef(inp, w, N, C, eps);
  const dinp = new Float64Array(N * C), dw = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    const rs = rstd[n]!;
    // y_c = w_c x_c rs; d rs / d x_c = -rs^3 x_c / C
    let s = 0;
    for (let c = 0; c < C; c++) s += dout[n * C + c]! * w[c]! * inp[n * C + c]!;
    for (let c = 0; c < C; c++) {
      const x = inp[n * C + c]!;
      dinp[n * C + c] = dout[n * C + c]! * w[c]! * rs - (rs ** 3 * x * s) / C;
      dw[c] += dout[n * C + c]! * x * rs;
    }
  }
  return { dinp, dw };
}

function layernormRef(inp: F64, w: F64, b: F64 | null, N: number, C: number, eps: number) {
  const out = new Float64Array(N * C), mean = new Float64Array(N), rstd = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let m = 0;
    for (let c = 0; c < C; c++) m += inp[n * C + c]!;
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (inp[n * C + c]! - m) ** 2;
    v /= C;
    const rs = 1 / Math.sqrt(v + eps);
    mean[n] = m;
    rstd[n] = rs;
    for (let c = 0; c < C; c++) out[n * C + c] = (inp[n * C + c]! - m) * rs * w[c]! + (b !== null ? b[c]! : 0);
  }
  return { out, mean, rstd };
}

function layernormBackwardRef(dout: F64, inp: F64, w: F64, N: number, C: number, eps: number) {
  const { mean, rstd } = layernormRef(inp, w, null, N, C, eps);
  const dinp = new Float64Array(N * C), dw = new Float64Array(C), db = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    const m = mean[n]!, rs = rstd[n]!;
    // xhat = (x - m) rs; dxhat = w dy; dx = rs (dxhat - mean(dxhat) - xhat mean(dxhat xhat))
    let s1 = 0, s2 = 0;
    for (let c = 0; c < C; c++) {
      const xh = (inp[n * C + c]! - m) * rs, dxh = w[c]! * dout[n * C + c]!;
      s1 += dxh;
      s2 += dxh * xh;
      dw[c] += dout[n * C + c]! * xh;
      db[c] += dout[n * C + c]!;
    }
    for (let c = 0; c < C; c++) {
      const xh = (inp[n * C + c]! - m) * rs, dxh = w[c]! * dout[n * C + c]!;
      dinp[n * C + c] = rs * (dxh - s1 / C - (xh * s2) / C);
    }
  }
  return { dinp, dw, db };
}

/** erf in float64: Maclaurin series for |x| < 3, continued fraction for erfc beyond. */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax, sum = ax;
    for (let n = 1; n < 100; n++) {
      term *= (-ax * ax) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    return Math.sign(x) * sum * (2 / Math.sqrt(Math.PI));
  }
  let cf = ax;
  for (let k = 60; k >= 1; k--) cf = ax + k / 2 / cf;
  return Math.sign(x) * (1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / cf);
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

function actRef(kind: number, x: number): number {
  switch (kind) {
    case Act.Relu: return x > 0 ? x : 0;
    // HF gelu_new: 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
    case Act.GeluTanh: return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)));
    case Act.GeluErf: return 0.5 * x * (1 + erf(x / Math.SQRT2));
    default: return x / (1 + Math.exp(-x));
  }
}

function actGradRef(kind: number, x: number): number {
  switch (kind) {
    case Act.Relu: return x > 0 ? 1 : 0;
    case Act.GeluTanh: {
      const t = Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x ** 3));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
    }
    case Act.GeluErf: return 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
    default: {
      const s = 1 / (1 + Math.exp(-x));
      return s * (1 + x * (1 - s));
    }
  }
}

/** A strided q/k/v operand: element (b, t, head, i) is buf[off + b*batch + t*row + head*HS + i]. */
interface View {
  buf: F64;
  off: number;
}

/** Attention-probability dropout: keep (B, NH, Tq, Tk) and the scale 1/(1-p) that kept entries get. */
interface AttnDrop {
  keep: Uint8Array;
  scale: number;
}

function attentionRef(q: View, k: View, v: View, bias: F64 | null, mask: F64 | null, d: AttnDims, drop: AttnDrop | null = null) {
  const { B, NH, NKV, Tq, Tk, HS } = d;
  const C = NH * HS, group = NH / NKV;
  const out = new Float64Array(B * Tq * C), probs = new Float64Array(B * NH * Tq * Tk);
  const s = new Float64Array(Tk);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < NH; h++) {
      const kvh = Math.floor(h / group);
      for (let i = 0; i < Tq; i++) {
        let mx = -Infinity;
        for (let j = 0; j < Tk; j++) {
          if (d.causal && j > i + (Tk - Tq)) {
            s[j] = -Infinity;
            continue;
          }
          let qk = 0;
          for (let x = 0; x < HS; x++)
            qk += q.buf[q.off + b * d.qBatch + i * d.qRow + h * HS + x]! * k.buf[k.off + b * d.kBatch + j * d.kRow + kvh * HS + x]!;
          s[j] = d.scale * qk + (bias !== null ? bias[(h * Tq + i) * Tk + j]! : 0) + (mask !== null ? mask[b * Tk + j]! : 0);
          mx = Math.max(mx, s[j]!);
        }
        let sum = 0;
        for (let j = 0; j < Tk; j++) sum += Math.exp(s[j]! - mx);
        const row = ((b * NH + h) * Tq + i) * Tk;
        const P = probs.subarray(row, row + Tk);
        // a query that sees no key at all (causal, Tq > Tk) gets a zero row
        for (let j = 0; j < Tk; j++) P[j] = mx === -Infinity ? 0 : Math.exp(s[j]! - mx) / sum;
        // out = P' V with P' = P * keep / (1 - p) when dropout is on; probs keeps P
        const keep = (j: number) => (drop === null ? 1 : drop.keep[row + j]! * drop.scale);
        for (let x = 0; x < HS; x++) {
          let o = 0;
          for (let j = 0; j < Tk; j++) o += P[j]! * keep(j) * v.buf[v.off + b * d.vBatch + j * d.vRow + kvh * HS + x]!;
          out[b * Tq * C + i * C + h * HS + x] = o;
        }
      }
    }
  return { out, probs };
}

/** Accumulates dq, dk, dv (same strides as q, k, v; null = skip) and dbias (NH, Tq, Tk) summed over the batch. */
function attentionBackwardRef(dq: View | null, dk: View | null, dv: View | null, dout: F64, q: View, k: View, v: View,
  bias: F64 | null, mask: F64 | null, d: AttnDims, drop: AttnDrop | null = null, dbias: F64 | null = null): void {
  const { B, NH, NKV, Tq, Tk, HS } = d;
  const C = NH * HS, group = NH / NKV;
  const { probs } = attentionRef(q, k, v, bias, mask, d);
  const qi = (b: number, t: number, h: number) => b * d.qBatch + t * d.qRow + h * HS;
  const ki = (b: number, t: number, h: number) => b * d.kBatch + t * d.kRow + h * HS;
  const vi = (b: number, t: number, h: number) => b * d.vBatch + t * d.vRow + h * HS;
  const dP = new Float64Array(Tk);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < NH; h++) {
      const kvh = Math.floor(h / group);
      for (let i = 0; i < Tq; i++) {
        const row = ((b * NH + h) * Tq + i) * Tk;
        const P = probs.subarray(row);
        const dO = dout.subarray(b * Tq * C + i * C + h * HS);
        const keep = (j: number) => (drop === null ? 1 : drop.keep[row + j]! * drop.scale);
        // out_i = sum_j P'_ij v_j, P' = P keep / (1-p)  =>  dP_ij = keep / (1-p) dO_i . v_j, dv_j += P'_ij dO_i
        for (let j = 0; j < Tk; j++) {
          let s = 0;
          for (let x = 0; x < HS; x++) {
            s += dO[x]! * v.buf[v.off + vi(b, j, kvh) + x]!;
            if (dv !== null) dv.buf[dv.off + vi(b, j, kvh) + x] += P[j]! * keep(j) * dO[x]!;
          }
          dP[j] = s * keep(j);
        }
        // P = softmax(S)  =>  dS_ij = P_ij (dP_ij - sum_l P_il dP_il); S_ij = scale q_i . k_j + ...
        let pdp = 0;
        for (let j = 0; j < Tk; j++) pdp += P[j]! * dP[j]!;
        for (let j = 0; j < Tk; j++) {
          const dS = P[j]! * (dP[j]! - pdp);
          if (dbias !== null) dbias[(h * Tq + i) * Tk + j] += dS;
          for (let x = 0; x < HS; x++) {
            if (dq !== null) dq.buf[dq.off + qi(b, i, h) + x] += d.scale * dS * k.buf[k.off + ki(b, j, kvh) + x]!;
            if (dk !== null) dk.buf[dk.off + ki(b, j, kvh) + x] += d.scale * dS * q.buf[q.off + qi(b, i, h) + x]!;
          }
        }
      }
    }
}

function crossEntropyRef(logits: F64, targets: Int32Array, N: number, V: number, gradScale: number, ignore: number) {
  const losses = new Float64Array(N), lse = new Float64Array(N), dlogits = new Float64Array(N * V);
  let valid = 0;
  for (let n = 0; n < N; n++) {
    let mx = -Infinity;
    for (let j = 0; j < V; j++) mx = Math.max(mx, logits[n * V + j]!);
    let s = 0;
    for (let j = 0; j < V; j++) s += Math.exp(logits[n * V + j]! - mx);
    lse[n] = mx + Math.log(s);
    const t = targets[n]!;
    if (t === ignore) continue;
    valid++;
    losses[n] = lse[n]! - logits[n * V + t]!;
    for (let j = 0; j < V; j++) dlogits[n * V + j] = (Math.exp(logits[n * V + j]! - lse[n]!) - (j === t ? 1 : 0)) * gradScale;
  }
  return { losses, lse, dlogits, valid };
}

// ---------------------------------------------------------------------------------------------------------------


describe('alloc', () => {
  it('returns a zero-filled Float32Array of the requested length', () => {
    const x = E.alloc(37);
    assert.ok(x instanceof Float32Array);
    assert.equal(x.length, 37);
    assert.ok(x.every((v) => v === 0));
  });
});

describe('gemm', () => {
  const M = 5, N = 7, K = 9;
  for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
    it(`transA=${tA} transB=${tB}, padded lda/ldb/ldc, alpha and beta`, () => {
      const lda = (tA ? M : K) + 3, ldb = (tB ? K : N) + 2, ldc = N + 4;
      const A = randF32(r, (tA ? K : M) * lda), B = randF32(r, (tB ? N : K) * ldb), C = randF32(r, M * ldc);
      const ref = gemmRef(tA, tB, M, N, K, 0.7, f64(A), lda, f64(B), ldb, 0.3, f64(C), ldc);
      E.gemm(tA, tB, M, N, K, 0.7, A, lda, B, ldb, 0.3, C, ldc);
      assertClose('C', C, ref, FWD_TOL);  // includes the padding columns, which must be untouched
    });
  }

  // Big enough to be split across the pool: by rows (M >= 16 threads) and by columns (few rows, wide N).
  for (const [M2, N2, K2, split] of [[300, 200, 64, 'rows'], [20, 600, 64, 'columns']] as const) {
    it(`threaded path (split by ${split}, M=${M2} N=${N2} K=${K2}) matches 1 thread and the reference`, () => {
      for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        const lda = tA ? M2 : K2, ldb = tB ? K2 : N2;
        const A = randF32(r, M2 * K2), B = randF32(r, K2 * N2), C0 = randF32(r, M2 * N2);
        const C1 = Float32Array.from(C0), C2 = Float32Array.from(C0);
        withThreads(1, () => E.gemm(tA, tB, M2, N2, K2, 1.5, A, lda, B, ldb, 0.5, C1, N2));
        withThreads(2, () => E.gemm(tA, tB, M2, N2, K2, 1.5, A, lda, B, ldb, 0.5, C2, N2));
        assertClose(`C threads=2 vs threads=1 (tA=${tA} tB=${tB})`, C2, C1, 1e-6);
        const ref = gemmRef(tA, tB, M2, N2, K2, 1.5, f64(A), lda, f64(B), ldb, 0.5, f64(C0), N2);
        assertClose(`C threads=2 vs reference (tA=${tA} tB=${tB})`, C2, ref, FWD_TOL);
      }
    });
  }
});

describe('matmul', () => {
  for (const [N, C, OC] of [[6, 8, 5], [7, 5, 7]] as const) {
    it(`forward N=${N} C=${C} OC=${OC}: with and without bias, accumulate`, () => {
      const inp = randF32(r, N * C), w = randF32(r, OC * C), bias = randF32(r, OC);
      const out = new Float32Array(N * OC).fill(123);  // overwritten when not accumulating
      E.matmulForward(out, inp, w, null, N, C, OC, false);
      assertClose('out (no bias)', out, matmulRef(f64(inp), f64(w), null, N, C, OC), FWD_TOL);
      E.matmulForward(out, inp, w, bias, N, C, OC, false);
      const withBias = matmulRef(f64(inp), f64(w), f64(bias), N, C, OC);
      assertClose('out (bias)', out, withBias, FWD_TOL);
      const pre = randF32(r, N * OC);
      for (const b of [null, bias]) {
        const acc = Float32Array.from(pre);
        E.matmulForward(acc, inp, w, b, N, C, OC, true);
        assertClose(`out += (bias=${b !== null})`, added(acc, pre), matmulRef(f64(inp), f64(w), b && f64(b), N, C, OC), FWD_TOL);
      }
    });

    it(`backward N=${N} C=${C} OC=${OC}: dinp, dweight, dbias against finite differences`, () => {
      const inp = randF32(r, N * C), w = randF32(r, OC * C), bias = randF32(r, OC), dout = randF32(r, N * OC);
      const [inp64, w64, b64, dout64] = [f64(inp), f64(w), f64(bias), f64(dout)];
      const loss = () => dot(dout64, matmulRef(inp64, w64, b64, N, C, OC));
      const ref = matmulBackwardRef(dout64, inp64, w64, N, C, OC);
      const pre = [randF32(r, N * C), randF32(r, OC * C), randF32(r, OC)] as const;
      const [dinp, dw, db] = pre.map((p) => Float32Array.from(p));
      E.matmulBackward(dinp!, dw!, db!, dout, inp, w, N, C, OC);
      checkGrad('dinp', added(dinp!, pre[0]), ref.dinp, fdGrad(inp64, loss));
      checkGrad('dweight', added(dw!, pre[1]), ref.dw, fdGrad(w64, loss));
      checkGrad('dbias', added(db!, pre[2]), ref.db, fdGrad(b64, loss));
    });
  }

  it('backward skips null gradients, and needs inp/weight only for the gradients that use them', () => {
    const N = 6, C = 8, OC = 5;
    const inp = randF32(r, N * C), w = randF32(r, OC * C), dout = randF32(r, N * OC);
    const ref = matmulBackwardRef(f64(dout), f64(inp), f64(w), N, C, OC);
    const dinp = new Float32Array(N * C);
    E.matmulBackward(dinp, null, null, dout, null, w, N, C, OC);
    assertClose('dinp only', dinp, ref.dinp, FWD_TOL);
    const dw = new Float32Array(OC * C);
    E.matmulBackward(null, dw, null, dout, inp, null, N, C, OC);
    assertClose('dweight only', dw, ref.dw, FWD_TOL);
    const db = new Float32Array(OC);
    E.matmulBackward(null, null, db, dout, null, null, N, C, OC);
    assertClose('dbias only', db, ref.db, FWD_TOL);
  });
});

describe('rmsnorm', () => {
  for (const [N, C] of [[6, 8], [5, 7]] as const) {
    it(`forward and backward N=${N} C=${C} (dinp, dw)`, () => {
      const eps = 1e-6;
      const inp = randF32(r, N * C, -2, 2), w = randF32(r, C, 0.5, 1.5), dout = randF32(r, N * C);
      const [inp64, w64, dout64] = [f64(inp), f64(w), f64(dout)];
      const out = new Float32Array(N * C), rstd = new Float32Array(N);
      E.rmsnormForward(out, rstd, inp, w, N, C, eps);
      const ref = rmsnormRef(inp64, w64, N, C, eps);
      assertClose('out', out, ref.out, FWD_TOL);
      assertClose('rstd', rstd, ref.rstd, FWD_TOL);
      const out2 = new Float32Array(N * C);
      E.rmsnormForward(out2, null, inp, w, N, C, eps);
      assert.deepEqual(out2, out, 'rstd=null gives the same out');

      const loss = () => dot(dout64, rmsnormRef(inp64, w64, N, C, eps).out);
      const bref = rmsnormBackwardRef(dout64, inp64, w64, N, C, eps);
      const preX = randF32(r, N * C), preW = randF32(r, C);
      const dinp = Float32Array.from(preX), dw = Float32Array.from(preW);
      E.rmsnormBackward(dinp, dw, dout, inp, w, rstd, N, C);
      checkGrad('dinp', added(dinp, preX), bref.dinp, fdGrad(inp64, loss));
      checkGrad('dw', added(dw, preW), bref.dw, fdGrad(w64, loss));
      const dwOnly = new Float32Array(C);
      E.rmsnormBackward(null, dwOnly, dout, inp, w, rstd, N, C);
      assertClose('dw with dinp=null', dwOnly, bref.dw, GRAD_TOL);
    });
  }
});

describe('layernorm', () => {
  for (const [N, C] of [[6, 8], [5, 7]] as const) {
    it(`forward and backward N=${N} C=${C} (dinp, dw, db)`, () => {
      const eps = 1e-5;
      const inp = randF32(r, N * C, -1.5, 2.5), w = randF32(r, C, 0.5, 1.5), b = randF32(r, C), dout = randF32(r, N * C);
      const [inp64, w64, b64, dout64] = [f64(inp), f64(w), f64(b), f64(dout)];
      const out = new Float32Array(N * C), mean = new Float32Array(N), rstd = new Float32Array(N);
      E.layernormForward(out, mean, rstd, inp, w, b, N, C, eps);
      const ref = layernormRef(inp64, w64, b64, N, C, eps);
      assertClose('out', out, ref.out, FWD_TOL);
      assertClose('mean', mean, ref.mean, FWD_TOL);
      assertClose('rstd', rstd, ref.rstd, FWD_TOL);
      const noBias = new Float32Array(N * C);
      E.layernormForward(noBias, null, null, inp, w, null, N, C, eps);
      assertClose('out (b=null, mean/rstd=null)', noBias, layernormRef(inp64, w64, null, N, C, eps).out, FWD_TOL);

      const loss = () => dot(dout64, layernormRef(inp64, w64, b64, N, C, eps).out);
      const bref = layernormBackwardRef(dout64, inp64, w64, N, C, eps);
      const pre = [randF32(r, N * C), randF32(r, C), randF32(r, C)] as const;
      const [dinp, dw, db] = pre.map((p) => Float32Array.from(p));
      E.layernormBackward(dinp!, dw!, db!, dout, inp, w, mean, rstd, N, C);
      checkGrad('dinp', added(dinp!, pre[0]), bref.dinp, fdGrad(inp64, loss));
      checkGrad('dw', added(dw!, pre[1]), bref.dw, fdGrad(w64, loss));
      checkGrad('db', added(db!, pre[2]), bref.db, fdGrad(b64, loss));
      const dinpOnly = new Float32Array(N * C);
      E.layernormBackward(dinpOnly, null, null, dout, inp, w, mean, rstd, N, C);
      assertClose('dinp with dw=db=null', dinpOnly, bref.dinp, GRAD_TOL);
    });
  }
});

const ACTS = [
  { name: 'relu', kind: Act.Relu },
  { name: 'gelu tanh (HF gelu_new)', kind: Act.GeluTanh },
  { name: 'gelu erf', kind: Act.GeluErf },
  { name: 'silu', kind: Act.Silu },
];

/** Inputs in [-4, 4] kept 0.05 away from 0, where relu has its kink. */
function actInputs(n: number): Float32Array {
  const x = randF32(r, n, -4, 4);
  for (let i = 0; i < n; i++) if (Math.abs(x[i]!) < 0.05) x[i] = 0.05 + r();
  return x;
}

describe('activations', () => {
  for (const { name, kind } of ACTS) {
    it(`${name}: forward and backward (n=2*3*8+5)`, () => {
      const n = 2 * 3 * 8 + 5;
      const x = actInputs(n), dout = randF32(r, n);
      const [x64, dout64] = [f64(x), f64(dout)];
      const out = new Float32Array(n);
      E.actForward(kind, out, x, n);
      assertClose('out', out, x64.map((v) => actRef(kind, v)), FWD_TOL);
      const loss = () => dot(dout64, x64.map((v) => actRef(kind, v)));
      const pre = randF32(r, n);
      const dinp = Float32Array.from(pre);
      E.actBackward(kind, dinp, dout, x, n);
      checkGrad('dinp', added(dinp, pre), x64.map((v, i) => dout64[i]! * actGradRef(kind, v)), fdGrad(x64, loss));
    });

    it(`${name}: threaded forward/backward over 50001 elements`, () => {
      const n = 50001;
      const x = actInputs(n), dout = randF32(r, n);
      const out = new Float32Array(n), dinp = new Float32Array(n);
      withThreads(2, () => {
        E.actForward(kind, out, x, n);
        E.actBackward(kind, dinp, dout, x, n);
      });
      assertClose('out', out, f64(x).map((v) => actRef(kind, v)), FWD_TOL);
      assertClose('dinp', dinp, f64(x).map((v, i) => dout[i]! * actGradRef(kind, v)), FWD_TOL);
    });

    it(`${name} gated: out = act(a) * b, forward and backward (da, db, nulls)`, () => {
      const n = 5 * 7;
      const a = actInputs(n), g = randF32(r, n, -2, 2), dout = randF32(r, n);
      const [a64, g64, dout64] = [f64(a), f64(g), f64(dout)];
      const fwd = () => a64.map((v, i) => actRef(kind, v) * g64[i]!);
      const out = new Float32Array(n);
      E.gatedForward(kind, out, a, g, n);
      assertClose('out', out, fwd(), FWD_TOL);
      const loss = () => dot(dout64, fwd());
      const preA = randF32(r, n), preG = randF32(r, n);
      const da = Float32Array.from(preA), dg = Float32Array.from(preG);
      E.gatedBackward(kind, da, dg, dout, a, g, n);
      const refDa = a64.map((v, i) => dout64[i]! * g64[i]! * actGradRef(kind, v));
      const refDg = a64.map((v, i) => dout64[i]! * actRef(kind, v));
      checkGrad('da', added(da, preA), refDa, fdGrad(a64, loss));
      checkGrad('db', added(dg, preG), refDg, fdGrad(g64, loss));
      const daOnly = new Float32Array(n), dgOnly = new Float32Array(n);
      E.gatedBackward(kind, daOnly, null, dout, a, g, n);
      E.gatedBackward(kind, null, dgOnly, dout, a, g, n);
      assertClose('da with db=null', daOnly, refDa, GRAD_TOL);
      assertClose('db with da=null', dgOnly, refDg, GRAD_TOL);
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// attention

interface AttnCase {
  name: string;
  d: AttnDims;
  /** q, k, v side by side in one (B, T, qRow) buffer: q at 0, k at NH*HS, v at (NH+NKV)*HS. */
  fused?: boolean;
  bias?: boolean;
  /** [b, j, value]: additive key-mask entries (everything else 0). */
  mask?: [number, number, number][];
  /** dropout on the probabilities: d.dropP > 0 */
  dropout?: boolean;
}

/** A buffer of n elements between two guard bands of sentinels; check() fails if a kernel wrote outside it. */
function guarded(label: string, init: Float32Array) {
  const G = 16, SENTINEL = 12345.5;
  const all = new Float32Array(G + init.length + G).fill(SENTINEL);
  all.set(init, G);
  const inner = all.subarray(G, G + init.length);
  const check = () => {
    for (let i = 0; i < G; i++) {
      assert.equal(all[i], SENTINEL, `${label}: write ${G - i} elements before the buffer`);
      assert.equal(all[G + init.length + i], SENTINEL, `${label}: write ${i + 1} elements past the buffer`);
    }
  };
  return { inner, check };
}

function need(B: number, T: number, batch: number, row: number, width: number): number {
  return (B - 1) * batch + (T - 1) * row + width;
}

/** The buffers of a case: one fused qkv buffer or three separate ones, and where q, k, v start in them. */
function attnBuffers(c: AttnCase) {
  const { d } = c;
  if (c.fused === true) {
    assert.equal(d.Tq, d.Tk);
    const qkv = randF32(r, d.B * d.Tq * d.qRow);
    return { bufs: [qkv], q: [0, 0], k: [0, d.NH * d.HS], v: [0, (d.NH + d.NKV) * d.HS] } as const;
  }
  const bufs = [
    randF32(r, need(d.B, d.Tq, d.qBatch, d.qRow, d.NH * d.HS)),
    randF32(r, need(d.B, d.Tk, d.kBatch, d.kRow, d.NKV * d.HS)),
    randF32(r, need(d.B, d.Tk, d.vBatch, d.vRow, d.NKV * d.HS)),
  ];
  return { bufs, q: [0, 0], k: [1, 0], v: [2, 0] } as const;
}

const ATTN_CASES: AttnCase[] = [
  {
    name: 'bias (NH,Tq,Tk) + key mask with finfo.min entries, scale 0.5',
    d: contiguousAttn(2, 2, 3, 3, 4, { scale: 0.5 }),
    bias: true,
    mask: [[0, 2, MASK_MIN], [1, 0, MASK_MIN], [1, 1, -0.75]],
  },
  {
    name: 'causal decoding Tq=2 < Tk=5 into a KV cache of capacity 7 (strided k/v), left-padding mask',
    d: {
      B: 2, NH: 2, NKV: 2, Tq: 2, Tk: 5, HS: 4, qRow: 8, qBatch: 16, kRow: 8, kBatch: 7 * 8, vRow: 8, vBatch: 7 * 8,
      causal: true, scale: 0.35,
    },
    mask: [[1, 0, MASK_MIN]],
  },
  {
    name: 'fused qkv (B,T,3C) buffer, causal, mask',
    d: { ...contiguousAttn(2, 2, 3, 3, 4, { causal: true, scale: 0.5 }), qRow: 24, kRow: 24, vRow: 24, qBatch: 72, kBatch: 72, vBatch: 72 },
    fused: true,
    mask: [[1, 2, MASK_MIN]],  // right padding: every query still sees an unmasked key
  },
  {
    name: 'grouped-query NH=4 NKV=2, Tq=3 Tk=5, bias + mask',
    d: contiguousAttn(2, 4, 3, 5, 4, { NKV: 2, scale: 0.6 }),
    bias: true,
    mask: [[0, 4, MASK_MIN], [1, 1, MASK_MIN], [1, 2, 0.5]],
  },
  {
    name: 'multi-query NKV=1, HS=5, causal Tq=3 < Tk=7',
    d: contiguousAttn(2, 4, 3, 7, 5, { NKV: 1, causal: true, scale: 1 / Math.sqrt(5) }),
    mask: [[0, 0, MASK_MIN], [0, 1, MASK_MIN]],
  },
  {
    // regression: visible = i + (Tk - Tq) + 1 went negative and the softmax zeroed floats before the row
    name: 'causal Tq=5 > Tk=3: the first two queries see no key (zero row, no write before probs)',
    d: contiguousAttn(2, 2, 5, 3, 4, { causal: true, scale: 0.5 }),
    bias: true,
  },
  {
    name: 'dropout on the probabilities (dropP 0.3), bias + mask',
    d: { ...contiguousAttn(2, 2, 3, 5, 4, { scale: 0.5 }), dropP: 0.3, dropSeed: 1234567 },
    bias: true,
    mask: [[1, 4, MASK_MIN]],
  },
  {
    name: 'fused qkv, grouped-query, causal, dropout (dropP 0.5)',
    d: {
      ...contiguousAttn(2, 4, 5, 5, 2, { NKV: 2, causal: true, scale: 0.8 }),
      qRow: 16, kRow: 16, vRow: 16, qBatch: 80, kBatch: 80, vBatch: 80, dropP: 0.5, dropSeed: 7,
    },
    fused: true,
  },
  {
    name: 'fused qkv with grouped-query heads (row = (NH + 2 NKV) HS), bias',
    d: { ...contiguousAttn(2, 4, 3, 3, 2, { NKV: 2, scale: 0.8 }), qRow: 16, kRow: 16, vRow: 16, qBatch: 48, kBatch: 48, vBatch: 48 },
    fused: true,
    bias: true,
  },
];

describe('attention', () => {
  for (const c of ATTN_CASES) {
    it(`${c.name}: forward and backward (dq, dk, dv)`, () => {
      const { d } = c;
      const { bufs, q, k, v } = attnBuffers(c);
      const bias = c.bias === true ? randF32(r, d.NH * d.Tq * d.Tk, -1, 1) : null;
      let mask: Float32Array | null = null;
      if (c.mask !== undefined) {
        mask = new Float32Array(d.B * d.Tk);
        for (const [b, j, val] of c.mask) mask[b * d.Tk + j] = val;
      }
      const sub = (vw: readonly [number, number], from: readonly Float32Array[]) => from[vw[0]]!.subarray(vw[1]);
      const C = d.NH * d.HS;
      const gOut = guarded('out', new Float32Array(d.B * d.Tq * C)), gProbs = guarded('probs', new Float32Array(d.B * d.NH * d.Tq * d.Tk));
      const out = gOut.inner, probs = gProbs.inner;
      E.attentionForward(out, probs, sub(q, bufs), sub(k, bufs), sub(v, bufs), bias, mask, d);
      gOut.check();
      gProbs.check();

      // attention dropout draws the same counter-based keep(seed, index in probs) as dropoutForward
      let drop: AttnDrop | null = null;
      if ((d.dropP ?? 0) > 0) {
        const keep = new Uint8Array(probs.length);
        E.dropoutForward(new Float32Array(probs.length), keep, new Float32Array(probs.length), d.dropP!, d.dropSeed!, probs.length);
        drop = { keep, scale: 1 / (1 - Math.fround(d.dropP!)) };
        const kept = keep.reduce((a, b) => a + b, 0);
        assert.ok(kept > 0 && kept < keep.length, `dropout keeps ${kept} of ${keep.length} probabilities`);
      }
      const b64 = bufs.map(f64);
      const view = (vw: readonly [number, number], from: readonly F64[]): View => ({ buf: from[vw[0]]!, off: vw[1] });
      const bias64 = bias && f64(bias), mask64 = mask && f64(mask);
      const ref = attentionRef(view(q, b64), view(k, b64), view(v, b64), bias64, mask64, d, drop);
      assertClose('out', out, ref.out, FWD_TOL);
      assertClose('probs', probs, ref.probs, FWD_TOL);
      if (mask !== null)  // (each case leaves every query at least one visible unmasked key)
        for (let i = 0; i < probs.length; i++) {
          const b = Math.floor(i / (d.NH * d.Tq * d.Tk)), j = i % d.Tk;
          if (mask[b * d.Tk + j] === MASK_MIN) assert.equal(probs[i], 0, `masked key b=${b} j=${j} gets probability 0`);
        }

      const dout = randF32(r, out.length);
      const dout64 = f64(dout);
      const pre = bufs.map((b) => randF32(r, b.length));
      const gGrads = pre.map((p, i) => guarded(`grad buffer ${i}`, p));
      const grads = gGrads.map((g) => g.inner);
      // with a bias, its gradient too (accumulated onto random contents, summed over the batch)
      const dbiasPre = bias !== null ? randF32(r, bias.length) : null;
      const gDbias = dbiasPre !== null ? guarded('dbias', dbiasPre) : null;
      E.attentionBackward(sub(q, grads), sub(k, grads), sub(v, grads), dout, sub(q, bufs), sub(k, bufs), sub(v, bufs), probs, d,
        gDbias?.inner ?? null);
      for (const g of gGrads) g.check();
      gDbias?.check();
      const refGrads = bufs.map((b) => new Float64Array(b.length));
      const refDbias = bias !== null ? new Float64Array(bias.length) : null;
      attentionBackwardRef(view(q, refGrads), view(k, refGrads), view(v, refGrads), dout64,
        view(q, b64), view(k, b64), view(v, b64), bias64, mask64, d, drop, refDbias);
      const loss = () => dot(dout64, attentionRef(view(q, b64), view(k, b64), view(v, b64), bias64, mask64, d, drop).out);
      const names = c.fused === true ? ['dqkv'] : ['dq', 'dk', 'dv'];
      for (let i = 0; i < bufs.length; i++) checkGrad(names[i]!, added(grads[i]!, pre[i]!), refGrads[i]!, fdGrad(b64[i]!, loss));
      if (gDbias !== null) checkGrad('dbias', added(gDbias.inner, dbiasPre!), refDbias!, fdGrad(bias64!, loss));

      // a gradient the caller does not need is skipped when its pointer is null
      if (c.fused !== true) {
        const dkOnly = new Float32Array(bufs[1]!.length);
        E.attentionBackward(null, dkOnly, null, dout, bufs[0]!, bufs[1]!, bufs[2]!, probs, d);
        assertClose('dk with dq=dv=null', dkOnly, refGrads[1]!, GRAD_TOL);
      }
    });
  }

  it('threaded path (B*NKV tasks on 2 threads, with dropout) gives the same result as 1 thread', () => {
    const d = { ...contiguousAttn(2, 4, 17, 17, 8, { NKV: 2, causal: true, scale: 0.3 }), dropP: 0.1, dropSeed: 3 };
    const q = randF32(r, 2 * 17 * 32), k = randF32(r, 2 * 17 * 16), v = randF32(r, 2 * 17 * 16);
    const mask = new Float32Array(2 * 17);
    mask[17] = MASK_MIN;
    const dout = randF32(r, q.length);
    const bias = randF32(r, 4 * 17 * 17);
    const run = (threads: number) => withThreads(threads, () => {
      const out = new Float32Array(q.length), probs = new Float32Array(2 * 4 * 17 * 17);
      const dq = new Float32Array(q.length), dk = new Float32Array(k.length), dv = new Float32Array(v.length);
      const dbias = new Float32Array(bias.length);
      E.attentionForward(out, probs, q, k, v, bias, mask, d);
      E.attentionBackward(dq, dk, dv, dout, q, k, v, probs, d, dbias);
      return { out, probs, dq, dk, dv, dbias };
    });
    const one = run(1), two = run(2);
    for (const key of ['out', 'probs', 'dq', 'dk', 'dv', 'dbias'] as const) assert.deepEqual(two[key], one[key], `${key} differs between 1 and 2 threads`);
    const n = 2 * 4 * 17 * 17, keep = new Uint8Array(n);
    E.dropoutForward(new Float32Array(n), keep, new Float32Array(n), d.dropP, d.dropSeed, n);
    const ref = attentionRef({ buf: f64(q), off: 0 }, { buf: f64(k), off: 0 }, { buf: f64(v), off: 0 }, f64(bias), f64(mask), d,
      { keep, scale: 1 / (1 - Math.fround(d.dropP)) });
    assertClose('out vs reference', two.out, ref.out, FWD_TOL);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// elementwise, embedding, dropout, cross-entropy

describe('elementwise', () => {
  for (const n of [37, 100003]) {
    it(`add, axpy, scale (n=${n})`, () => {
      const a = randF32(r, n), b = randF32(r, n);
      const out = new Float32Array(n);
      E.add(out, a, b, n);
      assertClose('add', out, f64(a).map((x, i) => x + b[i]!), FWD_TOL);
      const alias = Float32Array.from(a);
      E.add(alias, alias, b, n);
      assert.deepEqual(alias, out, 'add with out aliasing a');
      const y = Float32Array.from(a);
      E.axpy(y, b, -0.3, n);
      assertClose('axpy', y, f64(a).map((x, i) => x - 0.3 * b[i]!), FWD_TOL);
      const s = Float32Array.from(a);
      E.scale(s, 2.5, n);
      assertClose('scale', s, f64(a).map((x) => 2.5 * x), FWD_TOL);
    });
  }
});

describe('embedding', () => {
  it('copies table rows (N=6, C=8, V=11) and returns -1', () => {
    const N = 6, C = 8, V = 11;
    const table = randF32(r, V * C), ids = Int32Array.from([3, 0, 10, 3, 7, 5]);
    const out = new Float32Array(N * C);
    assert.equal(E.embedding(out, ids, table, N, C, V), -1);
    for (let n = 0; n < N; n++) assert.deepEqual(out.subarray(n * C, (n + 1) * C), table.subarray(ids[n]! * C, (ids[n]! + 1) * C));
  });
  it('returns the row index of the first out-of-range id', () => {
    const table = randF32(r, 11 * 8), out = new Float32Array(6 * 8);
    assert.equal(E.embedding(out, Int32Array.from([3, 0, 1, 11, 7, -1]), table, 6, 8, 11), 3);
    assert.equal(E.embedding(out, Int32Array.from([-1, 0, 1, 2, 3, 4]), table, 6, 8, 11), 0);
  });
});

describe('embeddingBackward', () => {
  it('scatter-adds rows, repeated ids accumulate (N=7, C=67, V=11), against a float64 reference', () => {
    const N = 7, C = 67, V = 11;
    const ids = Int32Array.from([3, 0, 10, 3, 7, 3, 0]), dout = randF32(r, N * C);
    const dtable = randF32(r, V * C);
    const ref = f64(dtable);
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) ref[ids[n]! * C + c] += dout[n * C + c]!;
    for (const threads of [1, 2]) {
      withThreads(threads, () => {
        const got = Float32Array.from(dtable);
        assert.equal(E.embeddingBackward(got, ids, dout, N, C, V), -1);
        assertClose('embeddingBackward', got, ref, FWD_TOL);
      });
    }
  });
  it('is the adjoint of embedding: <dout, embed(table)> = <table, scatter(dout)>', () => {
    const N = 5, C = 8, V = 6;
    const ids = Int32Array.from([1, 5, 1, 0, 2]), table = randF32(r, V * C), dout = randF32(r, N * C);
    const out = new Float32Array(N * C), dtable = new Float32Array(V * C);
    E.embedding(out, ids, table, N, C, V);
    E.embeddingBackward(dtable, ids, dout, N, C, V);
    assert.ok(Math.abs(dot(out, dout) - dot(table, dtable)) <= 1e-4 * Math.abs(dot(out, dout)));
  });
  it('refuses an out-of-range id before writing anything', () => {
    const dtable = new Float32Array(11 * 8);
    assert.equal(E.embeddingBackward(dtable, Int32Array.from([3, 0, 11]), randF32(r, 24), 3, 8, 11), 2);
    assert.equal(E.embeddingBackward(dtable, Int32Array.from([-1]), randF32(r, 8), 1, 8, 11), 0);
    assert.ok(dtable.every((x) => x === 0));
  });
});

describe('dropout', () => {
  const n = 100000, p = 0.3;
  const inp = randF32(r, n);
  const run = (seed: number) => {
    const out = new Float32Array(n), keep = new Uint8Array(n);
    E.dropoutForward(out, keep, inp, p, seed, n);
    return { out, keep };
  };
  it('keeps about 1-p of 1e5 elements and scales them by 1/(1-p)', () => {
    const { out, keep } = run(42);
    let kept = 0;
    for (let i = 0; i < n; i++) {
      assert.ok(keep[i] === 0 || keep[i] === 1);
      if (keep[i] === 1) {
        kept++;
        assert.ok(Math.abs(out[i]! - inp[i]! / (1 - p)) <= 1e-6 * Math.abs(inp[i]! / (1 - p)), `kept value at ${i}`);
      } else {
        assert.equal(out[i], 0);
      }
    }
    assert.ok(Math.abs(kept / n - (1 - p)) < 0.01, `kept fraction ${kept / n}, expected ${1 - p} ± 0.01`);
  });
  it('is deterministic for a seed and differs for another seed', () => {
    const a = run(42), b = run(42), c = run(43);
    assert.deepEqual(a.keep, b.keep);
    assert.deepEqual(a.out, b.out);
    let same = 0;
    for (let i = 0; i < n; i++) if (a.keep[i] === c.keep[i]) same++;
    // independent masks agree on p^2 + (1-p)^2 = 58 % of elements
    assert.ok(same / n < 0.65, `seeds 42 and 43 agree on ${same / n} of the mask`);
  });
  it('is the same on 1 and 2 threads', () => {
    const one = withThreads(1, () => run(7)), two = withThreads(2, () => run(7));
    assert.deepEqual(two.keep, one.keep);
  });
  it('backward: dinp = dout * keep / (1 - p) (overwrites)', () => {
    const { keep } = run(42);
    const dout = randF32(r, n);
    const dinp = new Float32Array(n).fill(9);
    E.dropoutBackward(dinp, dout, keep, p, n);
    assertClose('dinp', dinp, f64(dout).map((g, i) => (keep[i] === 1 ? g / (1 - p) : 0)), FWD_TOL);
  });
});

describe('crossEntropy', () => {
  const N = 5, V = 7, IGNORE = -100;
  const logits = randF32(r, N * V, -3, 3);
  const targets = Int32Array.from([2, IGNORE, 6, 0, IGNORE]);
  const gradScale = 1 / 3;
  const ref = crossEntropyRef(f64(logits), targets, N, V, gradScale, IGNORE);

  it('losses, lse and dlogits match the naive softmax; ignored rows give 0; returns the valid count', () => {
    const losses = new Float32Array(N).fill(5), lse = new Float32Array(N), dlogits = new Float32Array(N * V).fill(5);
    assert.equal(E.crossEntropy(losses, lse, dlogits, logits, targets, N, V, gradScale, IGNORE), 3);
    assertClose('losses', losses, ref.losses, FWD_TOL);
    assertClose('lse', lse, ref.lse, FWD_TOL);
    assertClose('dlogits', dlogits, ref.dlogits, FWD_TOL);
    for (const n of [1, 4]) {
      assert.equal(losses[n], 0, `ignored row ${n} loss`);
      assert.ok(dlogits.subarray(n * V, (n + 1) * V).every((g) => g === 0), `ignored row ${n} grad`);
    }
    assert.equal(E.crossEntropy(null, null, null, logits, targets, N, V, 1, IGNORE), 3, 'all outputs null');
  });

  it('dlogits against finite differences of gradScale * sum(losses)', () => {
    const x64 = f64(logits);
    const fd = fdGrad(x64, () => gradScale * crossEntropyRef(x64, targets, N, V, gradScale, IGNORE).losses.reduce((a, b) => a + b, 0));
    const dlogits = new Float32Array(N * V);
    E.crossEntropy(null, null, dlogits, logits, targets, N, V, gradScale, IGNORE);
    checkGrad('dlogits', dlogits, ref.dlogits, fd);
  });

  it('dlogits may alias logits', () => {
    const x = Float32Array.from(logits), losses = new Float32Array(N);
    E.crossEntropy(losses, null, x, x, targets, N, V, gradScale, IGNORE);
    assertClose('losses (aliased)', losses, ref.losses, FWD_TOL);
    assertClose('dlogits (aliased)', x, ref.dlogits, FWD_TOL);
  });

  it('an out-of-range target throws a RangeError naming the row', () => {
    const bad = Int32Array.from([2, IGNORE, 7, 0, 1]);
    assert.throws(() => E.crossEntropy(null, null, null, logits, bad, N, V, 1, IGNORE),
      (e: unknown) => e instanceof RangeError && /crossEntropy: target 7 at row 2/.test(e.message));
    const neg = Int32Array.from([2, -1, 0, 0, 1]);
    assert.throws(() => E.crossEntropy(null, null, null, logits, neg, N, V, 1, IGNORE), RangeError);
  });
});

describe('argmaxRows', () => {
  it('each row\'s largest index, the first on ties, as a plain loop finds it', () => {
    const N = 37, V = 1001;
    const x = randF32(r, N * V, -3, 3);
    x[5 * V + 17] = 9; // a tie: the first wins
    x[5 * V + 400] = 9;
    x[7 * V + V - 1] = 10; // the last column
    const out = new Int32Array(N).fill(-1);
    withThreads(2, () => E.argmaxRows(out, x, N, V));
    for (let n = 0; n < N; n++) {
      let best = 0;
      for (let j = 1; j < V; j++) if (x[n * V + j]! > x[n * V + best]!) best = j;
      assert.equal(out[n], best, `row ${n}`);
    }
    assert.equal(out[5], 17);
    assert.equal(out[7], V - 1);
    assert.throws(() => E.argmaxRows(new Int32Array(N - 1), x, N, V), RangeError);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// argument checking: one table, one row per kernel, each with a buffer one element too short

describe('argument checking', () => {
  const f = (n: number) => new Float32Array(n);
  const d = contiguousAttn(2, 2, 3, 3, 4);
  const rows: [string, () => unknown][] = [
    ['gemm', () => E.gemm(false, true, 4, 5, 6, 1, f(4 * 6), 6, f(5 * 6 - 1), 6, 0, f(20), 5)],
    ['matmulForward', () => E.matmulForward(f(6 * 5), f(6 * 8 - 1), f(5 * 8), null, 6, 8, 5, false)],
    ['matmulBackward', () => E.matmulBackward(f(6 * 8), null, null, f(6 * 5), null, f(5 * 8 - 1), 6, 8, 5)],
    ['rmsnormForward', () => E.rmsnormForward(f(48), f(6), f(48), f(7), 6, 8, 1e-6)],
    ['rmsnormBackward', () => E.rmsnormBackward(f(48), f(8), f(48), f(48), f(8), f(5), 6, 8)],
    ['layernormForward', () => E.layernormForward(f(47), f(6), f(6), f(48), f(8), null, 6, 8, 1e-5)],
    ['layernormBackward', () => E.layernormBackward(f(48), f(8), f(7), f(48), f(48), f(8), f(6), f(6), 6, 8)],
    ['actForward', () => E.actForward(Act.Silu, f(9), f(10), 10)],
    ['actBackward', () => E.actBackward(Act.Silu, f(10), f(9), f(10), 10)],
    ['gatedForward', () => E.gatedForward(Act.Silu, f(10), f(10), f(9), 10)],
    ['gatedBackward', () => E.gatedBackward(Act.Silu, f(10), f(10), f(10), f(10), f(9), 10)],
    ['attentionForward', () => E.attentionForward(f(48), f(36), f(48), f(47), f(48), null, null, d)],
    ['attentionBackward', () => E.attentionBackward(f(48), f(48), f(48), f(48), f(48), f(48), f(48), f(35), d)],
    ['attentionBackward', () => E.attentionBackward(f(48), f(48), f(48), f(48), f(48), f(48), f(48), f(36), d, f(17))],
    ['add', () => E.add(f(10), f(10), f(9), 10)],
    ['axpy', () => E.axpy(f(9), f(10), 1, 10)],
    ['scale', () => E.scale(f(9), 1, 10)],
    ['embedding', () => E.embedding(f(48), new Int32Array(5), f(88), 6, 8, 11)],
    ['embeddingBackward', () => E.embeddingBackward(f(87), new Int32Array(6), f(48), 6, 8, 11)],
    ['dropoutForward', () => E.dropoutForward(f(10), new Uint8Array(9), f(10), 0.1, 1, 10)],
    ['dropoutBackward', () => E.dropoutBackward(f(10), f(10), new Uint8Array(9), 0.1, 10)],
    ['crossEntropy', () => E.crossEntropy(null, null, null, f(34), new Int32Array(5), 5, 7, 1, -100)],
  ];
  for (const [kernel, call] of rows) {
    it(`${kernel}: a too-short buffer throws a RangeError naming the kernel`, () => {
      assert.throws(call, (e: unknown) => e instanceof RangeError && e.message.startsWith(`${kernel}: argument `) && /needs \d+ /.test(e.message));
    });
  }
  it('attention dims are validated (heads, dropout probability)', () => {
    const call = (dims: AttnDims) => () => E.attentionForward(f(48), f(36), f(48), f(48), f(48), null, null, dims);
    assert.throws(call({ ...d, NKV: 3 }), (e: unknown) => e instanceof RangeError && /attention: bad dims .*NH=2 NKV=3/.test(e.message));
    assert.throws(call({ ...d, dropP: 1 }), (e: unknown) => e instanceof RangeError && /attention: dims.dropP must be in \[0, 1\)/.test(e.message));
  });
  it('a buffer of the wrong type throws a RangeError', () => {
    assert.throws(() => E.add(f(4), f(4), new Float64Array(4) as unknown as Float32Array, 4),
      (e: unknown) => e instanceof RangeError && e.message === 'add: argument 2 must be Float32Array');
  });
});

test('argument checks: gemm leading dimensions and attention strides are validated', () => {
  const e = engine();
  const a = new Float32Array(64), b = new Float32Array(64), c = new Float32Array(64);
  assert.throws(() => e.gemm(false, false, 4, 4, 4, 1, a, 3, b, 4, 0, c, 4), /gemm: lda=3/);
  assert.throws(() => e.gemm(false, false, 4, 4, 4, 1, a, 4, b, 4, 0, c, 2), /gemm: ldc=2/);
  const q = new Float32Array(2 * 3 * 8), out = new Float32Array(2 * 3 * 8), probs = new Float32Array(2 * 2 * 3 * 3);
  const dims = { ...contiguousAttn(2, 2, 3, 3, 4), qRow: -8 };
  assert.throws(() => e.attentionForward(out, probs, q, q, q, null, null, dims), /attention: row strides/);
});
