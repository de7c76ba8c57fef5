/**
 * The compute engine: the only layer that knows about threads, BLAS and memory layout. Everything above calls
 * these kernels on flat Float32Arrays with explicit dims; shapes are written next to each argument.
 */
import { SoftpromptError } from '../errors.js';
import { nativeEngine, type AttnDims, type NativeEngine } from './native.js';

export type { AttnDims, NativeEngine };

export enum Act {
  Relu = 0,
  GeluTanh = 1,
  GeluErf = 2,
  Silu = 3,
}

/** Additive mask value for padded keys: HF uses torch.finfo(float32).min. */
export const MASK_MIN = -3.4028234663852886e38;

export function engine(): NativeEngine {
  return nativeEngine();
}

/** 64-byte aligned, zero-filled float32 buffer owned by the engine (freed by the GC). */
export function alloc(n: number): Float32Array {
  return nativeEngine().alloc(n);
}

/** The binding's limit too (more threads than this abort in thread creation). */
export const MAX_THREADS = 1024;

export function setThreads(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS) {
    throw new SoftpromptError('usage', `--threads must be an integer from 1 to ${MAX_THREADS} (0: one per core), got ${n}.`, { path: 'threads' });
  }
  return nativeEngine().setThreads(n);
}

export function getThreads(): number {
  return nativeEngine().getThreads();
}

/** Contiguous (B, T, NH*HS) q/k/v geometry, the common case. */
export function contiguousAttn(B: number, NH: number, Tq: number, Tk: number, HS: number,
  opts: { causal?: boolean; scale?: number; NKV?: number } = {}): AttnDims {
  const NKV = opts.NKV ?? NH;
  return {
    B, NH, NKV, Tq, Tk, HS,
    qRow: NH * HS, kRow: NKV * HS, vRow: NKV * HS,
    qBatch: Tq * NH * HS, kBatch: Tk * NKV * HS, vBatch: Tk * NKV * HS,
    causal: opts.causal ?? false,
    scale: opts.scale ?? 1,
  };
}

/** bf16 copy of a float32 tensor (round to nearest even): a frozen weight for matmulForwardBf16. */
export function toBf16(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  nativeEngine().toBf16(out, x, x.length);
  return out;
}

/** bf16 copy of w (rows, cols) transposed to (cols, rows): the weightT operand of matmulBackwardInputBf16. */
export function transposeToBf16(w: Float32Array, rows: number, cols: number): Uint16Array {
  const out = new Uint16Array(rows * cols);
  nativeEngine().transposeToBf16(out, w, rows, cols);
  return out;
}

export { Bf16Weight, bf16Available, embeddingBf16, matmulBf16, matmulBf16T, onednnInfo, weightGradBf16, type Bf16MatmulOptions } from './onednn.js';
