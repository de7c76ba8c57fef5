/**
 * Predictions of a decoder-only model (GPT-2, LLaMA) with a prompt method, on examples encoded by
 * src/tasks/encode-causal.ts:
 *  - generate: `${source} Label : ` (prompt-transformed, right-padded) → greedy decoding up to EOS → decoded, trimmed;
 *  - rank: for each label word, the NLL of `word + EOS` after the source; the lowest wins.
 * predictAny dispatches between these and the seq2seq ones in evaluate.ts.
 */
import type { PeftMethod } from '../methods/method.js';
import type { AnyModel } from '../models/registry.js';
import type { CausalLM } from '../models/types.js';
import type { EncodedExample } from '../tasks/encode.js';
import { collateCausal, encodeCausalTarget, prefixLabels } from '../tasks/encode-causal.js';
import { predictGenerate, predictRank, type Decoder, type PredictOptions } from './evaluate.js';

export interface CausalPredictOptions extends PredictOptions {
  /** rank: the longest input (source + word + EOS) the method accepts; longer sources lose their tail */
  maxLength?: number;
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
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
      const batch = collateCausal(rows, range(0, rows.length), opts.padTo === undefined ? { padId: tok.padId } : { padId: tok.padId, padTo: opts.padTo });
      const x = method.apply(model.embed(batch.ids), batch.mask, batch.B, batch.T);
      const labels = prefixLabels(batch.labels, x.Te - batch.T, batch.B, batch.T);
      const res = model.forward({ B: batch.B, T: x.Te, inputsEmbeds: x.inputsEmbeds, attentionMask: x.mask, labels });
      for (let b = 0; b < batch.B; b++) {
        let nll = 0;
        for (let t = 0; t < x.Te; t++) nll += res.tokenNll[b * x.Te + t]!;
        if (nll < best[b]!) { best[b] = nll; choice[b] = labelWords[k]!; }
      }
    });
    out.push(...choice);
  }
  return out;
}

/** Predictions for either model family: rank when `labelWords` is given, else greedy generation. */
export function predictAny(m: AnyModel, method: PeftMethod, tok: Decoder, examples: readonly EncodedExample[],
  labelWords: readonly string[] | null, opts: CausalPredictOptions): string[] {
  if (m.kind === 'causal') {
    return labelWords !== null ? predictRankCausal(m.model, method, tok, examples, labelWords, opts) : predictGenerateCausal(m.model, method, tok, examples, opts);
  }
  return labelWords !== null ? predictRank(m.model, method, tok, examples, labelWords, opts) : predictGenerate(m.model, method, tok, examples, opts);
}
