// oneDNN bf16 matmul with frozen weights held once in oneDNN's blocked layout (src/engine/onednn.ts).
// Reference: the float64 product of the bf16-rounded operands. bf16 x bf16 products are exact in fp32 (8-bit
// significands), so only the fp32 accumulation separates the kernel from it: recursive summation of K terms is
// within K * 2^-24 * sum_k |a_k w_k| (Higham's gamma_K, first order), plus one rounding of the accumulate add.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Bf16Weight, engine, matmulBf16, matmulBf16T, onednnInfo, toBf16, weightGradBf16 } from '../../src/engine/index.js';
import { randF32, rng, withThreads } from './check.js';

const E = engine();
const r = rng(11);
const cpuFlags = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
const native = E.onednnAvailable();

/** the float64 values of bf16(x) */
function rounded(x: Float32Array): Float64Array {
  const bits = toBf16(x), u = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  return Float64Array.from(new Float32Array(u.buffer));
}

/**
 * out (M, P) = a (M, Q) . op(W), op(W) = W^T for W (P, Q) or W for W (Q, P); also sum |terms| per element.
 * a rows lda apart, out rows ldc apart (only the (M, P) block is written).
 */
function ref(a: Float64Array, lda: number, W: Float64Array, M: number, P: number, Q: number, transposed: boolean) {
  const out = new Float64Array(M * P), mag = new Float64Array(M * P);
  for (let m = 0; m < M; m++)
    for (let p = 0; p < P; p++) {
      let s = 0, g = 0;
      for (let q = 0; q < Q; q++) {
        const t = a[m * lda + q]! * (transposed ? W[q * P + p]! : W[p * Q + q]!);
        s += t;
        g += Math.abs(t);
      }
      out[m * P + p] = s;
      mag[m * P + p] = g;
    }
  return { out, mag };
}

function checkAgainst(label: string, got: Float32Array, ldc: number, base: Float32Array | null, want: { out: Float64Array; mag: Float64Array },
  M: number, P: number, Q: number, bias: Float32Array | null = null): void {
  let worst = 0;
  for (let m = 0; m < M; m++)
    for (let p = 0; p < P; p++) {
      const b = (base === null ? 0 : base[m * ldc + p]!) + (bias === null ? 0 : bias[p]!);
      const w = want.out[m * P + p]! + b;
      const tol = (Q + 2) * 2 ** -24 * (want.mag[m * P + p]! + Math.abs(b)) + 1e-30;
      const err = Math.abs(got[m * ldc + p]! - w);
      worst = Math.max(worst, err / tol);
      if (!(err <= tol)) assert.fail(`${label}: element (${m}, ${p}) = ${got[m * ldc + p]}, reference ${w}, |diff| ${err} > ${tol}`);
    }
  assert.ok(worst <= 1, label);
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1], [1, 64, 64], [3, 5, 7], [2, 1000, 33], [17, 33, 65], [64, 96, 128], [130, 70, 300], [257, 192, 64], [300, 48, 31],
];

