/** What every model exposes to methods, tasks and the trainer. Models never import methods. */

import { SoftpromptError } from '../errors.js';

/** Where weights come from: a safetensors file or an HF folder (src/io/hf-folder.ts implements it). */
export interface WeightSource {
  has(name: string): boolean;
  /** the tensor as float32, after checking its shape; throws missing_tensor / shape_mismatch naming the file */
  getF32Checked(name: string, expectedShape: readonly number[], hint?: string): Float32Array;
}

export interface ModelInfo {
  readonly architecture: 't5' | 'gpt2' | 'llama';
  readonly kind: 'seq2seq' | 'causal';
  /** embedding width C */
  readonly dModel: number;
  readonly vocabSize: number;
  readonly padId: number;
  readonly eosId: number;
  readonly numLayers: number;
  readonly numHeads: number;
  /** longest input the model supports, if it has one (absolute position embeddings) */
  readonly maxPositions?: number;
}

export interface ForwardOptions {
  /** dropout on (training mode) */
  train?: boolean;
  /** base seed for dropout masks; a step's masks depend only on it */
  seed?: number;
  /** keep full logits (B*S, V) in the result (golden tests, rank scoring) */
  keepLogits?: boolean;
  /** return every block's input and the final output of both stacks */
  outputHiddenStates?: boolean;
}

/** A seq2seq batch whose encoder input is already embedded (and prompt-extended by a method). */
export interface Seq2SeqBatch {
  B: number;
  /** encoder length, prompt included */
  Te: number;
  /** (B, Te, C) */
  inputsEmbeds: Float32Array;
  /** (B, Te), 1 = real token or prompt, 0 = padding */
  encoderMask: Float32Array;
  /** decoder length */
  S: number;
  /** (B, S) target ids, -100 = ignored */
  labels: Int32Array;
}

export interface Seq2SeqOutput {
  loss: number;
  /** (B, S) per-token cross-entropy, 0 where ignored */
  tokenNll: Float32Array;
  /** (B, S) logsumexp of the full logits */
  logsumexp: Float32Array;
  numTokens: number;
  /** (B, S, V) when keepLogits */
  logits?: Float32Array;
  /** (B, Te, C) encoder output after the final norm */
  encoderOut: Float32Array;
  encoderHiddenStates?: Float32Array[];
  decoderHiddenStates?: Float32Array[];
}

export interface GenerateOptions {
  maxNewTokens: number;
  /** record the full next-token logits (steps, B, V) */
  keepStepLogits?: boolean;
  /** told each step's (B) new ids as they are decided (streaming); finished rows hold the pad id */
  onStep?: (ids: Int32Array) => void;
}

export interface GenerateOutput {
  /** (B, steps) generated ids, start token excluded; finished rows are filled with pad */
  ids: Int32Array;
  steps: number;
  /** (steps, B, V) when keepStepLogits */
  stepLogits?: Float32Array;
}

export interface Seq2SeqLM extends WeightTraining {
  readonly info: ModelInfo;
  /** (N, C) embedding rows of ids; out-of-range ids throw */
  embed(ids: Int32Array): Float32Array;
  forward(batch: Seq2SeqBatch, opts?: ForwardOptions): Seq2SeqOutput;
  /** forward + backward; returns dLoss/dInputsEmbeds (B, Te, C), and accumulates dW of the trainable weights (see WeightTraining) */
  lossAndGrad(batch: Seq2SeqBatch, opts?: ForwardOptions): Seq2SeqOutput & { dInputsEmbeds: Float32Array };
  generate(inputsEmbeds: Float32Array, encoderMask: Float32Array, B: number, Te: number,
    opts: GenerateOptions): GenerateOutput;
  /** in precision 'bf16': the activations saved for backward held as bf16 (T5); absent where not implemented */
  savedActivations?: 'fp32' | 'bf16';
}

/** A decoder-only batch whose input is already embedded (and prompt-extended by a method). */
export interface CausalBatch {
  B: number;
  /** sequence length, prompt included */
  T: number;
  /** (B, T, C) */
  inputsEmbeds: Float32Array;
  /** (B, T), 1 = attend, 0 = padding key */
  attentionMask: Float32Array;
  /** (B, T) target ids aligned with the inputs, -100 = ignored; the model shifts them (HF: logits[:, :-1] vs labels[:, 1:]) */
  labels: Int32Array;
  /** (B, T) absolute positions; default arange(T) for every row (HF forward without position_ids) */
  positionIds?: Int32Array;
}

export interface CausalOutput {
  loss: number;
  /** (B, T) aligned with labels: tokenNll[b, t] = -log p(labels[b, t] | x[b, <t]); 0 where ignored and at t = 0 */
  tokenNll: Float32Array;
  numTokens: number;
  /** (B, T, V) when keepLogits */
  logits?: Float32Array;
  /** (L+1) entries of (B, T, C): every block's input, then the final norm's output */
  hiddenStates?: Float32Array[];
}

export interface CausalGenerateOptions {
  maxNewTokens: number;
  /** stop a row at this id (pads it afterwards); none: always maxNewTokens */
  eosId?: number | null;
  /** record the full next-token logits (steps, B, V) */
  keepStepLogits?: boolean;
  /** told each step's (B) new ids as they are decided (streaming); finished rows hold the pad id */
  onStep?: (ids: Int32Array) => void;
}

