/**
 * bf16 GEMMs with frozen weights through oneDNN (Debian's libdnnl 2.6; AMX where the CPU has it). A weight is
 * rounded to bf16 and reordered once into oneDNN's blocked layout: that copy is the only one kept (no fp32
 * shadow). Activations are rounded to bf16 on the fly, products accumulate in fp32.
 */
import { SoftpromptError } from '../errors.js';
import { nativeEngine, type WeightHandle } from './native.js';

type F32 = Float32Array;

interface Part {
  /** first row of the whole matrix this part holds */
  row0: number;
  rows: number;
  handle: WeightHandle;
}

/**
 * A frozen weight (rows, cols) in nn.Linear layout, held as bf16 by the engine. It may be a stack of row blocks
 * (parts), each its own native handle, so that row ranges on part boundaries (per-head slices, the k|v rows of a
 * fused projection) are views without copies.
 */
export class Bf16Weight {
  private constructor(readonly rows: number, readonly cols: number, private readonly parts: readonly Part[]) {}

  /** w (rows, cols) fp32, rounded to bf16 (nearest even) */
  static fromF32(w: F32, rows: number, cols: number): Bf16Weight {
    return new Bf16Weight(rows, cols, [{ row0: 0, rows, handle: nativeEngine().bf16WeightCreate(w, rows, cols) }]);
  }

  /** w (rows, cols) as bf16 bits */
  static fromBits(w: Uint16Array, rows: number, cols: number): Bf16Weight {
    return new Bf16Weight(rows, cols, [{ row0: 0, rows, handle: nativeEngine().bf16WeightCreate(w, rows, cols) }]);
  }

  /** the row-wise stack of weights with equal cols (no copy: their parts are shared) */
  static stack(ws: readonly Bf16Weight[]): Bf16Weight {
    const cols = ws[0]?.cols ?? 0;
    const parts: Part[] = [];
    let rows = 0;
    for (const w of ws) {
      if (w.cols !== cols) throw new SoftpromptError('shape_mismatch', `Bf16Weight.stack: ${w.cols} columns, expected ${cols}.`);
      for (const p of w.parts) parts.push({ ...p, row0: rows + p.row0 });
      rows += w.rows;
    }
    return new Bf16Weight(rows, cols, parts);
  }

  /** rows [r0, r1) as a weight; r0 and r1 must fall on part boundaries */
  rowSlice(r0: number, r1: number): Bf16Weight {
    const parts = this.parts.filter((p) => p.row0 >= r0 && p.row0 + p.rows <= r1);
    const covered = parts.reduce((n, p) => n + p.rows, 0);
    if (covered !== r1 - r0) {
      throw new SoftpromptError('shape_mismatch', `Bf16Weight.rowSlice(${r0}, ${r1}): not on part boundaries (${this.parts.map((p) => p.row0).join(', ')}).`);
    }
    return new Bf16Weight(r1 - r0, this.cols, parts.map((p) => ({ ...p, row0: p.row0 - r0 })));
  }

  /** bytes of the blocked bf16 copies (padded to oneDNN's blocks) */
  bytes(): number {
    const e = nativeEngine();
    return this.parts.reduce((n, p) => n + e.bf16WeightInfo(p.handle).bytes, 0);
  }

  /** the weight widened back to fp32 (rows, cols) */
  toF32(): F32 {
    const out = new Float32Array(this.rows * this.cols), e = nativeEngine();
    for (const p of this.parts) e.bf16WeightToF32(p.handle, out.subarray(p.row0 * this.cols, (p.row0 + p.rows) * this.cols));
    return out;
  }

  /** re-round from new fp32 values w (rows, cols) in place (a trained weight's copy after an optimizer step) */
  update(w: F32): void {
    if (w.length !== this.rows * this.cols) {
      throw new SoftpromptError('shape_mismatch', `Bf16Weight.update: ${w.length} values for a (${this.rows}, ${this.cols}) weight.`);
    }
    const e = nativeEngine();
    for (const p of this.parts) e.bf16WeightUpdate(p.handle, w.subarray(p.row0 * this.cols, (p.row0 + p.rows) * this.cols));
  }

  /** @internal */
  eachPart(fn: (p: Part) => void): void {
    for (const p of this.parts) fn(p);
  }

