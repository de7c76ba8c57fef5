/**
 * The small interface every PEFT method implements (HF PEFT's tuners/<method>/ pattern: a config, a module, a
 * registration in registry.ts). A prompt method sees the base model only through numbers (C = d_model) and an
 * embedding lookup; it owns its trainable tensors, transforms the embedded input, and turns dLoss/dInputsEmbeds
 * into their gradients. A weight method (LoRA, full fine-tuning) instead attaches to the model (attach/detach):
 * side paths on linear layers or trainable weights, reached through the model's WeightTraining interface.
 */
import { SoftpromptError } from '../errors.js';
import type { CausalLM, Seq2SeqLM, WeightTraining } from '../models/types.js';

/** The model a method attaches to: either family (it also implements WeightTraining once weight gradients land). */
export type MethodModel = Seq2SeqLM | CausalLM;

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
  /** the model itself, for weight methods that size their tensors from its linear layers / weights */
  model?: MethodModel;
}

/** The encoder input after the method: (B, Te, C) embeddings and the (B, Te) mask. */
export interface TransformedInput {
  inputsEmbeds: Float32Array;
  mask: Float32Array;
  Te: number;
}

export interface PeftMethod {
  /** the registry name of the method (registry.ts), e.g. 'dept' */
  readonly type: string;
  /** the model width C the method was built for */
  readonly dModel: number;
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
  /**
   * Install the method on the model before training or predicting (LoRA: side paths; full fine-tuning:
   * setTrainable, after which params() holds the model's weights); detach undoes it. Prompt methods do nothing.
   * The trainer attaches once per run; eval, predict and serve attach around each use (see src/predict/).
   */
  attach(model: MethodModel): void;
  detach(model: MethodModel): void;
  /**
   * Fold the method into the model's own weights for good (LoRA: W += s·B A), for `softprompt export --merge`.
   * Absent for methods that cannot be merged (prompt methods add input positions, not weights).
   */
  mergeInto?(model: MethodModel): void;
}

/** The model's WeightTraining side, or an `unsupported` error naming the architecture (for weight methods). */
export function weightTraining(model: MethodModel, method: string): WeightTraining {
  const m = model as MethodModel & Partial<WeightTraining>;
  if (typeof m.setTrainable === 'function' && typeof m.setSidePaths === 'function' && typeof m.weights === 'function'
    && typeof m.linearModules === 'function' && typeof m.embedBackward === 'function') {
    return m as MethodModel & WeightTraining;
  }
  throw new SoftpromptError('unsupported', `The ${method} method trains weights, but this ${model.info.architecture} model does not expose weight gradients (WeightTraining).`, { path: 'method' });
}

/**
 * model.embedBackward(ids, dX, B, T, skip) when the model implements it (a no-op unless its embedding table is
 * trainable). Until every model implements WeightTraining, models without it are skipped.
 */
export function embedBackward(model: MethodModel, ids: Int32Array, dInputsEmbeds: Float32Array, B: number, T: number, skip: number): void {
  const m = model as MethodModel & Partial<Pick<WeightTraining, 'embedBackward'>>;
  if (typeof m.embedBackward === 'function') m.embedBackward(ids, dInputsEmbeds, B, T, skip);
}

/** attach, run, detach (also when fn throws). */
export function withMethod<R>(model: MethodModel, method: PeftMethod, fn: () => R): R {
  method.attach(model);
  try {
    return fn();
  } finally {
    method.detach(model);
  }
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
