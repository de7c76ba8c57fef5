/**
 * Rotary position embeddings (RoPE, Su et al. 2021, arXiv 2104.09864) as Hugging Face LLaMA applies them:
 * HALF-split ("NeoX") layout, not interleaved pairs. For a head vector x of size HS (half = HS/2) at position p:
 *
 *   θ_i   = p · inv_freq[i]                        i < half
 *   x'[i]        = x[i] cos θ_i − x[i+half] sin θ_i    (q·cos + rotate_half(q)·sin, rotate_half(x) = [−x₂, x₁])
 *   x'[i+half]   = x[i+half] cos θ_i + x[i] sin θ_i
 *
 * i.e. the pair (x[i], x[i+half]) is rotated by θ_i. The backward of this linear map is its transpose, the
 * rotation by −θ_i, applied to dq and dk. inv_freq, θ, cos and sin are computed in float32 like HF (which does
 * so even for a float64 model), so the tables match HF bit for bit up to the last ulp of cos/sin.
 * Supported rope types: default, linear (positions / factor) and llama3 (frequency-dependent, Llama 3.1+);
 * attention_factor is 1 for all three, so cos/sin are not rescaled.
 */

import { SoftpromptError } from '../errors.js';

/** The rope_type variants this file implements, with their parameters (HF `rope_parameters` / `rope_scaling`). */
export type RopeParams =
  | { type: 'default'; theta: number }
  | { type: 'linear'; theta: number; factor: number }
  | {
    type: 'llama3'; theta: number; factor: number; lowFreqFactor: number; highFreqFactor: number;
    originalMaxPositionEmbeddings: number;
  };

export const SUPPORTED_ROPE_TYPES = ['default', 'linear', 'llama3'] as const;

const f = Math.fround;

/** inv_freq (HS/2) as HF's ROPE_INIT_FUNCTIONS[rope_type] computes it in float32 (attention_factor is 1 for all three). */
export function ropeInvFreq(headDim: number, rope: RopeParams): Float32Array {
  const half = headDim / 2;
  const inv = new Float32Array(half);
  // default: 1.0 / (base ** (arange(0, dim, 2).float() / dim))
  for (let i = 0; i < half; i++) inv[i] = f(1 / f(Math.pow(rope.theta, f(f(2 * i) / headDim))));
  if (rope.type === 'linear') {
    for (let i = 0; i < half; i++) inv[i] = f(inv[i]! / rope.factor);
  } else if (rope.type === 'llama3') {
    const { factor, lowFreqFactor: lo, highFreqFactor: hi, originalMaxPositionEmbeddings: old } = rope;
    const lowWavelen = old / lo, highWavelen = old / hi;
    for (let i = 0; i < half; i++) {
      const x = inv[i]!;
      const wavelen = f((2 * Math.PI) / x);
      // long wavelengths (low frequencies) are divided by factor, short ones kept, the band between interpolated
      const base = wavelen > lowWavelen ? f(x / factor) : x;
      const medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
      if (!medium) {
        inv[i] = base;
      } else {
        const smooth = f(f(f(old / wavelen) - lo) / (hi - lo));
        inv[i] = f(f(f(f(1 - smooth) * base) / factor) + f(smooth * base));
      }
    }
  }
  return inv;
}

/** cos/sin tables per position (half width: HF's emb = cat(freqs, freqs) repeats them), grown on demand. */
export class Rope {
  readonly half: number;
  private cosT = new Float32Array(0);
  private sinT = new Float32Array(0);
  private positions = 0;

  constructor(readonly headDim: number, readonly invFreq: Float32Array) {
    this.half = headDim / 2;
    if (!(headDim > 0) || headDim % 2 !== 0 || invFreq.length !== this.half) {
      throw new SoftpromptError('invalid_config', `RoPE needs an even head_dim and head_dim/2 frequencies, got head_dim=${headDim} and ${invFreq.length}.`, { path: 'head_dim' });
    }
  }

  static fromParams(headDim: number, rope: RopeParams): Rope {
    return new Rope(headDim, ropeInvFreq(headDim, rope));
  }

  /** Make the tables cover positions 0..n-1; returns cos, sin (n, HS/2). */
  tables(n: number): { cos: Float32Array; sin: Float32Array } {
    if (n > this.positions) {
      const cap = Math.max(n, Math.ceil(this.positions * 1.5), 64);
      const H = this.half;
      const cos = new Float32Array(cap * H), sin = new Float32Array(cap * H);
      for (let p = 0; p < cap; p++) {
        for (let i = 0; i < H; i++) {
          const a = f(p * this.invFreq[i]!); // freqs = inv_freq @ position_ids, float32
          cos[p * H + i] = Math.cos(a);
          sin[p * H + i] = Math.sin(a);
        }
      }
      this.cosT = cos;
      this.sinT = sin;
      this.positions = cap;
    }
    return { cos: this.cosT.subarray(0, n * this.half), sin: this.sinT.subarray(0, n * this.half) };
  }

  /**
   * Rotate, in place, `heads` consecutive head vectors (HS each) at the start of every row of x:
   * row r holds them at x[r*rowStride + h*HS + i] and sits at absolute position positions[r].
   * inverse = true applies the transpose (rotation by −θ): the backward of the forward rotation.
   * With a fused (N, NH·HS + 2·NKV·HS) q|k|v buffer, heads = NH + NKV rotates q and k and leaves v alone.
   */
  apply(x: Float32Array, positions: Int32Array, heads: number, rowStride: number, inverse = false): void {
    const H = this.half, HS = this.headDim;
    let maxPos = 0;
    for (let r = 0; r < positions.length; r++) {
      const p = positions[r]!;
      if (!(p >= 0)) throw new SoftpromptError('invalid_data', `RoPE: position ${p} of row ${r} is negative.`, { path: 'positionIds' });
      if (p > maxPos) maxPos = p;
    }
    const { cos, sin } = this.tables(maxPos + 1);
    const sign = inverse ? -1 : 1;
    for (let r = 0; r < positions.length; r++) {
      const t = positions[r]! * H;
      for (let h = 0; h < heads; h++) {
        const o = r * rowStride + h * HS;
        for (let i = 0; i < H; i++) {
          const c = cos[t + i]!, s = sign * sin[t + i]!;
          const a = x[o + i]!, b = x[o + i + H]!;
          x[o + i] = a * c - b * s;
          x[o + i + H] = b * c + a * s;
        }
      }
    }
  }
}
