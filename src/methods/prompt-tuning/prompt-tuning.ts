/**
 * Vanilla prompt tuning (Lester et al. 2021; PEFT `PROMPT_TUNING`): l trainable virtual-token embeddings
 * P (l, C) prepended to the encoder input. Only the encoder gets the prompt; labels and decoder are untouched.
 *
 *   X = concat(P broadcast to B, E)      (B, l+T, C)
 *   M = concat(ones(B, l), mask)         (B, l+T)
 *   dP = Σ_b dX[b, :l]                   (l, C)
 */
import { accumulateRows, prependPrompt, type InitContext, type PeftMethod, type TrainableTensor, type TransformedInput } from '../method.js';
import { initPrompt } from '../prompt-init.js';
import type { PromptTuningConfig } from './config.js';

export class PromptTuning implements PeftMethod {
  readonly type = 'prompt_tuning';
  readonly maxInputLength = Infinity;
  readonly prompt: TrainableTensor;

  constructor(readonly config: PromptTuningConfig, readonly dModel: number, P: Float32Array) {
    const l = config.numVirtualTokens;
    this.prompt = { name: 'prompt_embeddings', group: 'prompt', shape: [l, dModel], data: P, grad: new Float32Array(l * dModel) };
  }

  static init(config: PromptTuningConfig, ctx: InitContext): PromptTuning {
    return new PromptTuning(config, ctx.dModel, initPrompt(config.numVirtualTokens, config.init, ctx, config.initText));
  }

  attach(): void {} // a prompt method: the model is untouched

  detach(): void {}

  get numVirtualTokens(): number {
    return this.config.numVirtualTokens;
  }

  params(): TrainableTensor[] {
    return [this.prompt];
  }

  numParams(): number {
    return this.prompt.data.length;
  }

  apply(E: Float32Array, mask: Float32Array, B: number, T: number): TransformedInput {
    return prependPrompt(this.prompt.data, this.numVirtualTokens, E, mask, B, T, this.dModel);
  }

  backward(dX: Float32Array, B: number, T: number): void {
    const l = this.numVirtualTokens;
    accumulateRows(this.prompt.grad, dX, B, l + T, 0, l, this.dModel);
  }
}
