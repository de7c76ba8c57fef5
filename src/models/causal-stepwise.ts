/**
 * Decoder-only models one step at a time over rows of different requests and adapters (continuous batching in
 * src/serve/batcher.ts): GPT-2 (gpt2-stepwise.ts) and LLaMA (llama-stepwise.ts) behind one interface.
 *
 *   const { lanes, logits } = stepper.prefill([{ embeds, Te, sides, room: 20 }]); // (R, V): each row's first token
 *   const next = stepper.step(lanes, tokens);                                    // (L, V); each lane.t advances
 */
import { GPT2Model } from './gpt2.js';
import { GPT2Stepper } from './gpt2-stepwise.js';
import { LlamaModel } from './llama.js';
import { LlamaStepper } from './llama-stepwise.js';
import type { SidePaths } from './t5-stepwise.js';
import type { CausalLM } from './types.js';

export interface CausalPromptInput {
  /** (Te, C) the method-transformed input embeddings of one row (prompt included), no padding */
  embeds: Float32Array;
  Te: number;
  sides: SidePaths;
  /** tokens the row may still feed after its prompt (its maxNewTokens): the cache's room past the prompt */
  room: number;
}

/** One row's decoding state (its own key/value cache inside). */
export interface CausalLane {
  /** positions held in the cache = the position of the next token fed */
  t: number;
  readonly sides: SidePaths;
}

export interface CausalStepper {
  /** The model over rows packed one after another: each row's lane and the (R, V) logits of its last position. */
  prefill(rows: readonly CausalPromptInput[]): { lanes: CausalLane[]; logits: Float32Array };
  /**
   * Feed tokens[i] to lanes[i] (lanes from this stepper's prefill) at its position t; return the (L, V)
   * next-token logits (a workspace view, valid until the next call). Each lane's t advances by one.
   */
  step(lanes: readonly CausalLane[], tokens: Int32Array): Float32Array;
}

/** The model's stepper, or null for a decoder-only model without one. */
export function causalStepper(model: CausalLM): CausalStepper | null {
  if (model instanceof GPT2Model) return new GPT2Stepper(model);
  if (model instanceof LlamaModel) return new LlamaStepper(model);
  return null;
}
