/**
 * Text-to-text examples → token ids → padded batches for decoder-only models (DePT train.py's
 * decoder_preprocess_function, spec §1.3): the input is `${source} Label : ` (special tokens as the tokenizer adds
 * them: LLaMA prepends <s>, GPT-2 adds none), then the target's tokens and one EOS. Labels are -100 over the
 * source and the padding. Unlike the reference (left padding), rows are RIGHT-padded (spec §6 pitfall 3): DePT's
 * A row i then always meets the i-th real token, and A[:T] slicing is exact, as for T5.
 */
import { SoftpromptError } from '../errors.js';
import type { EncodedExample, TextTokenizer, TruncationCount } from './encode.js';
import type { Example } from './types.js';

/** What follows the source text (the reference's f"{source} Label : "). */
export const CAUSAL_SOURCE_SUFFIX = ' Label : ';

export function causalSourceText(source: string): string {
  return `${source}${CAUSAL_SOURCE_SUFFIX}`;
}

/** ids of `${source} Label : ` with the tokenizer's special tokens, cut to maxLength (keeping the start). */
export function encodeCausalSource(tok: TextTokenizer, source: string, maxLength: number): Int32Array {
  const ids = tok.encode(causalSourceText(source), { addSpecialTokens: true });
  return Int32Array.from(ids.slice(0, Math.max(1, maxLength)));
}

/** ids of the target text without special tokens, then EOS. */
export function encodeCausalTarget(tok: TextTokenizer, target: string): number[] {
  return [...tok.encode(target, { addSpecialTokens: false }), tok.eosId];
}

/**
 * One example: source ids and target ids (+ EOS), truncated so that source + target fit maxLength. The source's
 * tail goes first (at least one source token is kept), then, if the target alone is too long, the target's tail.
 */
export function encodeCausalExample(tok: TextTokenizer, ex: Pick<Example, 'source' | 'target'>, maxLength: number, count?: TruncationCount): EncodedExample {
  if (!(Number.isInteger(maxLength) && maxLength >= 2)) {
    throw new SoftpromptError('invalid_config', `max_length must be an integer of at least 2 for a decoder-only model, got ${maxLength}.`, { path: 'config.maxLength' });
  }
  const src = tok.encode(causalSourceText(ex.source), { addSpecialTokens: true });
  const tgt = encodeCausalTarget(tok, ex.target);
  const srcLen = Math.min(src.length, Math.max(1, maxLength - tgt.length));
  const tgtLen = Math.min(tgt.length, maxLength - srcLen);
  if (count !== undefined && srcLen + tgtLen < src.length + tgt.length) count.truncated++;
  return { source: Int32Array.from(src.slice(0, srcLen)), target: Int32Array.from(tgt.slice(0, tgtLen)) };
}

export function encodeCausalExamples(examples: readonly Example[], tok: TextTokenizer, maxLength: number, count?: TruncationCount): EncodedExample[] {
  return examples.map((ex) => encodeCausalExample(tok, ex, maxLength, count));
}

export interface CausalEncodedBatch {
  B: number;
  /** padded length (source + target) */
  T: number;
  /** (B, T) source then target, right-padded with the pad id */
  ids: Int32Array;
  /** (B, T) 1 for tokens, 0 for padding */
  mask: Float32Array;
  /** (B, T) aligned with ids: the target ids, -100 over the source and the padding (the model shifts them) */
  labels: Int32Array;
  /** real (non-pad) tokens */
  tokens: number;
}

export interface CausalCollateOptions {
  padId: number;
  /** pad every batch to this length; otherwise to the longest row */
  padTo?: number;
}

/** Rows `source ++ target`, right-padded; labels only on the target. An empty target gives a prompt-only batch. */
export function collateCausal(examples: readonly EncodedExample[], indices: readonly number[], opts: CausalCollateOptions): CausalEncodedBatch {
  const B = indices.length;
  if (B === 0) throw new SoftpromptError('invalid_data', 'Cannot build an empty batch.');
  let longest = 0;
  for (const i of indices) {
    const ex = examples[i];
    if (ex === undefined) throw new SoftpromptError('invalid_data', `Example index ${i} is out of range (${examples.length} examples).`);
    longest = Math.max(longest, ex.source.length + ex.target.length);
  }
  const T = opts.padTo ?? longest;
  if (longest > T) throw new SoftpromptError('invalid_data', `An input of ${longest} tokens does not fit the padded length ${T}.`);
  const ids = new Int32Array(B * T).fill(opts.padId);
  const mask = new Float32Array(B * T);
  const labels = new Int32Array(B * T).fill(-100);
  let tokens = 0;
  indices.forEach((i, b) => {
    const ex = examples[i]!;
    const n = ex.source.length, m = ex.target.length;
    ids.set(ex.source, b * T);
    ids.set(ex.target, b * T + n);
    labels.set(ex.target, b * T + n);
    mask.fill(1, b * T, b * T + n + m);
    tokens += n + m;
  });
  return { B, T, ids, mask, labels, tokens };
}

/** labels (B, T) → (B, l+T) with l leading -100s per row (PEFT's prefix_labels for the virtual tokens). */
export function prefixLabels(labels: Int32Array, l: number, B: number, T: number): Int32Array {
  if (l === 0) return labels;
  const out = new Int32Array(B * (l + T)).fill(-100);
  for (let b = 0; b < B; b++) out.set(labels.subarray(b * T, (b + 1) * T), b * (l + T) + l);
  return out;
}
