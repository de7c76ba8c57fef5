// bf16 GEMM (opt-in path): rounding to bfloat16, the VDPBF16PS GEMM against float64 references, and the sgemm
// fallback (re-running this file in a child process with SOFTPROMPT_BF16_FALLBACK=1).
// Two references per GEMM: (1) the exact product of the bf16-rounded operands, which only fp32 accumulation
// separates from the kernel (<= 1e-5 of max|ref|); (2) the product of the original fp32 operands, where
// elementwise |C - ref| <= (2^-7 + slack) sum_k |a_k w_k|: bf16 keeps 8 significant bits, so each operand is within
// 2^-8 relative and each product within 2^-7 + 2^-16; the RMS error stays under 2^-8 sqrt(K) of the RMS result.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { engine, toBf16, transposeToBf16 } from '../../src/engine/index.js';
import { added, assertClose, f64, randF32, rng, withThreads } from './check.js';

const E = engine();
const r = rng(7);
const FALLBACK = process.env['SOFTPROMPT_BF16_FALLBACK'] !== undefined;

/** float32 value of bf16 bits (exact). */
function widen(bits: Uint16Array): Float64Array {
  const u = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  return Float64Array.from(new Float32Array(u.buffer));
}

function bitsOf(x: number): number {
  return new Uint32Array(Float32Array.of(x).buffer)[0]!;
}

function floatOf(bits: number): number {
  return new Float32Array(Uint32Array.of(bits >>> 0).buffer)[0]!;
}

/** Independent reference for finite x: the nearer of the two bf16 neighbours, ties to the even one. */
function bf16Ref(x: number): number {
  const lo = bitsOf(x) >>> 16;  // truncation toward zero
  const hi = lo + 1;
  const vlo = floatOf(lo << 16);
  const vhi = (hi & 0x7f80) === 0x7f80 ? Math.sign(vlo) * 2 ** 128 : floatOf(hi << 16);  // past the top: overflow
  const dlo = Math.abs(x - vlo), dhi = Math.abs(vhi - x);
  const pick = dlo < dhi ? lo : dhi < dlo ? hi : (lo & 1) === 0 ? lo : hi;
  return pick & 0xffff;
}

function round1(x: number): number {
  const out = new Uint16Array(1);
  E.toBf16(out, Float32Array.of(x), 1);
  return out[0]!;
}

/** C (M, N) = A (M, K) . W (N, K)^T + beta C in float64; also sum_k |a w| per element for the error bound. */
function gemmNtRef(A: Float64Array, W: Float64Array, M: number, N: number, K: number, beta: number, C: Float64Array, ldc: number) {
  const out = Float64Array.from(C), mag = new Float64Array(C.length);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = 0, a = 0;
      for (let k = 0; k < K; k++) {
        const p = A[m * K + k]! * W[n * K + k]!;
        s += p;
        a += Math.abs(p);
      }
      out[m * ldc + n] = s + (beta === 0 ? 0 : beta * C[m * ldc + n]!);
      mag[m * ldc + n] = a;
    }
  return { out, mag };
}


