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
import { engine } from '../../engine/index.js';
import { SoftpromptError } from '../../errors.js';
import { accumulateRows, prependPrompt, type InitContext, type PeftMethod, type TrainableTensor, type TransformedInput } from '../method.js';
import { initPrompt } from '../prompt-init.js';
import { deptScaling, type DeptConfig } from './config.js';

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

  attach(): void {} // a prompt method: the model is untouched

  detach(): void {}

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

  /** ‖(scaling·A·B)[p]‖ at each position p < s: how far training moved the input embeddings there */
  offsetRowNorms(positions: readonly number[]): Array<[number, number]> {
    const ps = positions.filter((p) => p < this.config.maxLength);
    if (ps.length === 0) return [];
    const C = this.dModel;
    const off = this.offset(Math.max(...ps) + 1);
    return ps.map((p) => {
      let ss = 0;
      for (let j = 0; j < C; j++) ss += off[p * C + j]! ** 2;
      return [p, Math.sqrt(ss)];
    });
  }
}