describe(`oneDNN bf16 matmul (${onednnInfo()})`, { skip: native ? false : 'no native bf16 on this CPU' }, () => {
  for (const [M, N, K] of SHAPES) {
    it(`M=${M} N=${N} K=${K}: out = A W^T and out = A W, plain and accumulating`, () => {
      const W32 = randF32(r, N * K), Wr = rounded(W32), w = Bf16Weight.fromF32(W32, N, K);
      // forward
      const A = randF32(r, M * K), want = ref(rounded(A), K, Wr, M, N, K, false);
      const out = new Float32Array(M * N).fill(NaN);
      matmulBf16(out, A, w, M);
      checkAgainst('forward', out, N, null, want, M, N, K);
      const base = randF32(r, M * N), acc = base.slice();
      matmulBf16(acc, A, w, M, { accumulate: true });
      checkAgainst('forward accumulate', acc, N, base, want, M, N, K);
      // transposed (input gradient): out (M, K) = G (M, N) . W
      const G = randF32(r, M * N), wantT = ref(rounded(G), N, Wr, M, K, N, true);
      const outT = new Float32Array(M * K).fill(NaN);
      matmulBf16T(outT, G, w, M);
      checkAgainst('transposed', outT, K, null, wantT, M, K, N);
      const baseT = randF32(r, M * K), accT = baseT.slice();
      matmulBf16T(accT, G, w, M, { accumulate: true });
      checkAgainst('transposed accumulate', accT, K, baseT, wantT, M, K, N);
    });
  }

  it('strided input and output (lda, ldc wider than a row) leave the padding alone; bias; bf16 input bits', () => {
    const M = 37, N = 80, K = 96, lda = 130, ldc = 101;
    const W32 = randF32(r, N * K), Wr = rounded(W32), w = Bf16Weight.fromBits(toBf16(W32), N, K);
    const A = randF32(r, (M - 1) * lda + K), bias = randF32(r, N);
    const out = randF32(r, (M - 1) * ldc + N), before = out.slice();
    matmulBf16(out, A, w, M, { lda, ldc, bias });
    const a64 = rounded(A);
    checkAgainst('strided forward + bias', out, ldc, null, ref(a64, lda, Wr, M, N, K, false), M, N, K, bias);
    for (let m = 0; m < M - 1; m++) for (let c = N; c < ldc; c++) assert.equal(out[m * ldc + c], before[m * ldc + c], 'padding written');
    // bf16 bits as input give the same result as fp32 input rounded on the fly
    const dense = randF32(r, M * K), o1 = new Float32Array(M * N), o2 = new Float32Array(M * N);
    matmulBf16(o1, dense, w, M);
    matmulBf16(o2, toBf16(dense), w, M);
    assert.deepEqual(o2, o1);
    // transposed with strides
    const G = randF32(r, (M - 1) * lda + N), outT = randF32(r, (M - 1) * ldc + K), baseT = outT.slice();
    matmulBf16T(outT, G, w, M, { lda, ldc, accumulate: true });
    const wantT = ref(rounded(G), lda, Wr, M, K, N, true);
    for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) {
      const tol = (N + 2) * 2 ** -24 * (wantT.mag[m * K + k]! + Math.abs(baseT[m * ldc + k]!));
      assert.ok(Math.abs(outT[m * ldc + k]! - baseT[m * ldc + k]! - wantT.out[m * K + k]!) <= tol + 2 ** -24 * Math.abs(outT[m * ldc + k]!), `strided transposed (${m}, ${k})`);
    }
  });

  it('weights: fromF32 rounds to nearest even exactly as toBf16; toF32 returns them exactly; stacks and row slices', () => {
    const N = 70, K = 45, W32 = randF32(r, N * K, -3, 3);
    const w = Bf16Weight.fromF32(W32, N, K);
    assert.deepEqual(Float64Array.from(w.toF32()), rounded(W32));
    assert.ok(w.bytes() >= N * K * 2, `blocked copy holds ${w.bytes()} bytes`);
    // a stack of row blocks computes as the whole; slices on block boundaries are views
    const parts = [W32.subarray(0, 20 * K), W32.subarray(20 * K, 50 * K), W32.subarray(50 * K)];
    const stacked = Bf16Weight.stack([Bf16Weight.fromF32(parts[0]!, 20, K), Bf16Weight.fromF32(parts[1]!, 30, K), Bf16Weight.fromF32(parts[2]!, 20, K)]);
    const M = 9, A = randF32(r, M * K), G = randF32(r, M * N);
    const o1 = new Float32Array(M * N), o2 = new Float32Array(M * N);
    matmulBf16(o1, A, w, M);
    matmulBf16(o2, A, stacked, M);
    assert.deepEqual(o2, o1);
    const t1 = new Float32Array(M * K), t2 = new Float32Array(M * K);
    matmulBf16T(t1, G, w, M);
    matmulBf16T(t2, G, stacked, M);
    const tw = ref(rounded(G), N, Float64Array.from(w.toF32()), M, K, N, true);
    checkAgainst('stacked transposed', t2, K, null, tw, M, K, N);
    const mid = stacked.rowSlice(20, 50);
    assert.deepEqual(Float64Array.from(mid.toF32()), rounded(W32).subarray(20 * K, 50 * K));
    assert.throws(() => stacked.rowSlice(10, 50), /part boundaries/);
  });

  for (const [N, OC, C] of [[1, 1, 1], [7, 5, 3], [64, 96, 128], [300, 48, 31], [1024, 128, 64]] as [number, number, number][]) {
    it(`weight gradient N=${N} OC=${OC} C=${C}: dW += bf16(dy)^T bf16(x), strided dy (a fused projection's part), not the reference kernel`, () => {
      const ldy = OC + 3, dy = randF32(r, (N - 1) * ldy + OC), x = randF32(r, N * C);
      // dW (OC, C) = dy^T (OC, N) . x (N, C): the ref() product with a = dy^T as a dense (OC, N) matrix
      const dyT = new Float32Array(OC * N);
      for (let n = 0; n < N; n++) for (let o = 0; o < OC; o++) dyT[o * N + n] = dy[n * ldy + o]!;
      const xT = new Float32Array(C * N); // x as W (C, N): ref computes a . W^T
      for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) xT[c * N + n] = x[n * C + c]!;
      const want = ref(rounded(dyT), N, rounded(xT), OC, C, N, false);
      const base = randF32(r, OC * C), dW = base.slice();
      const impl = weightGradBf16(dW, dy, x, N, OC, C, { ldy });
      checkAgainst('weight gradient, accumulating', dW, C, base, want, OC, C, N);
      const fresh = new Float32Array(OC * C).fill(NaN);
      weightGradBf16(fresh, dy, x, N, OC, C, { ldy, accumulate: false });
      checkAgainst('weight gradient', fresh, C, null, want, OC, C, N);
      if (N * OC * C >= 64 * 96 * 128) assert.ok(!impl.startsWith('ref'), `weight gradient runs on ${impl}`);
    });
  }

  it('update re-rounds a held weight in place from new values (all parts of a stack)', () => {
    const K = 24, a = randF32(r, 10 * K), b = randF32(r, 6 * K);
    const w = Bf16Weight.stack([Bf16Weight.fromF32(a, 10, K), Bf16Weight.fromF32(b, 6, K)]);
    const next = randF32(r, 16 * K, -2, 2);
    w.update(next);
    assert.deepEqual(Float64Array.from(w.toF32()), rounded(next));
    assert.throws(() => w.update(new Float32Array(5)), /5 values/);
  });

  it('gives the same result on 1 thread as on the pool (rows are split, never K)', () => {
    const M = 200, N = 256, K = 384, W32 = randF32(r, N * K), w = Bf16Weight.fromF32(W32, N, K), A = randF32(r, M * K);
    const many = new Float32Array(M * N), one = new Float32Array(M * N);
    matmulBf16(many, A, w, M);
    withThreads(1, () => matmulBf16(one, A, w, M));
    assert.deepEqual(one, many);
  });

  it('refuses bad arguments with a RangeError instead of crashing', () => {
    const w = Bf16Weight.fromF32(randF32(r, 6 * 4), 6, 4);
    const h = E.bf16WeightCreate(randF32(r, 6 * 4), 6, 4);
    const out = new Float32Array(3 * 6), A = new Float32Array(3 * 4);
    const call = (...args: unknown[]) => (E.bf16Matmul as unknown as (...a: unknown[]) => void)(...args);
    assert.throws(() => call({}, out, 6, A, 4, 3, false, false, null), /bf16 weight handle/);
    assert.throws(() => call(new Float32Array(4), out, 6, A, 4, 3, false, false, null), /bf16 weight handle/);
    assert.throws(() => call(h, out, 6, A, 4, 2.5, false, false, null), /integer/);
    assert.throws(() => call(h, out, 6, A, 4, Number.NaN, false, false, null), /integer/);
    assert.throws(() => call(h, out, 6, A, 4, 2 ** 40, false, false, null), /integer/);
    assert.throws(() => call(h, out, 6, A, 4, 0, false, false, null), /integer/);
    assert.throws(() => call(h, out, 5, A, 4, 3, false, false, null), /ldc/);
    assert.throws(() => call(h, out, 6, A, 3, 3, false, false, null), /lda/);
    assert.throws(() => call(h, new Float32Array(17), 6, A, 4, 3, false, false, null), /needs 18/);
    assert.throws(() => call(h, out, 6, new Float32Array(11), 4, 3, false, false, null), /needs 12/);
    assert.throws(() => call(h, out, 4, A, 6, 3, true, false, null), /needs 18/); // transposed: a is (M, N)
    assert.throws(() => call(h, out, 4, new Float32Array(18), 6, 3, true, false, new Float32Array(6)), /bias/);
    assert.throws(() => call(h, out, 6, A, 4, 3, false, false, new Float32Array(5)), /needs 6/);
    assert.throws(() => call(h, out, 2 ** 31, A, 4, 3, false, false, null), /integer/);
    assert.throws(() => E.bf16WeightCreate(new Float32Array(5), 2, 3), /needs 6/);
    assert.throws(() => E.bf16WeightCreate(new Float32Array(6), 2, -3), /integer/);
    assert.throws(() => E.bf16WeightCreate(new Int32Array(6) as unknown as Float32Array, 2, 3), /Float32Array/);
    assert.throws(() => E.bf16WeightToF32(h, new Float32Array(23)), /needs 24/);
    assert.throws(() => E.embeddingBf16(new Float32Array(4), Int32Array.of(0, 1), new Uint16Array(3), 2, 2, 2), /needs 4/);
    assert.equal(E.embeddingBf16(new Float32Array(4), Int32Array.of(0, 2), new Uint16Array(4), 2, 2, 2), 1, 'out-of-range id');
    assert.throws(() => matmulBf16(out, A, w, 3, { ldc: 5 }), /ldc/);
  });

  it('runs on the brgemm kernels (AMX where the CPU has it), as ONEDNN_VERBOSE reports', () => {
    const script = `
      import { Bf16Weight, matmulBf16, matmulBf16T } from ${JSON.stringify(new URL('../../src/engine/index.js', import.meta.url).href)};
      const M = 256, N = 768, K = 768;
      const w = Bf16Weight.fromF32(new Float32Array(N * K).fill(0.5), N, K);
      matmulBf16(new Float32Array(M * N), new Float32Array(M * K).fill(1), w, M);
      matmulBf16T(new Float32Array(M * K), new Float32Array(M * N).fill(1), w, M);`;
    const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ONEDNN_VERBOSE: '1' }, encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    const impls = res.stdout.split('\n').filter((l) => l.includes('exec,cpu,matmul')).map((l) => l.split(',')[4]!);
    console.log(`  oneDNN matmul implementations at 256x768x768: ${[...new Set(impls)].join(', ')}`);
    assert.equal(impls.length, 2);
    const want = /\bamx_bf16\b/.test(cpuFlags) ? 'brg:avx512_core_amx' : 'brg:avx512_core_bf16';
    for (const impl of impls) assert.ok(impl.startsWith(want), `implementation ${impl}, expected ${want}`);
  });
});

