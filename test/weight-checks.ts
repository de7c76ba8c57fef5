/**
 * Checks of the WeightTraining side of a causal model (gpt2, llama): weight gradients against central finite
 * differences, and a test side path y += x·M (M fixed, random) whose effect equals merging Mᵀ into the weight.
 */
import assert from 'node:assert/strict';
import type {
  CausalBatch, CausalLM, ForwardOptions, LinearSidePath, SideCall, WeightSource, WeightTraining,
} from '../src/models/types.js';
import { finiteDifferenceError } from './model-checks.js';

export type TrainableLM = CausalLM & WeightTraining;

export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return (s + 0.5) / 4294967296; };
}

/** Seeded weights for a tensor table: norm weights 1 + 0.1·N(0,1), other tensors std(name, shape)·N(0,1). */
export function randomSource(rows: readonly { name: string; shape: readonly number[] }[], seed: number,
  std: (name: string, shape: readonly number[]) => number): WeightSource {
  const shapes = new Map(rows.map((r) => [r.name, r.shape]));
  const u = lcg(seed);
  const normal = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return {
    has: (n) => shapes.has(n),
    getF32Checked: (name, shape) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const isNormW = /(ln_\d|ln_f|norm)\.weight$/.test(name);
      const s = isNormW ? 0.1 : std(name, shape);
      return Float32Array.from({ length: n }, () => (isNormW ? 1 : 0) + s * normal());
    },
  };
}

/** Token ids, `skip` fixed virtual-token rows before them, a padded row and a few labels: the loss of a method step. */
export interface IdsBatch {
  B: number;
  T: number;
  skip: number;
  ids: Int32Array; // (B, T)
  virtual: Float32Array; // (skip, C), the same for every row
  attentionMask: Float32Array; // (B, skip + T)
  labels: Int32Array; // (B, skip + T)
}

/** B=2, skip=2 virtual rows, T=6 ids; row 1 right-padded after 4 ids. */
export function idsBatch(C: number, V: number, seed: number): IdsBatch {
  const B = 2, T = 6, skip = 2, S = skip + T, u = lcg(seed);
  const ids = Int32Array.from({ length: B * T }, () => Math.floor(u() * V));
  const virtual = Float32Array.from({ length: skip * C }, () => u() - 0.5);
  const attentionMask = new Float32Array(B * S).fill(1);
  attentionMask.fill(0, S + skip + 4, 2 * S);
  const labels = new Int32Array(B * S).fill(-100);
  for (const [b, t] of [[0, 3], [0, 5], [0, 6], [0, 7], [1, 3], [1, 4], [1, 5]] as const) labels[b * S + t] = Math.floor(u() * V);
  return { B, T, skip, ids, virtual, attentionMask, labels };
}

/** The embedded batch: virtual rows, then embed(ids), re-read from the model's live embedding table. */
export function embedBatch(model: TrainableLM, x: IdsBatch): CausalBatch {
  const C = model.info.dModel, S = x.skip + x.T;
  const inputsEmbeds = new Float32Array(x.B * S * C);
  const E = model.embed(x.ids);
  for (let b = 0; b < x.B; b++) {
    inputsEmbeds.set(x.virtual, b * S * C);
    inputsEmbeds.set(E.subarray(b * x.T * C, (b + 1) * x.T * C), (b * S + x.skip) * C);
  }
  return { B: x.B, T: S, inputsEmbeds, attentionMask: x.attentionMask, labels: x.labels };
}

/**
 * Every weight trainable: one lossAndGrad + embedBackward, then central finite differences of the loss (inputs
 * re-embedded from the live table, so a tied table sees both its uses) at `probes` coordinates of each weight.
 * Returns max |analytic − FD| / max |analytic| per weight, and the gradients.
 */
export function weightGradientErrors(model: TrainableLM, x: IdsBatch, opts: ForwardOptions, eps: number, probes: number):
  { errors: Map<string, number>; grads: Map<string, Float32Array> } {
  const grads = model.setTrainable(model.weights().map((w) => w.name));
  const { dInputsEmbeds } = model.lossAndGrad(embedBatch(model, x), opts);
  model.embedBackward(x.ids, dInputsEmbeds, x.B, x.T, x.skip);
  const loss = () => model.forward(embedBatch(model, x), opts).loss;
  const errors = new Map<string, number>();
  for (const w of model.weights()) {
    const g = grads.get(w.name)!;
    let maxG = 0;
    for (const v of g) maxG = Math.max(maxG, Math.abs(v));
    assert.ok(maxG > 0, `${w.name}: gradient is all zero`);
    errors.set(w.name, finiteDifferenceError(loss, w.data, g, eps, probes));
  }
  return { errors, grads };
}

/** Test side path: y += x·M with M (in, out) fixed; backward dx += dy·Mᵀ and dM += xᵀ·dy. */
export class MatSidePath implements LinearSidePath {
  readonly M: Float32Array;
  readonly dM: Float32Array;
  readonly calls: SideCall[] = [];
  private saved: Float32Array | null = null;

