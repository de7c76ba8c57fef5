/**
 * The prediction seam: one entry point per step for either model family (seq2seq.ts: T5; causal.ts: GPT-2,
 * LLaMA), used by train-time evaluation, `eval`, `predict` and `serve` alike, so the same adapter gives the same
 * answer everywhere. Never imports src/train/.
 *
 *   const limit = inputLimit(method, requested);                  // one max-length rule
 *   const ex = encodeSources(lm.kind, tok, sources, limit);
 *   const preds = withMethod(lm.model, method, () => predictAny(lm, method, tok, ex, labelWords, opts));
 */
import type { PeftMethod } from '../methods/method.js';
import type { AnyModel } from '../models/registry.js';
import type { ForwardOptions } from '../models/types.js';
import type { EncodedExample, TextTokenizer, TruncationCount } from '../tasks/encode.js';
import { encodeExamples } from '../tasks/encode.js';
import { encodeCausalExamples } from '../tasks/encode-causal.js';
import type { Example } from '../tasks/types.js';
import { causalLoss, causalLossAndGrad, encodeCausalSourceIds, predictGenerateCausal, predictRankCausal, type CausalPredictOptions } from './causal.js';
import { encodeSeq2SeqSource, predictGenerate, predictRank, seq2seqLoss, seq2seqLossAndGrad, type Decoder } from './seq2seq.js';

export { withMethod } from '../methods/method.js';
export { predictGenerate, predictRank, type Decoder, type PredictOptions } from './seq2seq.js';
export { predictGenerateCausal, predictRankCausal, type CausalPredictOptions } from './causal.js';

/**
 * Tokens an input is truncated to when nothing else says (train's --max-length default, predict, eval and serve
 * alike). A method with its own limit (DePT's s) uses that.
 */
export const DEFAULT_MAX_LENGTH = 256;

/** The input limit for `method`: its own (DePT's s) capped by `requested`, else `requested`, else the default. */
export function inputLimit(method: Pick<PeftMethod, 'maxInputLength'>, requested?: number): number {
  const own = method.maxInputLength;
  if (Number.isFinite(own)) return requested === undefined ? own : Math.min(requested, own);
  return requested ?? DEFAULT_MAX_LENGTH;
}

/** Source texts → examples without targets, in the family's input format, truncated to maxLength. */
export function encodeSources(kind: AnyModel['kind'], tok: TextTokenizer, sources: readonly string[], maxLength: number): EncodedExample[] {
  const encode = kind === 'causal' ? encodeCausalSourceIds : encodeSeq2SeqSource;
  return sources.map((s) => ({ source: encode(tok, s, maxLength), target: new Int32Array(0) }));
}

/** Task examples → source and target ids in the family's format (train and eval). */
export function encodeSplit(kind: AnyModel['kind'], tok: TextTokenizer, examples: readonly Example[], maxLength: number, targetLength: number,
  count?: TruncationCount): EncodedExample[] {
  return kind === 'causal' ? encodeCausalExamples(examples, tok, maxLength, count) : encodeExamples(examples, tok, maxLength, targetLength, count);
}

/** Predictions for either model family: rank when `labelWords` is given, else greedy generation. The method must be attached. */
export function predictAny(m: AnyModel, method: PeftMethod, tok: Decoder, examples: readonly EncodedExample[],
  labelWords: readonly string[] | null, opts: CausalPredictOptions): string[] {
  if (m.kind === 'causal') {
    return labelWords !== null ? predictRankCausal(m.model, method, tok, examples, labelWords, opts) : predictGenerateCausal(m.model, method, tok, examples, opts);
  }
  return labelWords !== null ? predictRank(m.model, method, tok, examples, labelWords, opts) : predictGenerate(m.model, method, tok, examples, opts);
}

export interface LossOptions {
  batchSize: number;
  padId: number;
  padTo?: number;
  /** seq2seq decoder length (the task's longest label) */
  targetLength?: number;
}

/**
 * Mean per-token cross-entropy of the examples' targets over all their tokens (Σ NLL / Σ tokens), in eval mode:
 * what PEFT/transformers report as `.loss` per batch, averaged over tokens. The method must be attached.
 */
export function meanTokenLoss(m: AnyModel, method: PeftMethod, examples: readonly EncodedExample[], opts: LossOptions): { loss: number; tokens: number } {
  const { nll, tokens } = m.kind === 'causal' ? causalLoss(m.model, method, examples, opts) : seq2seqLoss(m.model, method, examples, opts);
  return { loss: tokens > 0 ? nll / tokens : NaN, tokens };
}

/** One training batch through either family: forward, backward into the method (and the embedding table). */
export function lossAndGrad(m: AnyModel, method: PeftMethod, examples: readonly EncodedExample[], idx: readonly number[],
  opts: { padId: number; padTo?: number; targetLength?: number }, fwd: ForwardOptions): { loss: number; tokens: number } {
  const pad = opts.padTo === undefined ? { padId: opts.padId } : { padId: opts.padId, padTo: opts.padTo };
  if (m.kind === 'causal') return causalLossAndGrad(m.model, method, examples, idx, pad, fwd);
  return seq2seqLossAndGrad(m.model, method, examples, idx, opts.targetLength === undefined ? pad : { ...pad, targetLength: opts.targetLength }, fwd);
}
