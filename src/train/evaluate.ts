/**
 * Predictions for evaluation: greedy generation (the reference's protocol: generate, decode, compare strings)
 * or rank scoring (pick the label word with the lowest NLL; never produces an invalid label).
 */
import type { PeftMethod } from '../methods/method.js';
import type { Seq2SeqLM } from '../models/types.js';
import { collate, type EncodedExample } from '../tasks/encode.js';

export interface Decoder {
  decode(ids: number[], opts?: { skipSpecialTokens?: boolean }): string;
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  readonly padId: number;
  readonly eosId: number;
}

export interface PredictOptions {
  batchSize: number;
  padTo?: number;
  /** generation: new tokens at most (the reference: 20) */
  maxNewTokens?: number;
}

function embedBatch(model: Seq2SeqLM, method: PeftMethod, examples: readonly EncodedExample[], idx: number[], padId: number, padTo?: number) {
  const batch = collate(examples, idx, padTo === undefined ? { padId } : { padId, padTo });
  const E = model.embed(batch.ids);
  return { batch, x: method.apply(E, batch.mask, batch.B, batch.T) };
}

export function predictGenerate(model: Seq2SeqLM, method: PeftMethod, tok: Decoder, examples: readonly EncodedExample[],
  opts: PredictOptions): string[] {
  const out: string[] = [];
  for (let i = 0; i < examples.length; i += opts.batchSize) {
    const idx = range(i, Math.min(examples.length, i + opts.batchSize));
    const { batch, x } = embedBatch(model, method, examples, idx, tok.padId, opts.padTo);
    const gen = model.generate(x.inputsEmbeds, x.mask, batch.B, x.Te, { maxNewTokens: opts.maxNewTokens ?? 20 });
    for (let b = 0; b < batch.B; b++) {
      const ids = Array.from(gen.ids.subarray(b * gen.steps, (b + 1) * gen.steps));
      out.push(tok.decode(ids, { skipSpecialTokens: true }).trim());
    }
  }
  return out;
}

export function predictRank(model: Seq2SeqLM, method: PeftMethod, tok: Decoder, examples: readonly EncodedExample[],
  labelWords: readonly string[], opts: PredictOptions): string[] {
  const words = labelWords.map((w) => tok.encode(w, { addSpecialTokens: true }));
  const S = Math.max(...words.map((w) => w.length));
  const out: string[] = [];
  for (let i = 0; i < examples.length; i += opts.batchSize) {
    const idx = range(i, Math.min(examples.length, i + opts.batchSize));
    const { batch, x } = embedBatch(model, method, examples, idx, tok.padId, opts.padTo);
    const best = new Float64Array(batch.B).fill(Infinity);
    const choice = new Array<string>(batch.B).fill(labelWords[0] ?? '');
    words.forEach((w, k) => {
      const labels = new Int32Array(batch.B * S).fill(-100);
      for (let b = 0; b < batch.B; b++) labels.set(w, b * S);
      const res = model.forward({ B: batch.B, Te: x.Te, inputsEmbeds: x.inputsEmbeds, encoderMask: x.mask, S, labels });
      for (let b = 0; b < batch.B; b++) {
        let nll = 0;
        for (let t = 0; t < S; t++) nll += res.tokenNll[b * S + t]!;
        if (nll < best[b]!) { best[b] = nll; choice[b] = labelWords[k]!; }
      }
    });
    out.push(...choice);
  }
  return out;
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}
