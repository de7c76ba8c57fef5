// Shared helpers for the kernel tests: a seeded RNG, random buffers, and llm.c-style maxdiff checks that print
// both sides' scale when they fail.
import assert from 'node:assert/strict';
import { engine } from '../../src/engine/index.js';

/** mulberry32: a tiny seeded uniform [0, 1) generator, so every run sees the same inputs. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Float32Array of n values uniform in [lo, hi). */
export function randF32(r: () => number, n: number, lo = -1, hi = 1): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = lo + (hi - lo) * r();
  return x;
}

export function f64(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x);
}

/** got - base, elementwise in float64 (what an accumulating (+=) kernel added). */
export function added(got: ArrayLike<number>, base: ArrayLike<number>): Float64Array {
  const d = new Float64Array(got.length);
  for (let i = 0; i < got.length; i++) d[i] = got[i]! - base[i]!;
  return d;
}

/** max |got - ref| / max |ref| (Infinity on NaN or a length mismatch). */
export function relErr(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (got.length !== ref.length) return Infinity;
  let maxRef = 0;
  let maxDiff = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i]! - ref[i]!);
    if (!(d <= maxDiff)) maxDiff = Number.isNaN(d) ? Infinity : d;
    maxRef = Math.max(maxRef, Math.abs(ref[i]!));
  }
  if (maxDiff === 0) return 0;
  return maxDiff / maxRef;
}

/** Fails with "label: maxdiff/max|ref| = … > tol" so a failure reads like llm.c's NOT OK line. */
export function assertClose(label: string, got: ArrayLike<number>, ref: ArrayLike<number>, tol: number): void {
  assert.equal(got.length, ref.length, `${label}: length ${got.length}, expected ${ref.length}`);
  const e = relErr(got, ref);
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) maxRef = Math.max(maxRef, Math.abs(ref[i]!));
  assert.ok(e <= tol, `${label}: maxdiff/max|ref| = ${e.toExponential(2)} > ${tol} (max|ref| = ${maxRef.toExponential(2)}) NOT OK`);
}

/** Runs fn with the engine's pool at n threads, restoring the previous size afterwards. */
export function withThreads<T>(n: number, fn: () => T): T {
  const E = engine();
  const prev = E.getThreads();
  E.setThreads(n);
  try {
    return fn();
  } finally {
    E.setThreads(prev);
  }
}
