/**
 * Frozen weight matrices in either precision: fp32 (OpenBLAS sgemm) or bf16 held once by the engine (oneDNN,
 * blocked layout, no fp32 copy). Models keep their GEMM weights as `Mat` and call linearForward/linearBackward;
 * a trainable weight simply stays a Float32Array (fp32 master) and runs the fp32 path.
 */
import { Bf16Weight, bf16Available, embeddingBf16, matmulBf16, matmulBf16T, toBf16, type NativeEngine } from '../engine/index.js';
import { SoftpromptError } from '../errors.js';

type F32 = Float32Array;

export type Mat = F32 | Bf16Weight;

/** An embedding table (V, C): fp32, or bf16 bits (precision 'bf16'; rows are widened when read). */
export type Table = F32 | Uint16Array;

export type Precision = 'fp32' | 'bf16';

/** the precision a model really runs: 'bf16' falls back to 'fp32' (with one notice) without native bf16 */
export function effectivePrecision(p: Precision): Precision {
  return p === 'bf16' && !bf16Available() ? 'fp32' : p;
}

/** w (rows, cols) as a GEMM weight of the given precision (bf16: rounded once; the fp32 array is not kept) */
export function toMat(w: F32, rows: number, cols: number, precision: Precision): Mat {
  return precision === 'bf16' ? Bf16Weight.fromF32(w, rows, cols) : w;
}

/** an embedding table in the given precision */
export function toTable(w: F32, precision: Precision): Table {
  return precision === 'bf16' ? toBf16(w) : w;
}

/** out (N, C) = rows ids of the table; returns the first out-of-range id's index (nothing written), or -1 */
export function embedRows(e: NativeEngine, out: F32, ids: Int32Array, table: Table, N: number, C: number, V: number): number {
  return table instanceof Float32Array ? e.embedding(out, ids, table, N, C, V) : embeddingBf16(out, ids, table, N, C, V);
}

/** out (N, OC) [+]= inp (N, C) @ W (OC, C)^T (+ bias) */
export function linearForward(e: NativeEngine, out: F32, inp: F32, W: Mat, N: number, C: number, OC: number,
  bias: F32 | null = null, accumulate = false): void {
  if (W instanceof Float32Array) return e.matmulForward(out, inp, W, bias, N, C, OC, accumulate);
  checkDims(W, OC, C);
  matmulBf16(out, inp, W, N, { bias, accumulate });
}

/** dinp (N, C) += dout (N, OC) @ W (OC, C); accumulate false: dinp = (the buffer need not be zeroed first) */
export function linearBackward(e: NativeEngine, dinp: F32, dout: F32, W: Mat, N: number, C: number, OC: number,
  accumulate = true): void {
  if (W instanceof Float32Array) {
    if (accumulate) return e.matmulBackward(dinp, null, null, dout, null, W, N, C, OC);
    return e.gemm(false, false, N, C, OC, 1, dout, OC, W, C, 0, dinp, C);
  }
  checkDims(W, OC, C);
  matmulBf16T(dinp, dout, W, N, { accumulate });
}

/** an embedding table as fp32 (a copy widened from bf16 bits, which is exact) */
export function tableToF32(t: Table): F32 {
  if (t instanceof Float32Array) return t;
  const u = new Uint32Array(t.length);
  for (let i = 0; i < t.length; i++) u[i] = t[i]! << 16;
  return new Float32Array(u.buffer);
}

/** the weight as fp32 (a copy widened from bf16, which is exact) */
export function matToF32(W: Mat): F32 {
  return W instanceof Float32Array ? W : W.toF32();
}

function checkDims(W: Bf16Weight, rows: number, cols: number): void {
  if (W.rows !== rows || W.cols !== cols) {
    throw new SoftpromptError('shape_mismatch', `bf16 weight is (${W.rows}, ${W.cols}), the GEMM expects (${rows}, ${cols}).`);
  }
}

/**
 * matmulBackward for a weight in either precision: dinp (N, C) += dout W; dweight (OC, C) += doutᵀ inp and
 * dbias (OC) += Σ dout where non-null. A bf16 weight is frozen: asking for its dweight is an error. (For model code
 * that trains some weights: trainable ones stay fp32, see loadT5Weights' keepFp32.)
 */
export function linearBackwardFull(e: NativeEngine, dinp: F32 | null, dweight: F32 | null, dbias: F32 | null, dout: F32,
  inp: F32 | null, W: Mat, N: number, C: number, OC: number): void {
  if (W instanceof Float32Array) return e.matmulBackward(dinp, dweight, dbias, dout, inp, W, N, C, OC);
  if (dweight !== null) {
    throw new SoftpromptError('invalid_config', 'A weight held in bf16 is frozen: load the model with precision fp32 (or keep this weight fp32) to train it.', { path: 'precision' });
  }
  if (dinp !== null) linearBackward(e, dinp, dout, W, N, C, OC);
  if (dbias !== null) e.matmulBackward(null, null, dbias, dout, null, null, N, C, OC);
}
