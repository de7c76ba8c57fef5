// Loads the compiled addon (build/Release/softprompt_native.node, built by node-gyp at `npm install`).
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { SoftpromptError } from '../errors.js';

/** Attention geometry: element (b, t, h, i) of q sits at q[b*qBatch + t*qRow + h*HS + i] (same for k, v). */
export interface AttnDims {
  B: number;
  NH: number;
  /** key/value heads (grouped-query attention); NH % NKV == 0 */
  NKV: number;
  Tq: number;
  Tk: number;
  HS: number;
  qRow: number;
  kRow: number;
  vRow: number;
  qBatch: number;
  kBatch: number;
  vBatch: number;
  causal: boolean;
  scale: number;
  /** dropout on attention probabilities (training); 0 or absent = off */
  dropP?: number;
  /** seed of that dropout; the mask is regenerated in backward from it */
  dropSeed?: number;
}

type F32 = Float32Array;
type F32N = Float32Array | null;
/** bfloat16 bits: activations saved for backward in bf16 */
type Bf16 = Uint16Array;

/** The raw addon surface; argument order follows llm.c (outputs, saved stats, inputs, weights, dims). */
export interface NativeEngine {
  alloc(n: number): Float32Array;
  setThreads(n: number): number;
  getThreads(): number;
  /** catch SIGINT/SIGTERM into a flag (true) or restore the previous handlers (false); see native/src/signals.cc */
  watchSignals(on: boolean): void;
  /** the signal caught since watchSignals(true), or 0; a second signal ends the process at once */
  pendingSignal(): number;
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: F32, lda: number,
    B: F32, ldb: number, beta: number, C: F32, ldc: number): void;
  matmulForward(out: F32, inp: F32, weight: F32, bias: F32N, N: number, C: number, OC: number, accumulate: boolean): void;
  matmulBackward(dinp: F32N, dweight: F32N, dbias: F32N, dout: F32, inp: F32N, weight: F32N, N: number, C: number,
    OC: number): void;
  /** inp16, when given, receives bf16(inp): the copy a backward saving activations in bf16 reads */
  rmsnormForward(out: F32, rstd: F32N, inp: F32 | Bf16, w: F32, N: number, C: number, eps: number, inp16?: Bf16 | null): void;
  rmsnormBackward(dinp: F32N, dw: F32N, dout: F32, inp: F32 | Bf16, w: F32, rstd: F32, N: number, C: number): void;
  layernormForward(out: F32, mean: F32N, rstd: F32N, inp: F32, w: F32, b: F32N, N: number, C: number, eps: number): void;
  layernormBackward(dinp: F32N, dw: F32N, db: F32N, dout: F32, inp: F32, w: F32, mean: F32, rstd: F32, N: number,
    C: number): void;
  actForward(kind: number, out: F32, inp: F32, n: number, inp16?: Bf16 | null): void;
  actBackward(kind: number, dinp: F32, dout: F32, inp: F32 | Bf16, n: number): void;
  /** a16 and g16 (both or neither) receive bf16 copies of a and g */
  gatedForward(kind: number, out: F32, a: F32, g: F32, n: number, a16?: Bf16 | null, g16?: Bf16 | null): void;
  /** a and g both fp32 or both bf16 */
  gatedBackward(kind: number, da: F32N, dg: F32N, dout: F32, a: F32 | Bf16, g: F32 | Bf16, n: number): void;
  /**
   * probs as bf16 bits (Uint16Array) saves them in bf16 (computed in fp32 per head); q16/k16/v16 (same strides as
   * q/k/v) receive bf16 copies of q, k, v.
   */
  attentionForward(out: F32, probs: F32 | Bf16, q: F32, k: F32, v: F32, bias: F32N, mask: F32N, dims: AttnDims,
    q16?: Bf16 | null, k16?: Bf16 | null, v16?: Bf16 | null): void;
  /** dbias (NH, Tq, Tk) += dLoss/d(bias) summed over the batch when given (T5 relative position bias) */
  attentionBackward(dq: F32N, dk: F32N, dv: F32N, dout: F32, q: F32 | Bf16, k: F32 | Bf16, v: F32 | Bf16,
    probs: F32 | Bf16, dims: AttnDims,
    dbias?: F32N): void;
  add(out: F32, a: F32, b: F32, n: number): void;
  axpy(y: F32, x: F32, alpha: number, n: number): void;
  scale(x: F32, alpha: number, n: number): void;
  /** x[0..n) = 0, split across the pool */
  zero(x: F32, n: number): void;
  embedding(out: F32, ids: Int32Array, table: F32, N: number, C: number, V: number): number;
  /** dtable (V, C) += scatter of dout (N, C) by ids; returns the first out-of-range id's index (nothing written), or -1 */
  embeddingBackward(dtable: F32, ids: Int32Array, dout: F32, N: number, C: number, V: number): number;
  dropoutForward(out: F32, keep: Uint8Array, inp: F32, p: number, seed: number, n: number): void;
  dropoutBackward(dinp: F32, dout: F32, keep: Uint8Array, p: number, n: number): void;
  crossEntropy(losses: F32N, lse: F32N, dlogits: F32N, logits: F32, targets: Int32Array, N: number, V: number,
    gradScale: number, ignoreIndex: number): number;
  /** out[n] = index of the largest of x[n, 0..V) (the first on ties): greedy decoding's next token */
  argmaxRows(out: Int32Array, x: F32, N: number, V: number): void;
  // bf16 (opt-in): weights as Uint16Array of bfloat16 bits, fp32 accumulation (VDPBF16PS, else sgemm on widened values)
  /** true when the bf16 GEMM runs on AVX512-BF16; false on other CPUs or with SOFTPROMPT_BF16_FALLBACK set */
  bf16Native(): boolean;
  /** out = bf16(inp), round to nearest even */
  toBf16(out: Uint16Array, inp: F32, n: number): void;
  /** out = fp32(inp), exact */
  widenBf16(out: F32, inp: Uint16Array, n: number): void;
  /** out (cols, rows) = bf16(w (rows, cols))^T */
  transposeToBf16(out: Uint16Array, w: F32, rows: number, cols: number): void;
  /** C (M, N) = A (M, K) . W (N, K)^T + beta C, C rows ldc apart */
  gemmBf16(C: F32, A: Uint16Array, W: Uint16Array, M: number, N: number, K: number, ldc: number, beta: number): void;
  /** out (N, OC) = bf16(inp (N, C)) @ weight (OC, C)^T (+ bias); accumulate: out += */
  matmulForwardBf16(out: F32, inp: F32, weight: Uint16Array, bias: F32N, N: number, C: number, OC: number,
    accumulate: boolean): void;
  /** dinp (N, C) += bf16(dout (N, OC)) @ weight (OC, C), given weightT = weight^T (C, OC) from transposeToBf16 */
  matmulBackwardInputBf16(dinp: F32, dout: F32, weightT: Uint16Array, N: number, C: number, OC: number): void;
  // oneDNN bf16 matmul (see src/engine/onednn.ts): frozen weights as opaque handles holding oneDNN's blocked layout
  /** true when the CPU has AVX512-BF16 or AMX (and SOFTPROMPT_BF16_FALLBACK is unset) */
  onednnAvailable(): boolean;
  /** e.g. "oneDNN 2.6.3, isa avx512_core_amx, runtime omp" */
  onednnInfo(): string;
  /** the weight w (N, K), fp32 or bf16 bits, rounded to bf16 and reordered once */
  bf16WeightCreate(w: F32 | Uint16Array, N: number, K: number): WeightHandle;
  bf16WeightInfo(w: WeightHandle): { rows: number; cols: number; bytes: number };
  /** out (N, K) = the weight widened to fp32 */
  bf16WeightToF32(w: WeightHandle, out: F32): void;
  /** re-round the weight's bf16 copy from new fp32 values w (N, K) */
  bf16WeightUpdate(w: WeightHandle, data: F32): void;
  /**
   * dw (OC, C) [+]= bf16(dy (N, OC))ᵀ · bf16(x (N, C)), fp32 accumulation (a linear layer's weight gradient);
   * rows ldw / ldy / ldx apart. Returns the oneDNN kernel's name.
   */
  bf16WeightGrad(dw: F32, ldw: number, dy: F32, ldy: number, x: F32, ldx: number, N: number, OC: number, C: number,
    accumulate: boolean): string;
  /**
   * transposed false: out (M, N) [+]= a (M, K) . W^T (+ bias (N)); true: out (M, K) [+]= a (M, N) . W.
   * a rows lda apart, out rows ldc apart; a is fp32 (rounded to bf16 on the fly) or bf16 bits.
   */
  bf16Matmul(w: WeightHandle, out: F32, ldc: number, a: F32 | Uint16Array, lda: number, M: number, transposed: boolean,
    accumulate: boolean, bias: F32N): void;
  /** out (N, C) = rows ids of a bf16 table (V, C), widened; returns the first out-of-range id's index, or -1 */
  embeddingBf16(out: F32, ids: Int32Array, table: Uint16Array, N: number, C: number, V: number): number;
}