describe(`bf16 (${FALLBACK ? 'sgemm fallback' : 'native when the CPU has AVX512-BF16'})`, () => {
  it('reports which path runs', () => {
    const cpuHasBf16 = existsSync('/proc/cpuinfo') && /\bavx512_bf16\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
    if (FALLBACK) assert.equal(E.bf16Native(), false, 'SOFTPROMPT_BF16_FALLBACK forces the sgemm path');
    else if (existsSync('/proc/cpuinfo')) assert.equal(E.bf16Native(), cpuHasBf16, 'native iff /proc/cpuinfo lists avx512_bf16');
  });

  describe('rounding (toBf16)', () => {
    it('known values: exact ones, ties to even, overflow, signed zero, infinities, NaN', () => {
      assert.equal(round1(1.0), 0x3f80);
      assert.equal(round1(-2.0), 0xc000);
      assert.equal(round1(1 + 2 ** -8), 0x3f80, '1 + 2^-8 is a tie: down to the even 0x3f80');
      assert.equal(round1(1 + 3 * 2 ** -8), 0x3f82, '1 + 3*2^-8 is a tie: up to the even 0x3f82');
      assert.equal(round1(1 + 2 ** -8 + 2 ** -20), 0x3f81, 'just above the tie rounds up');
      assert.equal(round1(1 + 2 ** -8 - 2 ** -20), 0x3f80, 'just below the tie rounds down');
      assert.equal(round1(0), 0x0000);
      assert.equal(round1(-0), 0x8000);
      assert.equal(round1(Infinity), 0x7f80);
      assert.equal(round1(-Infinity), 0xff80);
      assert.equal(round1(3.4028234663852886e38), 0x7f80, 'FLT_MAX rounds up to +Inf');
      assert.equal(round1(floatOf(0x00010000)), 0x0001, 'subnormals are rounded, not flushed');
      for (const nanBits of [0x7fc00000, 0xffc00000, 0x7f800001, 0x7fa00000]) {
        const h = round1(floatOf(nanBits));
        assert.ok((h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0, `NaN 0x${nanBits.toString(16)} -> 0x${h.toString(16)} is a NaN`);
        assert.equal(h >> 15, nanBits >>> 31, 'NaN keeps its sign');
      }
    });

    it('matches the nearest-even reference on 20000 random finite floats, ties included', () => {
      const n = 20000, x = new Float32Array(n);
      const u = new Uint32Array(x.buffer);
      for (let i = 0; i < n; i++) {
        let bits = Math.floor(r() * 2 ** 32) >>> 0;
        if ((bits & 0x7f800000) === 0x7f800000) bits ^= 0x40000000;  // keep it finite
        if (i % 4 === 0) bits = ((bits & 0xffff0000) | 0x8000) >>> 0;  // an exact tie
        u[i] = bits;
      }
      const out = new Uint16Array(n);
      E.toBf16(out, x, n);
      for (let i = 0; i < n; i++)
        assert.equal(out[i], bf16Ref(x[i]!), `x = ${x[i]} (0x${u[i]!.toString(16)}): got 0x${out[i]!.toString(16)}`);
    });

    for (const [rows, cols] of [[7, 19], [70, 45]] as const) {
      it(`transposeToBf16 (${rows}, ${cols}) -> (${cols}, ${rows}) equals rounding the transpose`, () => {
        const w = randF32(r, rows * cols);
        const wt = new Float32Array(rows * cols);
        for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) wt[j * rows + i] = w[i * cols + j]!;
        assert.deepEqual(transposeToBf16(w, rows, cols), toBf16(wt));
      });
    }
  });

  describe('gemmBf16: C (M, N) = A (M, K) . W (N, K)^T + beta C', () => {
    // M < 64 takes the dot-product kernel (W read in place), M >= 64 the packed 8 x 48 micro-kernel.
    const cases: [number, number, number, string][] = [
      [7, 19, 33, 'dot: odd K, N not a multiple of 4'],
      [1, 5, 1, 'dot: one row, K = 1'],
      [17, 50, 257, 'dot: K tail of 1 past 8 steps of 32'],
      [3, 500, 300, 'dot: threaded over columns'],
      [71, 19, 33, 'packed: odd K, N not a multiple of 16, 7 leftover rows'],
      [64, 48, 2, 'packed: exactly 8 micro-tiles of 8 x 48'],
      [80, 50, 257, 'packed: K crosses a 256 block with an odd remainder'],
      [300, 200, 64, 'packed: threaded over rows'],
    ];
    for (const [M, N, K, what] of cases) {
      it(`M=${M} N=${N} K=${K} (${what})`, () => {
        const a = randF32(r, M * K), w = randF32(r, N * K);
        const A = toBf16(a), W = toBf16(w);
        const C = new Float32Array(M * N).fill(NaN);  // beta = 0 must not read C
        E.gemmBf16(C, A, W, M, N, K, N, 0);
        const exact = gemmNtRef(widen(A), widen(W), M, N, K, 0, new Float64Array(M * N), N);
        assertClose('C vs product of the rounded operands', C, exact.out, 1e-5);
        const full = gemmNtRef(f64(a), f64(w), M, N, K, 0, new Float64Array(M * N), N);
        let worst = 0, sumSq = 0, refSq = 0;
        for (let i = 0; i < C.length; i++) {
          const err = Math.abs(C[i]! - full.out[i]!);
          worst = Math.max(worst, err / (2 ** -7 * full.mag[i]! + 1e-30));
          sumSq += err ** 2;
          refSq += full.out[i]! ** 2;
        }
        assert.ok(worst <= 1.01, `elementwise |C - ref| reaches ${worst.toFixed(3)} x 2^-7 sum|a w|`);
        const rel = Math.sqrt(sumSq / refSq);
        assert.ok(rel <= 2 ** -8 * Math.sqrt(K), `relative RMS error ${rel.toExponential(2)} > 2^-8 sqrt(K)`);
      });
    }

    for (const M of [7, 70])
      it(`beta accumulates into a strided C (ldc > N) and leaves the padding alone (M=${M})`, () => {
        const N = 19, K = 33, ldc = 24;
        const A = toBf16(randF32(r, M * K)), W = toBf16(randF32(r, N * K));
        for (const beta of [1, 0.5]) {
          const C0 = randF32(r, M * ldc), C = Float32Array.from(C0);
          E.gemmBf16(C, A, W, M, N, K, ldc, beta);
          assertClose(`C (beta=${beta})`, C, gemmNtRef(widen(A), widen(W), M, N, K, beta, f64(C0), ldc).out, 1e-5);
        }
      });

    // The VDPBF16PS kernel sums each element in the same order however the work is split; OpenBLAS (fallback)
    // does not promise that, so there the two runs only agree to fp32 rounding.
    it('gives the same result on 1 thread as on several (row split, tile split, dot column split)', () => {
      // 64 rows on 4 threads are too few to split by rows (8 blocks of 8): the packed kernel splits column tiles
      for (const [M, N, K, threads] of [[300, 200, 64, 2], [64, 500, 300, 4], [3, 500, 300, 2]] as const) {
        const A = toBf16(randF32(r, M * K)), W = toBf16(randF32(r, N * K));
        const C1 = new Float32Array(M * N), C2 = new Float32Array(M * N);
        withThreads(1, () => E.gemmBf16(C1, A, W, M, N, K, N, 0));
        withThreads(threads, () => E.gemmBf16(C2, A, W, M, N, K, N, 0));
        const ref = gemmNtRef(widen(A), widen(W), M, N, K, 0, new Float64Array(M * N), N).out;
        assertClose(`M=${M} N=${N} K=${K} on ${threads} threads vs reference`, C2, ref, 1e-5);
        if (E.bf16Native()) assert.deepEqual(C2, C1, `M=${M} N=${N} K=${K}: bits differ between 1 and 2 threads`);
        else assertClose(`M=${M} N=${N} K=${K}: threads=2 vs threads=1`, C2, C1, 1e-6);
      }
    });
  });

  for (const [N, C, OC] of [[7, 33, 19], [70, 33, 19]] as const)
  describe(`matmul with a bf16 weight (N=${N} C=${C} OC=${OC})`, () => {
    it('matmulForwardBf16: bias, no bias, accumulate', () => {
      const inp = randF32(r, N * C), w = randF32(r, OC * C), bias = randF32(r, OC);
      const W = toBf16(w), inpR = widen(toBf16(inp)), WR = widen(W);
      for (const b of [null, bias]) {
        const ref = gemmNtRef(inpR, WR, N, OC, C, 0, new Float64Array(N * OC), OC).out;
        if (b !== null) for (let i = 0; i < ref.length; i++) ref[i] += b[i % OC]!;
        const out = new Float32Array(N * OC).fill(99);
        E.matmulForwardBf16(out, inp, W, b, N, C, OC, false);
        assertClose(`out (bias=${b !== null})`, out, ref, 1e-5);
        const pre = randF32(r, N * OC), acc = Float32Array.from(pre);
        E.matmulForwardBf16(acc, inp, W, b, N, C, OC, true);
        assertClose(`out += (bias=${b !== null})`, added(acc, pre), ref, 1e-5);
        // and the fp32 matmul agrees to bf16 precision
        const f32 = new Float32Array(N * OC);
        E.matmulForward(f32, inp, w, b, N, C, OC, false);
        assertClose(`out vs fp32 matmulForward (bias=${b !== null})`, out, f32, 2 ** -8 * Math.sqrt(C));
      }
    });

    it('matmulBackwardInputBf16: dinp += dout @ weight, with weightT from transposeToBf16', () => {
      const w = randF32(r, OC * C), dout = randF32(r, N * OC);
      const WT = transposeToBf16(w, OC, C);
      const ref = gemmNtRef(widen(toBf16(dout)), widen(WT), N, C, OC, 0, new Float64Array(N * C), C).out;
      const pre = randF32(r, N * C), dinp = Float32Array.from(pre);
      E.matmulBackwardInputBf16(dinp, dout, WT, N, C, OC);
      assertClose('dinp', added(dinp, pre), ref, 1e-5);
      const f32 = new Float32Array(N * C);
      E.matmulBackward(f32, null, null, dout, null, w, N, C, OC);
      assertClose('dinp vs fp32 matmulBackward', added(dinp, pre), f32, 2 ** -8 * Math.sqrt(OC));
    });
  });

  describe('argument checking', () => {
    const u = (n: number) => new Uint16Array(n), f = (n: number) => new Float32Array(n);
    const rows: [string, () => unknown][] = [
      ['toBf16', () => E.toBf16(u(9), f(10), 10)],
      ['transposeToBf16', () => E.transposeToBf16(u(20), f(21), 3, 7)],
      ['gemmBf16', () => E.gemmBf16(f(7 * 19), u(7 * 33), u(19 * 33 - 1), 7, 19, 33, 19, 0)],
      ['matmulForwardBf16', () => E.matmulForwardBf16(f(7 * 19), f(7 * 33), u(19 * 33 - 1), null, 7, 33, 19, false)],
      ['matmulBackwardInputBf16', () => E.matmulBackwardInputBf16(f(7 * 33), f(7 * 19), u(19 * 33 - 1), 7, 33, 19)],
    ];
    for (const [kernel, call] of rows)
      it(`${kernel}: a too-short buffer throws a RangeError naming the kernel`, () => {
        assert.throws(call, (e: unknown) => e instanceof RangeError && e.message.startsWith(`${kernel}: argument `));
      });
    it('a Float32Array where bf16 bits are expected, and ldc < N, throw RangeErrors', () => {
      assert.throws(() => E.matmulForwardBf16(f(6), f(6), f(6) as unknown as Uint16Array, null, 2, 3, 3, false),
        (e: unknown) => e instanceof RangeError && e.message === 'matmulForwardBf16: argument 2 must be Uint16Array');
      assert.throws(() => E.gemmBf16(f(100), u(8), u(8), 2, 4, 2, 3, 0),
        (e: unknown) => e instanceof RangeError && e.message === 'gemmBf16: ldc must be >= N = 4, got 3');
    });
  });

  if (!FALLBACK)
    it('the sgemm fallback passes this whole file too (child process, SOFTPROMPT_BF16_FALLBACK=1)', () => {
      const args = [...process.execArgv.filter((a) => !a.startsWith('--test')), fileURLToPath(import.meta.url)];
      const env: NodeJS.ProcessEnv = { ...process.env, SOFTPROMPT_BF16_FALLBACK: '1' };
      delete env['NODE_TEST_CONTEXT'];  // else the child reports to this runner in its binary protocol
      const child = spawnSync(process.execPath, args, {
        env,
        encoding: 'utf8',
        timeout: 120_000,
      });
      assert.equal(child.status, 0, `fallback run failed:\n${child.stdout}\n${child.stderr}`);
      assert.match(child.stdout, /# pass [1-9]/);
      assert.match(child.stdout, /# fail 0/);
    });
});