  /** @internal */
  get partCount(): number {
    return this.parts.length;
  }
}

export interface Bf16MatmulOptions {
  /** out += instead of = */
  accumulate?: boolean;
  /** (rows of W), forward only */
  bias?: F32 | null;
  /** row stride of the input (default: its width) */
  lda?: number;
  /** row stride of the output (default: its width) */
  ldc?: number;
}

let scratch = new Uint16Array(0);

/** inp rounded to bf16 once when several parts read it (else each call would round it again), else inp */
function roundedOnce(inp: F32 | Uint16Array, W: Bf16Weight, n: number): F32 | Uint16Array {
  if (W.partCount === 1 || !(inp instanceof Float32Array) || n > inp.length) return inp;
  if (scratch.length < n) scratch = new Uint16Array(n);
  const out = scratch.subarray(0, n);
  nativeEngine().toBf16(out, inp, n);
  return out;
}

/** out (M, N) [+]= inp (M, K) . W (N, K)^T (+ bias) */
export function matmulBf16(out: F32, inp: F32 | Uint16Array, W: Bf16Weight, M: number, opts: Bf16MatmulOptions = {}): void {
  const e = nativeEngine(), lda = opts.lda ?? W.cols, ldc = opts.ldc ?? W.rows, bias = opts.bias ?? null;
  if (lda === W.cols) inp = roundedOnce(inp, W, M * W.cols);
  W.eachPart((p) => e.bf16Matmul(p.handle, out.subarray(p.row0), ldc, inp, lda, M, false, opts.accumulate === true,
    bias === null ? null : bias.subarray(p.row0, p.row0 + p.rows)));
}

/** out (M, K) [+]= inp (M, N) . W (N, K) (the input gradient of matmulBf16) */
export function matmulBf16T(out: F32, inp: F32 | Uint16Array, W: Bf16Weight, M: number, opts: Omit<Bf16MatmulOptions, 'bias'> = {}): void {
  const e = nativeEngine(), lda = opts.lda ?? W.rows, ldc = opts.ldc ?? W.cols;
  if (lda === W.rows) inp = roundedOnce(inp, W, M * W.rows);
  let accumulate = opts.accumulate === true;
  W.eachPart((p) => {
    e.bf16Matmul(p.handle, out, ldc, inp.subarray(p.row0), lda, M, true, accumulate, null);
    accumulate = true;
  });
}

/**
 * dW (OC, C) += bf16(dy (N, OC))ᵀ · bf16(x (N, C)) with fp32 accumulation through oneDNN: the weight gradient of
 * a linear layer in mixed precision. dy rows ldy apart, x rows ldx apart, dW rows ldw apart. Returns the kernel name.
 */
export function weightGradBf16(dW: F32, dy: F32, x: F32, N: number, OC: number, C: number,
  opts: { ldy?: number; ldx?: number; ldw?: number; accumulate?: boolean } = {}): string {
  return nativeEngine().bf16WeightGrad(dW, opts.ldw ?? C, dy, opts.ldy ?? OC, x, opts.ldx ?? C, N, OC, C, opts.accumulate ?? true);
}

/** out (N, C) = rows ids of a bf16 table (V, C), widened; returns the first out-of-range id's index, or -1 */
export function embeddingBf16(out: F32, ids: Int32Array, table: Uint16Array, N: number, C: number, V: number): number {
  return nativeEngine().embeddingBf16(out, ids, table, N, C, V);
}

let noticed = false;

/**
 * Whether bf16 GEMMs can run natively (AVX512-BF16 or AMX). When not, prints one notice (once per process) so
 * that a bf16 request visibly falls back to fp32.
 */
export function bf16Available(): boolean {
  const ok = nativeEngine().onednnAvailable();
  if (!ok && !noticed) {
    noticed = true;
    console.warn('softprompt: this CPU has no native bf16 (AVX512_BF16 or AMX) or SOFTPROMPT_BF16_FALLBACK is set; running fp32 instead of bf16.');
  }
  return ok;
}

/** e.g. "oneDNN 2.6.3, isa avx512_core_amx, runtime omp" */
export function onednnInfo(): string {
  return nativeEngine().onednnInfo();
}
