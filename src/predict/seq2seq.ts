/**
 * Encoder-decoder models (T5) with a method: encode → collate → method.apply → generate | rank | loss, for
 * train-time evaluation, `eval`, `predict` and `serve` alike (and the training step's forward/backward):
 *  - generate: greedy decoding (the reference's protocol: generate, decode, compare strings);
 *  - rank: the label word with the lowest NLL (never an invalid label);
 *  - loss: Σ per-token cross-entropy of the targets and the token count (HF's `.loss` is their ratio per batch).
 * The method must be attached (method.attach(model)) by the caller; prompt methods need nothing.
 */
import { embedBackward, type PeftMethod } from '../methods/method.js';
import type { ForwardOptions, Seq2SeqBatch, Seq2SeqLM } from '../models/types.js';
import { collate, encodeTruncated, type CollateOptions, type EncodedBatch, type EncodedExample, type TextTokenizer } from '../tasks/encode.js';

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

/** A source text's ids, truncated to maxLength keeping the closing </s>. */
export function encodeSeq2SeqSource(tok: TextTokenizer, source: string, maxLength: number): Int32Array {
  return encodeTruncated(tok, source, maxLength);
}

/** Collate rows `idx`, embed, apply the method: the model's batch (labels = the targets, -100 padded). */
export function seq2seqInput(model: Seq2SeqLM, method: PeftMethod, examples: readonly EncodedExample[], idx: readonly number[],
  opts: CollateOptions): { batch: EncodedBatch; input: Seq2SeqBatch } {
  const batch = collate(examples, idx, opts);
  const x = method.apply(model.embed(batch.ids), batch.mask, batch.B, batch.T);
  return { batch, input: { B: batch.B, Te: x.Te, inputsEmbeds: x.inputsEmbeds, encoderMask: x.mask, S: batch.S, labels: batch.labels } };
}

function embedBatch(model: Seq2SeqLM, method: PeftMethod, examples: readonly EncodedExample[], idx: number[], padId: number, padTo?: number) {
  const { batch, input } = seq2seqInput(model, method, examples, idx, padTo === undefined ? { padId } : { padId, padTo });
  return { batch, x: { inputsEmbeds: input.inputsEmbeds, mask: input.encoderMask, Te: input.Te } };
}

/** Forward + backward of one training batch: method.backward, then the embedding table's gradient. */
export function seq2seqLossAndGrad(model: Seq2SeqLM, method: PeftMethod, examples: readonly EncodedExample[], idx: readonly number[],
  opts: CollateOptions, fwd: ForwardOptions): { loss: number; tokens: number } {
  const { batch, input } = seq2seqInput(model, method, examples, idx, opts);
  const out = model.lossAndGrad(input, fwd);
  method.backward(out.dInputsEmbeds, batch.B, batch.T);
  embedBackward(model, batch.ids, out.dInputsEmbeds, batch.B, batch.T, input.Te - batch.T);
  return { loss: out.loss, tokens: batch.tokens };
}

/** Σ per-token NLL of every example's target and the number of target tokens (eval mode, no dropout). */
export function seq2seqLoss(model: Seq2SeqLM, method: PeftMethod, examples: readonly EncodedExample[],
  opts: { batchSize: number; padId: number; padTo?: number; targetLength?: number }): { nll: number; tokens: number } {
  let nll = 0, tokens = 0;
  for (let i = 0; i < examples.length; i += opts.batchSize) {
    const idx = range(i, Math.min(examples.length, i + opts.batchSize));
    const { input } = seq2seqInput(model, method, examples, idx, { padId: opts.padId, ...(opts.padTo !== undefined ? { padTo: opts.padTo } : {}), ...(opts.targetLength !== undefined ? { targetLength: opts.targetLength } : {}) });
    const out = model.forward(input);
    for (let k = 0; k < out.tokenNll.length; k++) nll += out.tokenNll[k]!;
    tokens += out.numTokens;
  }
  return { nll, tokens };
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
