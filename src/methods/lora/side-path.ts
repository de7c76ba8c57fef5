/**
 * One LoRA pair on one linear layer, as a side path the model calls after the layer's own GEMM (PEFT
 * `lora.Linear.forward`: result += lora_B(lora_A(dropout(x))) · scaling). Dims: N rows, I = in, O = out, r.
 *
 *   forward   u = drop(x) Aᵀ           (N, r)
 *             y += s · u Bᵀ            (N, O), rows ldy apart (a view into a fused q|k|v output is fine)
 *   backward  dB += s · dyᵀ u          (O, r)
 *             du = s · dy B            (N, r)
 *             dA += duᵀ drop(x)        (r, I)
 *             dx += drop'(du A)        (N, I)
 */
import { engine } from '../../engine/index.js';
import type { LinearSidePath, SideCall } from '../../models/types.js';
import type { InitRng, TrainableTensor } from '../method.js';

export const LORA_GROUP = 'lora';

/** Dropout seeds per module: distinct per site, a pure function of the forward's base seed. */
function siteSeed(base: number, site: number): number {
  return (base % 0x100000000) * 0x100000 + 0x80000 + site;
}

export class LoraLinear implements LinearSidePath {
  readonly A: TrainableTensor; // (r, I)
  readonly B: TrainableTensor; // (O, r)
  private xSaved: Float32Array | null = null; // drop(x) (N, I), forward's copy for backward
  private keep: Uint8Array | null = null; // dropout mask (N, I)
  private uSaved: Float32Array | null = null; // (N, r)
  private savedRows = 0;

  constructor(readonly module: string, readonly inFeatures: number, readonly outFeatures: number, readonly r: number,
    readonly scaling: number, readonly dropout: number, readonly site: number, A: Float32Array, B: Float32Array) {
    this.A = { name: `${module}.lora_A.weight`, group: LORA_GROUP, shape: [r, inFeatures], data: A, grad: new Float32Array(A.length) };
    this.B = { name: `${module}.lora_B.weight`, group: LORA_GROUP, shape: [outFeatures, r], data: B, grad: new Float32Array(B.length) };
  }

  /** PEFT's default init: A kaiming_uniform_(a=√5) on (r, I), i.e. U(±1/√I); B = 0, so training starts at the base model. */
  static init(module: string, I: number, O: number, r: number, scaling: number, dropout: number, site: number, rng: InitRng): LoraLinear {
    const A = new Float32Array(r * I);
    const bound = 1 / Math.sqrt(I);
    for (let i = 0; i < A.length; i++) A[i] = (2 * rng.nextFloat() - 1) * bound;
    return new LoraLinear(module, I, O, r, scaling, dropout, site, A, new Float32Array(O * r));
  }

  forward(x: Float32Array, y: Float32Array, ldy: number, N: number, call: SideCall): void {
    const { inFeatures: I, outFeatures: O, r } = this;
    const e = engine();
    let xd = x;
    if (call.train && this.dropout > 0) {
      xd = new Float32Array(N * I);
      const keep = new Uint8Array(N * I);
      e.dropoutForward(xd, keep, x, this.dropout, siteSeed(call.seed, this.site), N * I);
      if (call.saveForBackward) this.keep = keep;
    } else if (call.saveForBackward) {
      this.keep = null;
    }
    const u = new Float32Array(N * r);
    e.gemm(false, true, N, r, I, 1, xd, I, this.A.data, I, 0, u, r);
    e.gemm(false, true, N, O, r, this.scaling, u, r, this.B.data, r, 1, y, ldy);
    if (call.saveForBackward) {
      this.xSaved = xd === x ? x.slice(0, N * I) : xd;
      this.uSaved = u;
      this.savedRows = N;
    }
  }

  backward(dy: Float32Array, ldy: number, dx: Float32Array, N: number, _call: SideCall): void {
    const { inFeatures: I, outFeatures: O, r } = this;
    if (this.xSaved === null || this.uSaved === null || this.savedRows !== N) {
      throw new Error(`LoRA ${this.module}: backward without a matching forward (saved ${this.savedRows} rows, got ${N})`);
    }
    const e = engine();
    e.gemm(true, false, O, r, N, this.scaling, dy, ldy, this.uSaved, r, 1, this.B.grad, r);
    const du = new Float32Array(N * r);
    e.gemm(false, false, N, r, O, this.scaling, dy, ldy, this.B.data, r, 0, du, r);
    e.gemm(true, false, r, I, N, 1, du, r, this.xSaved, I, 1, this.A.grad, I);
    if (this.keep === null) {
      e.gemm(false, false, N, I, r, 1, du, r, this.A.data, I, 1, dx, I);
    } else {
      const dxd = new Float32Array(N * I);
      e.gemm(false, false, N, I, r, 1, du, r, this.A.data, I, 0, dxd, I);
      const dxIn = new Float32Array(N * I);
      e.dropoutBackward(dxIn, dxd, this.keep, this.dropout, N * I);
      e.axpy(dx, dxIn, 1, N * I);
    }
    this.xSaved = this.uSaved = null;
    this.keep = null;
    this.savedRows = 0;
  }

  /** W (O, I) += s · B A: the merged weight (nn.Linear layout). */
  mergeInto(W: Float32Array): void {
    const { inFeatures: I, outFeatures: O, r } = this;
    engine().gemm(false, false, O, I, r, this.scaling, this.B.data, r, this.A.data, I, 1, W, I);
  }
}
