/**
 * The small interface every PEFT method implements (HF PEFT's tuners/<method>/ pattern: a config, a module, a
 * registration). A method sees the base model only through numbers (C = d_model) and an embedding lookup; it
 * owns its trainable tensors, transforms the embedded input, and turns dLoss/dInputsEmbeds into their gradients.
 */

/** A trainable tensor with its optimizer parameter group (DePT: "prompt" vs "lowrank", two learning rates). */
export interface TrainableTensor {
  name: string;
  group: string;
  shape: number[];
  data: Float32Array;
  grad: Float32Array;
}

/** Randomness a method's init needs; src/train/rng.ts implements it. */
export interface InitRng {
  /** uniform in [0, 1) */
  nextFloat(): number;
  /** standard normal */
  normal(): number;
}

/** What a method may know of the model and tokenizer when it initialises. */
export interface InitContext {
  dModel: number;
  vocabSize: number;
  /** (N, C) rows of the frozen input embedding table */
  embed(ids: Int32Array): Float32Array;
  /** tokenizer ids of a text, special tokens included (TEXT init) */
  tokenize?(text: string): number[];
  rng: InitRng;
}

/** The encoder input after the method: (B, Te, C) embeddings and the (B, Te) mask. */
export interface TransformedInput {
  inputsEmbeds: Float32Array;
  mask: Float32Array;
  Te: number;
}

export interface PeftMethod {
  readonly type: string;
  /** virtual tokens prepended to the input */
  readonly numVirtualTokens: number;
  /** longest input (without the prompt) the method accepts; Infinity when unbounded */
  readonly maxInputLength: number;
  params(): TrainableTensor[];
  /** E (B, T, C) frozen token embeddings, mask (B, T) → the model's encoder input */
  apply(E: Float32Array, mask: Float32Array, B: number, T: number): TransformedInput;
  /** accumulate (+=) the gradients of params() from dLoss/dInputsEmbeds (B, l+T, C) */
  backward(dInputsEmbeds: Float32Array, B: number, T: number): void;
  /** number of trainable scalars */
  numParams(): number;
}

/** Copy P (l, C) into the first l rows of each example of X (B, l+T, C) and E after them; extend the mask. */
export function prependPrompt(P: Float32Array, l: number, E: Float32Array, mask: Float32Array, B: number, T: number,
  C: number): TransformedInput {
  const Te = l + T;
  const X = new Float32Array(B * Te * C); // (B, l+T, C)
  const M = new Float32Array(B * Te); // (B, l+T)
  for (let b = 0; b < B; b++) {
    X.set(P.subarray(0, l * C), b * Te * C);
    X.set(E.subarray(b * T * C, (b + 1) * T * C), (b * Te + l) * C);
    M.fill(1, b * Te, b * Te + l);
    M.set(mask.subarray(b * T, (b + 1) * T), b * Te + l);
  }
  return { inputsEmbeds: X, mask: M, Te };
}

/** grad (len, C) += Σ_b dX[b, start:start+len, :] */
export function accumulateRows(grad: Float32Array, dX: Float32Array, B: number, Te: number, start: number, len: number,
  C: number): void {
  for (let b = 0; b < B; b++) {
    const base = (b * Te + start) * C;
    for (let i = 0; i < len * C; i++) grad[i] += dX[base + i]!;
  }
}
