/**
 * Trainable tensors as the training machinery sees them: a name, a parameter group, a shape, a flat fp32 buffer
 * and a gradient buffer of the same length. Models and PEFT methods hand these over; the optimizer, clipper and
 * checkpointer never look further.
 *
 * DePT (spec §1.7) has two groups: the prompt P at `--learning_rate`, and the low-rank pair A, B at
 * `--lora_embedding_lr`. Frozen base weights are not Params at all.
 */

export interface Param {
  /** Unique, stable name; it is the tensor key in params.safetensors, e.g. "prompt_encoder.default.embedding.weight". */
  name: string;
  /** Name of the ParamGroup that sets this tensor's lr and weight decay. */
  group: string;
  /** Logical shape; the product equals data.length. */
  shape: number[];
  /** Values, row-major fp32. Updated in place by the optimizer. */
  data: Float32Array;
  /** Gradient of the loss w.r.t. data, same length. Backward accumulates (+=) into it; the loop zeroes it per step. */
  grad: Float32Array;
}

export interface ParamGroup {
  name: string;
  /** Peak learning rate; the schedule multiplies it by lrFactor(step). */
  lr: number;
  /** Decoupled weight decay (0 in DePT: the legacy AdamW was built without it, spec §1.7). */
  weightDecay: number;
}

/** A Param with zeroed data and grad buffers sized from its shape. */
export function makeParam(name: string, group: string, shape: number[], init?: ArrayLike<number>): Param {
  const n = numel(shape);
  const data = new Float32Array(n);
  if (init !== undefined) data.set(init);
  return { name, group, shape: [...shape], data, grad: new Float32Array(n) };
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** gpt2_zero_grad: one fill per tensor. */
export function zeroGrads(params: readonly Param[]): void {
  for (const p of params) p.grad.fill(0);
}
