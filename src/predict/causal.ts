/**
 * Decoder-only models (GPT-2, LLaMA) with a method, on examples encoded by src/tasks/encode-causal.ts:
 *  - generate: `${source} Label : ` (method-transformed, right-padded) → greedy decoding up to EOS → decoded, trimmed;
 *  - rank: for each label word, the NLL of `word + EOS` after the source; the lowest wins;
 *  - loss: Σ per-token cross-entropy of the targets (label + EOS) and the token count.
 * The method must be attached by the caller; index.ts dispatches between these and seq2seq.ts.
 */
import { embedBackward, type PeftMethod } from '../methods/method.js';
import type { CausalBatch, CausalLM, ForwardOptions } from '../models/types.js';
import type { EncodedExample, TextTokenizer } from '../tasks/encode.js';
import { collateCausal, encodeCausalSource, encodeCausalTarget, prefixLabels, type CausalCollateOptions, type CausalEncodedBatch } from '../tasks/encode-causal.js';
import type { Decoder, PredictOptions } from './seq2seq.js';

export interface CausalPredictOptions extends PredictOptions {
  /** rank: the longest input (source + word + EOS) the method accepts; longer sources lose their tail */
  maxLength?: number;
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}

/** `${source} Label : ` as ids, cut to maxLength. */
export function encodeCausalSourceIds(tok: TextTokenizer, source: string, maxLength: number): Int32Array {
  return encodeCausalSource(tok, source, maxLength);
}

/** Collate rows `idx` (source ++ target), embed, apply the method: the model's batch, labels -100 over the prompt. */
export function causalInput(model: CausalLM, method: PeftMethod, examples: readonly EncodedExample[], idx: readonly number[],
  opts: CausalCollateOptions): { batch: CausalEncodedBatch; input: CausalBatch } {
  const batch = collateCausal(examples, idx, opts);
  const x = method.apply(model.embed(batch.ids), batch.mask, batch.B, batch.T);
  const labels = prefixLabels(batch.labels, x.Te - batch.T, batch.B, batch.T);
  return { batch, input: { B: batch.B, T: x.Te, inputsEmbeds: x.inputsEmbeds, attentionMask: x.mask, labels } };
}

/** Forward + backward of one training batch: method.backward, then the embedding table's gradient. */
export function causalLossAndGrad(model: CausalLM, method: PeftMethod, examples: readonly EncodedExample[], idx: readonly number[],
  opts: CausalCollateOptions, fwd: ForwardOptions): { loss: number; tokens: number } {
  const { batch, input } = causalInput(model, method, examples, idx, opts);
  const out = model.lossAndGrad(input, fwd);
  method.backward(out.dInputsEmbeds, batch.B, batch.T);
  embedBackward(model, batch.ids, out.dInputsEmbeds, batch.B, batch.T, input.T - batch.T);
  return { loss: out.loss, tokens: batch.tokens };
}

/** Σ per-token NLL of every example's target (+ EOS) and the number of target tokens (eval mode). */
export function causalLoss(model: CausalLM, method: PeftMethod, examples: readonly EncodedExample[],
  opts: { batchSize: number; padId: number; padTo?: number }): { nll: number; tokens: number } {
  let nll = 0, tokens = 0;
  for (let i = 0; i < examples.length; i += opts.batchSize) {
    const idx = range(i, Math.min(examples.length, i + opts.batchSize));
    const { input } = causalInput(model, method, examples, idx, opts.padTo === undefined ? { padId: opts.padId } : { padId: opts.padId, padTo: opts.padTo });
    const out = model.forward(input);
    for (let k = 0; k < out.tokenNll.length; k++) nll += out.tokenNll[k]!;
    tokens += out.numTokens;
  }
  return { nll, tokens };
}

export function predictGenerateCausal(model: CausalLM, method: PeftMethod, tok: Decoder, examples: readonly EncodedExample[],
  opts: CausalPredictOptions): string[] {
  const sources = examples.map((ex) => ({ source: ex.source, target: new Int32Array(0) }));
  const out: string[] = [];
  for (let i = 0; i < sources.length; i += opts.batchSize) {
    const idx = range(i, Math.min(sources.length, i + opts.batchSize));
    const batch = collateCausal(sources, idx, opts.padTo === undefined ? { padId: tok.padId } : { padId: tok.padId, padTo: opts.padTo });
    const x = method.apply(model.embed(batch.ids), batch.mask, batch.B, batch.T);
    const gen = model.generate(x.inputsEmbeds, x.mask, batch.B, x.Te, { maxNewTokens: opts.maxNewTokens ?? 20, eosId: tok.eosId });
    for (let b = 0; b < batch.B; b++) {
      const row = Array.from(gen.ids.subarray(b * gen.steps, (b + 1) * gen.steps));
      const end = row.indexOf(tok.eosId);
      out.push(tok.decode(end < 0 ? row : row.slice(0, end), { skipSpecialTokens: true }).trim());
    }
  }
  return out;
}

export function predictRankCausal(model: CausalLM, method: PeftMethod, tok: Decoder, examples: readonly EncodedExample[],
  labelWords: readonly string[], opts: CausalPredictOptions): string[] {
  const words = labelWords.map((w) => Int32Array.from(encodeCausalTarget(tok, w)));
  const limit = Math.min(opts.maxLength ?? Infinity, method.maxInputLength);
  const out: string[] = [];
  for (let i = 0; i < examples.length; i += opts.batchSize) {
    const idx = range(i, Math.min(examples.length, i + opts.batchSize));
    const best = new Float64Array(idx.length).fill(Infinity);
    const choice = new Array<string>(idx.length).fill(labelWords[0] ?? '');
    words.forEach((w, k) => {
      const rows: EncodedExample[] = idx.map((j) => {
        const src = examples[j]!.source;
        const keep = Number.isFinite(limit) ? Math.max(1, Math.min(src.length, limit - w.length)) : src.length;
        return { source: src.subarray(0, keep), target: w };
      });
      const { batch, input } = causalInput(model, method, rows, range(0, rows.length), opts.padTo === undefined ? { padId: tok.padId } : { padId: tok.padId, padTo: opts.padTo });
      const res = model.forward(input);
      for (let b = 0; b < batch.B; b++) {
        let nll = 0;
        for (let t = 0; t < input.T; t++) nll += res.tokenNll[b * input.T + t]!;
        if (nll < best[b]!) { best[b] = nll; choice[b] = labelWords[k]!; }
      }
    });
    out.push(...choice);
  }
  return out;
}