/** An opaque native handle (a type-tagged N-API external) owning one bf16 weight in oneDNN's blocked layout. */
export interface WeightHandle {
  readonly __brand: 'WeightHandle';
}

function findAddon(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'build', 'Release', 'softprompt_native.node');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new SoftpromptError('native', 'The compute engine (build/Release/softprompt_native.node) is not built.', {
    hint: 'Run `npm install` (needs g++, make, python3 and Debian\'s libopenblas-dev and libdnnl-dev: `apt-get install libopenblas-dev libdnnl-dev`).',
  });
}

let cached: NativeEngine | undefined;

/**
 * Debian's OpenBLAS 0.3.21 does not recognise recent Intel CPUs (Sapphire Rapids) and falls back to its generic
 * "Prescott" kernels, 5-20x slower. Unless the user chose a core type, pick one from the CPU flags before the
 * library loads (it reads OPENBLAS_CORETYPE once, when the addon is dlopen'ed).
 */
function chooseOpenblasCore(): void {
  if (process.env['OPENBLAS_CORETYPE'] !== undefined || process.platform !== 'linux' || process.arch !== 'x64') return;
  let flags = '';
  try {
    flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
  } catch {
    return;
  }
  const has = (f: string) => new RegExp(`\\b${f}\\b`).test(flags);
  if (has('avx512f') && has('avx512bw') && has('avx512vl') && has('avx512dq')) process.env['OPENBLAS_CORETYPE'] = 'SkylakeX';
  else if (has('avx2') && has('fma')) process.env['OPENBLAS_CORETYPE'] = 'Haswell';
}

/**
 * oneDNN (bf16 GEMMs) runs on OpenMP. Its idle threads spin by default, which here competes with the engine's own
 * pool for the same cores (and, on a shared machine, made small steps 10x slower); passive waiting sleeps instead.
 * Read by libgomp when the addon is loaded, so it is set before, unless the user chose a policy.
 */
function chooseOmpWaitPolicy(): void {
  if (process.env['OMP_WAIT_POLICY'] === undefined && process.env['GOMP_SPINCOUNT'] === undefined) process.env['OMP_WAIT_POLICY'] = 'passive';
}

export function nativeEngine(): NativeEngine {
  if (cached === undefined) {
    chooseOpenblasCore();
    chooseOmpWaitPolicy();
    const require = createRequire(import.meta.url);
    cached = require(findAddon()) as NativeEngine;
    const env = process.env['SOFTPROMPT_THREADS'];
    if (env !== undefined && Number(env) > 0) cached.setThreads(Number(env));
  }
  return cached;
}
