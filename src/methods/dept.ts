/**
 * DePT, Decomposed Prompt Tuning (Shi & Lipani, ICLR 2024; the DePT fork of PEFT, `PROMPT_TUNING_LORA`).
 * A shorter soft prompt P (l, C) plus a low-rank, position-indexed offset added to the frozen input embeddings
 * before the prompt is prepended (spec §1.2, §1.11):
 *
 *   offset = (α / √r) · A[:T] @ B        A (s, r) row i ↔ input position i; B (r, C); α = lora_alpha = 8
 *   E'     = E + offset                   (B, T, C), every position incl. padding, broadcast over the batch
 *   X      = concat(P, E')                (B, l+T, C); mask gets l leading ones
 *
 * Backward: dP = Σ_b dX[b, :l]; dOff = Σ_b dX[b, l:] (T, C); dA[:T] = (α/√r) dOff Bᵀ; dB = (α/√r) A[:T]ᵀ dOff.
 * Using A[:T] for a right-padded batch of length T ≤ s equals padding to s exactly (pads are masked keys and
 * T5's position bias is relative), which is what allows dynamic padding.
 * Init: P by TEXT (default), A ~ U(±1/√r) (kaiming_uniform a=√5 on (s, r)), B = 0, so DePT starts as PT-l.
 */
import { z } from 'zod';
import { engine } from '../engine/index.js';
import { SoftpromptError } from '../errors.js';
import { parseWith } from '../validate.js';
import { accumulateRows, prependPrompt, type InitContext, type PeftMethod, type TrainableTensor, type TransformedInput } from './method.js';
import { DEPT_INIT_TEXT, PROMPT_INITS, initPrompt, type PromptInit } from './prompt-init.js';

export const DeptConfigSchema = z.object({
  numVirtualTokens: z.number().int().min(0).max(10000),
  rank: z.number().int().min(0).max(4096),
  /** s: the padded input length; A has one row per input position */
  maxLength: z.number().int().min(1).max(1 << 20),
  loraAlpha: z.number().positive().default(8),
  init: z.enum(PROMPT_INITS as [PromptInit, ...PromptInit[]]).default('TEXT'),
  initText: z.string().default(DEPT_INIT_TEXT),
});
export type DeptConfig = z.output<typeof DeptConfigSchema>;

export function validateDeptConfig(value: unknown): DeptConfig {
  const cfg = parseWith(DeptConfigSchema, value, 'peft');
  if (cfg.numVirtualTokens === 0 && cfg.rank === 0) {
    throw new SoftpromptError('invalid_config', 'peft: DePT needs numVirtualTokens > 0 or rank > 0, got both 0.', { path: 'peft.rank' });
  }
  return cfg;
}

/** scaling = lora_alpha / sqrt(r) (the reference's rsLoRA-style factor; r = 0 gives 0). */
export function deptScaling(loraAlpha: number, rank: number): number {
  return rank > 0 ? loraAlpha / Math.sqrt(rank) : 0;
}

/** Trainable scalars: l·d + r·(s + d). */
export function deptParamCount(l: number, r: number, s: number, d: number): number {
  return l * d + r * (s + d);
}

/**
 * The rank that makes DePT's parameter count equal a vanilla PT budget of `ptTokens` (spec §1.6):
 * r = (L − l)·d / (s + d), rounded down when not an integer (e.g. 100 tokens, l=60, s=256, d=768 → r=30).
 */
export function deptRankForBudget(ptTokens: number, l: number, s: number, d: number): number {
  if (l > ptTokens) {
    throw new SoftpromptError('invalid_config', `DePT prompt length ${l} exceeds the PT budget of ${ptTokens} tokens.`, { path: 'peft.numVirtualTokens' });
  }
  return Math.floor(((ptTokens - l) * d) / (s + d));
}

export class Dept implements PeftMethod {
  readonly type = 'dept';
  readonly prompt: TrainableTensor; // P (l, C)
  readonly loraA: TrainableTensor; // A (s, r)
  readonly loraB: TrainableTensor; // B (r, C)
  readonly scaling: number;