  constructor(readonly inF: number, readonly outF: number, seed: number, scale = 0.3) {
    const u = lcg(seed);
    this.M = Float32Array.from({ length: inF * outF }, () => (u() * 2 - 1) * scale / Math.sqrt(inF));
    this.dM = new Float32Array(inF * outF);
  }

  forward(x: Float32Array, y: Float32Array, ldy: number, N: number, call: SideCall): void {
    this.calls.push(call);
    const { inF, outF, M } = this;
    for (let n = 0; n < N; n++) {
      for (let j = 0; j < outF; j++) {
        let s = 0;
        for (let i = 0; i < inF; i++) s += x[n * inF + i]! * M[i * outF + j]!;
        y[n * ldy + j] += s;
      }
    }
    this.saved = call.saveForBackward ? x.slice(0, N * inF) : null;
  }

  backward(dy: Float32Array, ldy: number, dx: Float32Array, N: number, call: SideCall): void {
    assert.ok(this.saved !== null, `${call.module}: backward without a saved forward`);
    const { inF, outF, M, dM } = this, x = this.saved;
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < inF; i++) {
        let s = 0;
        for (let j = 0; j < outF; j++) {
          s += dy[n * ldy + j]! * M[i * outF + j]!;
          dM[i * outF + j] += x[n * inF + i]! * dy[n * ldy + j]!;
        }
        dx[n * inF + i] += s;
      }
    }
  }
}

/** One MatSidePath per linear module (lm_head only when `withHead`). */
export function sidePathsFor(model: TrainableLM, withHead: boolean, seed: number): Map<string, MatSidePath> {
  const paths = new Map<string, MatSidePath>();
  model.linearModules().forEach((m, k) => {
    if (m.name !== 'lm_head' || withHead) paths.set(m.name, new MatSidePath(m.inFeatures, m.outFeatures, seed + k));
  });
  return paths;
}

/**
 * Adds each path's Mᵀ into the module's weight of `target` (a model with the same weights): y = x Wᵀ + x M =
 * x (W + Mᵀ)ᵀ. ModelWeight.data is (out, in) for every linear here (GPT-2's Conv1D is held transposed).
 * `headWeight` names the weight behind lm_head (the embedding table when tied).
 */
export function mergeSidePaths(target: TrainableLM, paths: ReadonlyMap<string, MatSidePath>, headWeight: string): void {
  const byName = new Map(target.weights().map((w) => [w.name, w]));
  for (const [module, p] of paths) {
    const w = byName.get(module === 'lm_head' ? headWeight : `${module}.weight`)!;
    assert.equal(w.data.length, p.inF * p.outF, module);
    for (let o = 0; o < p.outF; o++) for (let i = 0; i < p.inF; i++) w.data[o * p.inF + i] += p.M[i * p.outF + o]!;
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/**
 * A plain PEFT LoRA pair as a side path (no dropout): y += s·(x Aᵀ) Bᵀ with A (r, in), B (out, r), as
 * `peft.tuners.lora.Linear.forward` computes it, for Conv1D (fan_in_fan_out) too. Backward: dB += s·dyᵀ u,
 * dA += s·(dy B)ᵀ x, dx += s·(dy B) A with u = x Aᵀ.
 */
export class LoraTestPath implements LinearSidePath {
  readonly dA: Float64Array;
  readonly dB: Float64Array;
  private x: Float32Array | null = null;

  constructor(readonly A: Float32Array, readonly B: Float32Array, readonly r: number, readonly inF: number,
    readonly outF: number, readonly s: number) {
    this.dA = new Float64Array(r * inF);
    this.dB = new Float64Array(outF * r);
  }

  private u(x: Float32Array, n: number): Float64Array {
    const u = new Float64Array(this.r);
    for (let k = 0; k < this.r; k++) for (let i = 0; i < this.inF; i++) u[k] += x[n * this.inF + i]! * this.A[k * this.inF + i]!;
    return u;
  }

  forward(x: Float32Array, y: Float32Array, ldy: number, N: number, call: SideCall): void {
    const { r, outF, B, s } = this;
    for (let n = 0; n < N; n++) {
      const u = this.u(x, n);
      for (let o = 0; o < outF; o++) {
        let v = 0;
        for (let k = 0; k < r; k++) v += u[k]! * B[o * r + k]!;
        y[n * ldy + o] += s * v;
      }
    }
    this.x = call.saveForBackward ? x.slice(0, N * this.inF) : null;
  }

  backward(dy: Float32Array, ldy: number, dx: Float32Array, N: number): void {
    const { r, inF, outF, A, B, s } = this, x = this.x!;
    for (let n = 0; n < N; n++) {
      const u = this.u(x, n), du = new Float64Array(r);
      for (let o = 0; o < outF; o++) {
        const g = dy[n * ldy + o]!;
        for (let k = 0; k < r; k++) { this.dB[o * r + k] += s * g * u[k]!; du[k] += s * g * B[o * r + k]!; }
      }
      for (let k = 0; k < r; k++) {
        for (let i = 0; i < inF; i++) { this.dA[k * inF + i] += du[k]! * x[n * inF + i]!; dx[n * inF + i] += du[k]! * A[k * inF + i]!; }
      }
    }
  }
}
