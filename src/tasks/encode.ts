/**
 * Text-to-text examples → token ids → padded batches (DePT train.py's seq2seq_preprocess_function):
 * sources truncated to max_length (keeping the closing </s>), targets padded with -100 to the task's longest
 * label, inputs right-padded either to the batch's longest row (dynamic) or to max_length (the reference).
 */
import { SoftpromptError } from '../errors.js';
import type { Example } from './types.js';

export interface TextTokenizer {
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  readonly padId: number;
  readonly eosId: number;
}

export interface EncodedExample {
  source: Int32Array;
  target: Int32Array;
}

/** Counts the rows an encoder cut to max_length (the training report says how many, per split). */
export interface TruncationCount {
  truncated: number;
}

/** ids of `text` with special tokens, cut to maxLength keeping the final </s> (HF truncation=True). */
export function encodeTruncated(tok: TextTokenizer, text: string, maxLength: number, count?: TruncationCount): Int32Array {
  const ids = tok.encode(text, { addSpecialTokens: true });
  if (ids.length <= maxLength) return Int32Array.from(ids);
  if (count !== undefined) count.truncated++;
  const out = Int32Array.from(ids.slice(0, maxLength));
  if (ids[ids.length - 1] === tok.eosId) out[maxLength - 1] = tok.eosId;
  return out;
}

export function encodeExamples(examples: readonly Example[], tok: TextTokenizer, maxLength: number, maxTargetLength: number,
  count?: TruncationCount): EncodedExample[] {
  return examples.map((ex) => ({
    source: encodeTruncated(tok, ex.source, maxLength, count),
    target: encodeTruncated(tok, ex.target, maxTargetLength),
  }));
}

/** The decoder length: the longest tokenized label (labels_list), or the task's fixed target length. */
export function targetLength(tok: TextTokenizer, labelStrings: readonly string[] | null, fallback: number): number {
  if (labelStrings === null || labelStrings.length === 0) return fallback;
  return Math.max(...labelStrings.map((s) => tok.encode(s, { addSpecialTokens: true }).length));
}

export interface EncodedBatch {
  B: number;
  /** padded source length */
  T: number;
  /** (B, T) right-padded with pad id */
  ids: Int32Array;
  /** (B, T) 1 for tokens, 0 for padding */
  mask: Float32Array;
  S: number;
  /** (B, S) target ids, -100 past each target */
  labels: Int32Array;
  /** real (non-pad) tokens */
  tokens: number;
}

export interface CollateOptions {
  padId: number;
  /** pad every batch to this length (the reference's pad_to_max_length); otherwise to the longest row */
  padTo?: number;
  /** decoder length; default the longest target in the batch */
  targetLength?: number;
}

export function collate(examples: readonly EncodedExample[], indices: readonly number[], opts: CollateOptions): EncodedBatch {
  const B = indices.length;
  if (B === 0) throw new SoftpromptError('invalid_data', 'Cannot build an empty batch.');
  let longest = 0, longestTarget = 0;
  for (const i of indices) {
    const ex = examples[i];
    if (ex === undefined) throw new SoftpromptError('invalid_data', `Example index ${i} is out of range (${examples.length} examples).`);
    longest = Math.max(longest, ex.source.length);
    longestTarget = Math.max(longestTarget, ex.target.length);
  }
  const T = opts.padTo ?? longest;
  if (longest > T) throw new SoftpromptError('invalid_data', `An input of ${longest} tokens does not fit the padded length ${T}.`);
  const S = opts.targetLength ?? longestTarget;
  const ids = new Int32Array(B * T).fill(opts.padId);
  const mask = new Float32Array(B * T);
  const labels = new Int32Array(B * S).fill(-100);
  let tokens = 0;
  indices.forEach((i, b) => {
    const ex = examples[i]!;
    ids.set(ex.source, b * T);
    mask.fill(1, b * T, b * T + ex.source.length);
    labels.set(ex.target.subarray(0, S), b * S);
    tokens += ex.source.length;
  });
  return { B, T, ids, mask, S, labels, tokens };
}