  constructor(readonly config: DeptConfig, readonly dModel: number, P: Float32Array, A: Float32Array, B: Float32Array) {
    const { numVirtualTokens: l, rank: r, maxLength: s } = config;
    const C = dModel;
    const check = (what: string, got: number, want: number) => {
      if (got !== want) throw new SoftpromptError('shape_mismatch', `DePT ${what} has ${got} values, expected ${want} for l=${l}, r=${r}, s=${s}, d=${C}.`, { path: what });
    };
    check('prompt_embeddings', P.length, l * C);
    check('lora_embedding_A', A.length, s * r);
    check('lora_embedding_B', B.length, r * C);
    this.prompt = { name: 'prompt_embeddings', group: 'prompt', shape: [l, C], data: P, grad: new Float32Array(l * C) };
    this.loraA = { name: 'lora_embedding_A', group: 'lowrank', shape: [s, r], data: A, grad: new Float32Array(s * r) };
    this.loraB = { name: 'lora_embedding_B', group: 'lowrank', shape: [r, C], data: B, grad: new Float32Array(r * C) };
    this.scaling = deptScaling(config.loraAlpha, r);
  }

  static init(config: DeptConfig, ctx: InitContext): Dept {
    const { numVirtualTokens: l, rank: r, maxLength: s } = config;
    const P = l > 0 ? initPrompt(l, config.init, ctx, config.initText) : new Float32Array(0);
    const A = new Float32Array(s * r);
    const bound = r > 0 ? 1 / Math.sqrt(r) : 0; // kaiming_uniform_(a=√5), fan_in = r
    for (let i = 0; i < A.length; i++) A[i] = (2 * ctx.rng.nextFloat() - 1) * bound;
    return new Dept(config, ctx.dModel, P, A, new Float32Array(r * ctx.dModel));
  }

  get numVirtualTokens(): number {
    return this.config.numVirtualTokens;
  }

  get maxInputLength(): number {
    return this.config.maxLength;
  }

  params(): TrainableTensor[] {
    return [this.prompt, this.loraA, this.loraB];
  }

  numParams(): number {
    return this.prompt.data.length + this.loraA.data.length + this.loraB.data.length;
  }

  /** scaling · A[:T] @ B, (T, C) */
  offset(T: number): Float32Array {
    const r = this.config.rank, C = this.dModel;
    const off = new Float32Array(T * C);
    if (r > 0 && T > 0) engine().gemm(false, false, T, C, r, this.scaling, this.loraA.data, r, this.loraB.data, C, 0, off, C);
    return off;
  }

  private checkLength(T: number): void {
    if (T > this.config.maxLength) {
      throw new SoftpromptError('invalid_data', `Input of ${T} tokens is longer than DePT's max_length s=${this.config.maxLength} (A has one row per position).`, {
        path: 'max_length', hint: 'Truncate inputs to max_length (the data pipeline does this with --max-length), or train an adapter with a larger max_length.',
      });
    }
  }

  apply(E: Float32Array, mask: Float32Array, B: number, T: number): TransformedInput {
    this.checkLength(T);
    const C = this.dModel;
    const off = this.offset(T);
    const Eo = new Float32Array(E.length);
    for (let b = 0; b < B; b++) {
      const base = b * T * C;
      for (let i = 0; i < T * C; i++) Eo[base + i] = E[base + i]! + off[i]!;
    }
    return prependPrompt(this.prompt.data, this.numVirtualTokens, Eo, mask, B, T, C);
  }

  backward(dX: Float32Array, B: number, T: number): void {
    this.checkLength(T);
    const l = this.numVirtualTokens, r = this.config.rank, C = this.dModel;
    if (l > 0) accumulateRows(this.prompt.grad, dX, B, l + T, 0, l, C);
    if (r === 0 || T === 0) return;
    const dOff = new Float32Array(T * C); // Σ_b dX[b, l:l+T]
    accumulateRows(dOff, dX, B, l + T, l, T, C);
    const e = engine();
    // dA[:T] += scaling · dOff (T, C) @ Bᵀ (C, r);  dB += scaling · A[:T]ᵀ (r, T) @ dOff (T, C)
    e.gemm(false, true, T, r, C, this.scaling, dOff, C, this.loraB.data, C, 1, this.loraA.grad, r);
    e.gemm(true, false, r, C, T, this.scaling, this.loraA.data, r, dOff, C, 1, this.loraB.grad, C);
  }
}