describe('bf16 fallback', () => {
  it('without native bf16 (forced by SOFTPROMPT_BF16_FALLBACK) a bf16 T5 runs fp32, with a one-line notice', () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const script = `
      import { bf16Available } from ${JSON.stringify(new URL('../../src/engine/index.js', import.meta.url).href)};
      import { T5Model } from ${JSON.stringify(new URL('../../src/models/t5.js', import.meta.url).href)};
      import { openWeights } from ${JSON.stringify(new URL('../../src/io/hf-folder.js', import.meta.url).href)};
      import { readFileSync } from 'node:fs';
      const dir = ${JSON.stringify(root)} + '../test/fixtures/t5-tiny/';
      const m = T5Model.load(JSON.parse(readFileSync(dir + 'config.json', 'utf8')), openWeights(dir), 'config.json', 'bf16');
      m.precision = 'bf16';
      console.log(JSON.stringify({ available: bf16Available(), precision: m.precision }));`;
    const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, SOFTPROMPT_BF16_FALLBACK: '1' }, encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    assert.deepEqual(JSON.parse(res.stdout.trim()), { available: false, precision: 'fp32' });
    const notices = res.stderr.split('\n').filter((l) => l.includes('running fp32 instead of bf16'));
    assert.equal(notices.length, 1, res.stderr);
  });
});
