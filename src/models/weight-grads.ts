/**
 * What the decoder-only models share to implement WeightTraining (types.ts): name checks with short listings,
 * gradient buffers keyed by the weight buffer they belong to, and the side-path call sites.
 */
import { alloc, engine } from '../engine/index.js';
import { SoftpromptError } from '../errors.js';
import { matToF32, tableToF32, type Mat, type Table } from './frozen-weight.js';
import type { LinearSidePath, ModelWeight, SideCall } from './types.js';

type F32 = Float32Array;

/**
 * `transformer.h.{l}.ln_1.weight (l = 0..11)`-style listing: per-layer names collapse to one template, so the
 * message stays short for deep models.
 */
export function listNames(names: readonly string[]): string {
  const templates: string[] = [];
  let maxLayer = -1;
  for (const n of names) {
    const m = /\.(\d+)\./.exec(n);
    if (m !== null) maxLayer = Math.max(maxLayer, Number(m[1]));
    const t = m === null ? n : n.replace(/\.(\d+)\./, '.{l}.');
    if (!templates.includes(t)) templates.push(t);
  }
  return templates.join(', ') + (maxLayer >= 0 ? ` (l = 0..${maxLayer})` : '');
}

/** Throws invalid_config naming the unknown entries and listing the valid ones. */
export function checkKnown(model: string, what: string, names: Iterable<string>, valid: readonly string[], path: string): void {
  const known = new Set(valid);
  const unknown = [...names].filter((n) => !known.has(n));
  if (unknown.length > 0) {
    throw new SoftpromptError('invalid_config',
      `${model} has no ${what} ${unknown.map((n) => JSON.stringify(n)).join(', ')}. Valid ${what} names: ${listNames(valid)}.`,
      { path, hint: `Use Hugging Face ${what} names as listed.` });
  }
}

/** A ModelWeight and whether the model holds it in bf16 (then `data` is a copy widened when read, not live). */
export interface HeldWeight extends ModelWeight {
  readonly bf16: boolean;
}

/**
 * The entry of a weight the model computes with: fp32 lists the live buffer itself; a bf16-held weight (precision
 * 'bf16') lists a widened fp32 copy (exact), made each time `data` is read, so listing costs nothing.
 */
export function heldWeight(name: string, shape: readonly number[], live: Mat | Table, transposed = false): HeldWeight {
  if (live instanceof Float32Array) return { name, shape, data: live, transposed, bf16: false };
  const widen = (): F32 => (live instanceof Uint16Array ? tableToF32(live) : matToF32(live));
  return Object.defineProperty({ name, shape, transposed, bf16: true }, 'data', { get: widen, enumerable: true }) as HeldWeight;
}

/**
 * Throws invalid_config when a named weight is held in bf16: those copies are rounded once and cached in oneDNN's
 * layout, so they cannot be trained (a side path such as LoRA can run on them; fp32-held weights such as norms
 * and biases can be trained).
 */
export function refuseBf16Trainable(model: string, weights: readonly Pick<HeldWeight, 'name' | 'bf16'>[], names: readonly string[]): void {
  const wanted = new Set(names);
  const held = weights.filter((w) => w.bf16 && wanted.has(w.name)).map((w) => w.name);
  if (held.length > 0) {
    throw new SoftpromptError('invalid_config',
      `${model} precision bf16 holds ${held.length <= 3 ? held.join(', ') : listNames(held)} only as cached bfloat16 copies, which would go stale once trained: use precision fp32 to train these weights.`,
      { path: 'precision', hint: "Use precision 'fp32' to train weights (side paths such as LoRA work with bf16)." });
  }
}

/**
 * Gradient buffers of the trainable weights, keyed by the weight buffer itself: a tied head and its embedding
 * are one buffer, so they share one gradient without special cases. `get` returns null for a frozen weight.
 */
export class GradTable {
  private readonly byBuffer = new Map<F32, F32>();
  readonly byName = new Map<string, F32>();

  /**
   * Zeroed gradients for `names` (checked against `weights`). `fused` lists groups of weights that are views
   * of one buffer (LLaMA q|k|v): a group with any trainable member gets one fused gradient, handed out as views.
   */
  constructor(model: string, weights: readonly ModelWeight[], names: readonly string[],
    fused: readonly { buffer: F32; members: readonly F32[] }[] = []) {
    checkKnown(model, 'weight', names, weights.map((w) => w.name), 'trainable');
    const wanted = new Set(names);
    const fusedGrad = new Map<F32, F32>(); // member view -> view of the group's gradient
    for (const g of fused) {
      if (!weights.some((w) => wanted.has(w.name) && g.members.includes(w.data))) continue;
      const grad = alloc(g.buffer.length);
      for (const m of g.members) {
        const at = (m.byteOffset - g.buffer.byteOffset) / 4; // the view's offset inside the fused buffer
        fusedGrad.set(m, grad.subarray(at, at + m.length));
      }
    }
    for (const w of weights) {
      if (!wanted.has(w.name)) continue;
      const grad = fusedGrad.get(w.data) ?? alloc(w.data.length);
      this.byBuffer.set(w.data, grad);
      this.byName.set(w.name, grad);
    }
  }