export interface CausalLM extends WeightTraining {
  readonly info: ModelInfo;
  /** (N, C) token embeddings of ids (no position embedding added) */
  embed(ids: Int32Array): Float32Array;
  forward(batch: CausalBatch, opts?: ForwardOptions): CausalOutput;
  /** forward + backward; dLoss/dInputsEmbeds (B, T, C), and dW of the trainable weights (see WeightTraining) */
  lossAndGrad(batch: CausalBatch, opts?: ForwardOptions): CausalOutput & { dInputsEmbeds: Float32Array };
  /** greedy decoding after a prompt given as embeddings (B, T, C) with its mask; KV cache */
  generate(inputsEmbeds: Float32Array, attentionMask: Float32Array, B: number, T: number, opts: CausalGenerateOptions): GenerateOutput;
}

// ---------------------------------------------------------------------------------------------------------------
// Weight training: what methods that train weights (LoRA side paths, full fine-tuning) see of a model.
// Every model family implements it; a prompt method never calls it, so its steps stay as before.

/** A weight the model holds, by its Hugging Face tensor name (tied copies appear once, under the stored name). */
export interface ModelWeight {
  /** HF tensor name, e.g. `encoder.block.0.layer.0.SelfAttention.q.weight` */
  readonly name: string;
  /** HF shape, e.g. [D, C]; GPT-2 Conv1D weights are [in, out] */
  readonly shape: readonly number[];
  /** the live buffer the model computes with (a view into a fused buffer where the model fuses, e.g. T5 q|k|v) */
  readonly data: Float32Array;
  /** data holds the transpose of the HF tensor (GPT-2 Conv1D weights are held as nn.Linear (out, in)) */
  readonly transposed: boolean;
}

/** A linear layer by its HF module path (for LoRA targets): y (N, outFeatures) = x (N, inFeatures) W^T (+ b). */
export interface LinearModule {
  /** e.g. `encoder.block.0.layer.0.SelfAttention.q`, `transformer.h.0.attn.c_attn`, `model.layers.0.self_attn.q_proj` */
  readonly name: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

/** One call of a side path: which module, and the forward's mode. */
export interface SideCall {
  readonly module: string;
  /** training mode (dropout on) */
  readonly train: boolean;
  /** base seed of this forward's dropout (a step's masks depend only on it) */
  readonly seed: number;
  /** a backward will follow: keep what it needs (x is a reused buffer; copy it) */
  readonly saveForBackward: boolean;
}

/**
 * A side path on a linear layer (LoRA): the model calls forward right after the module's own GEMM and backward
 * right after the module's own input-gradient GEMM. Each module is called at most once per forward (the model
 * guarantees it), so a path may key what it saves by `call.module`.
 */
export interface LinearSidePath {
  /** y[n*ldy + j] += f(x)[n, j] for n < N, j < outFeatures; x (N, inFeatures) contiguous, valid only during the call */
  forward(x: Float32Array, y: Float32Array, ldy: number, N: number, call: SideCall): void;
  /** dx (N, inFeatures) += ∂(Σ dy·f(x))/∂x, and the path's own parameter gradients accumulated; dy rows ldy apart */
  backward(dy: Float32Array, ldy: number, dx: Float32Array, N: number, call: SideCall): void;
}

export interface WeightTraining {
  /** every weight the model holds, in load order */
  weights(): ModelWeight[];
  /** every linear layer a side path can target */
  linearModules(): LinearModule[];
  /**
   * From now on backward accumulates (+=) dLoss/dW into a gradient buffer per named weight (same layout as
   * ModelWeight.data) and returns them by name; [] makes every weight frozen again (the default). Unknown names
   * throw invalid_config listing the valid ones. Weights not named get no gradient work at all.
   */
  setTrainable(names: readonly string[]): Map<string, Float32Array>;
  /** side paths by module name (LoRA); null removes them. Unknown module names throw invalid_config listing the valid ones. */
  setSidePaths(paths: ReadonlyMap<string, LinearSidePath> | null): void;
  /**
   * The input-embedding table's gradient += scatter of dInputsEmbeds rows [skip, skip + T) of each example by
   * ids (B, T); dInputsEmbeds is (B, skip + T, C) (skip = virtual tokens before the real ones). A no-op unless
   * the table is trainable. The trainer calls it after every lossAndGrad.
   */
  embedBackward(ids: Int32Array, dInputsEmbeds: Float32Array, B: number, T: number, skip: number): void;
  /**
   * Weights were written outside a training step (a checkpoint restored, the best weights copied back): a model
   * that computes with copies of its trainable weights (mixed precision) refreshes them before the next use.
   */
  weightsChanged?(): void;
}

/**
 * Throws invalid_config unless the weights hold layer `count - 1` (`tensorOf(i)` names one tensor of layer i).
 * Run before the tensor table is built: a config claiming 1,000,000 layers would otherwise build a table of
 * millions of names (2.3 GB) before the first missing tensor is noticed.
 */
export function checkLayerCount(src: WeightSource, key: string, count: number, tensorOf: (layer: number) => string): void {
  if (count > 0 && !src.has(tensorOf(count - 1))) {
    throw new SoftpromptError('invalid_config', `${key} = ${count} in config.json, but the weights have no layer ${count - 1} (no ${tensorOf(count - 1)}).`, {
      path: key, hint: 'does the checkpoint belong to this config?',
    });
  }
}