  /** null for a frozen weight (a bf16-held one is always frozen) */
  get(weight: Mat | Table): F32 | null {
    return weight instanceof Float32Array ? this.byBuffer.get(weight) ?? null : null;
  }
}

/** The side paths of one model, called at its linear layers. */
export class SidePaths {
  constructor(private readonly paths: ReadonlyMap<string, LinearSidePath>) {}

  static create(model: string, paths: ReadonlyMap<string, LinearSidePath> | null, modules: readonly string[]): SidePaths | null {
    if (paths === null || paths.size === 0) return null;
    checkKnown(model, 'linear module', paths.keys(), modules, 'sidePaths');
    return new SidePaths(new Map(paths));
  }

  /** right after the module's GEMM: y (N, out) rows ldy apart += f(x (N, in)) */
  forward(module: string, x: F32, y: F32, ldy: number, N: number, mode: SideMode): void {
    const p = this.paths.get(module);
    if (p !== undefined) p.forward(x, y, ldy, N, { module, ...mode });
  }

  /** right after the module's input-gradient GEMM: dx (N, in) += ∂/∂x of Σ dy·f(x) */
  backward(module: string, dy: F32, ldy: number, dx: F32, N: number, mode: SideMode): void {
    const p = this.paths.get(module);
    if (p !== undefined) p.backward(dy, ldy, dx, N, { module, ...mode });
  }
}

export type SideMode = Omit<SideCall, 'module'>;

/**
 * grad (V, C) += rows [skip, skip + T) of each example of dInputsEmbeds (B, skip + T, C), scattered by ids (B, T).
 * All ids are checked before anything is written.
 */
export function embedScatter(grad: F32, ids: Int32Array, dInputsEmbeds: F32, B: number, T: number, skip: number,
  C: number, V: number, model: string): void {
  if (!(Number.isInteger(B) && Number.isInteger(T) && Number.isInteger(skip) && B >= 0 && T >= 0 && skip >= 0)) {
    throw new SoftpromptError('invalid_data', `${model} embedBackward: B=${B}, T=${T}, skip=${skip} must be non-negative integers.`);
  }
  if (ids.length !== B * T) {
    throw new SoftpromptError('shape_mismatch', `${model} embedBackward: ids has ${ids.length} elements, expected B·T = ${B}·${T}.`, { path: 'ids' });
  }
  const S = skip + T;
  if (dInputsEmbeds.length !== B * S * C) {
    throw new SoftpromptError('shape_mismatch',
      `${model} embedBackward: dInputsEmbeds has ${dInputsEmbeds.length} elements, expected B·(skip+T)·C = ${B}·${S}·${C}.`, { path: 'dInputsEmbeds' });
  }
  for (let i = 0; i < ids.length; i++) {
    if (!(ids[i]! >= 0 && ids[i]! < V)) {
      throw new SoftpromptError('invalid_data', `${model} embedBackward: token id ${ids[i]} at (${Math.floor(i / T)}, ${i % T}) is outside the vocabulary [0, ${V}).`, { path: 'ids' });
    }
  }
  if (B * T === 0) return;
  const e = engine();
  if (skip === 0) { e.embeddingBackward(grad, ids, dInputsEmbeds, B * T, C, V); return; }
  for (let b = 0; b < B; b++) {
    e.embeddingBackward(grad, ids.subarray(b * T, (b + 1) * T), dInputsEmbeds.subarray((b * S + skip) * C, (b + 1) * S * C), T, C, V);
  }
}

/**
 * A weight (or its gradient, same layout) as the HF tensor stores it, for savers: GPT-2's Conv1D weights are held
 * (out, in) and written back [in, out]; every other weight is `data` itself (no copy).
 */
export function hfLayout(w: ModelWeight, data: F32 = w.data): F32 {
  if (!w.transposed) return data;
  const [inF, outF] = w.shape as [number, number];
  const out = new Float32Array(inF * outF);
  for (let o = 0; o < outF; o++) for (let i = 0; i < inF; i++) out[i * outF + o] = data[o * inF + i]!;
  return out;
}
