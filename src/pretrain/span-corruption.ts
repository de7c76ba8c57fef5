/**
 * T5's span-corruption objective, as Hugging Face's reference pretraining script defines it
 * (transformers/examples/flax/language-modeling/run_t5_mlm_flax.py, itself a port of t5.data.preprocessors):
 *
 *   ids     The quick brown fox jumps over the lazy dog
 *   mask    .   .     ■     ■   .     .    .   ■    .      (15 % noise, mean span length 3)
 *   inputs  The quick <extra_id_0> jumps over the <extra_id_1> dog </s>
 *   targets <extra_id_0> brown fox <extra_id_1> lazy <extra_id_2> </s>
 *
 * Sentinel k is id `lenTokenizer − 1 − k` (HF: `len(tokenizer) − sentinel_ids`), i.e. <extra_id_0> = 32099 for
 * the T5 tokenizer. The only difference from HF is the random source: the project's seeded Rng instead of
 * numpy, so a run is reproducible and resumable from the Rng state.
 */
import { SoftpromptError } from '../errors.js';
import type { Tokenizer } from '../io/tokenizer.js';
import type { Rng } from '../train/rng.js';

export interface SpanCorruptionOptions {
  /** Fraction of tokens masked (T5: 0.15). */
  noiseDensity: number;
  /** Mean length of a masked span (T5: 3). */
  meanNoiseSpanLength: number;
}

export const T5_SPAN_CORRUPTION: Readonly<SpanCorruptionOptions> = { noiseDensity: 0.15, meanNoiseSpanLength: 3 };

/** Token ids the objective writes: sentinel k = firstSentinelId − k, and EOS after inputs and targets. */
export interface SentinelVocab {
  /** id of <extra_id_0>: len(tokenizer) − 1 for T5 */
  firstSentinelId: number;
  eosId: number;
  /** how many sentinels exist (T5: 100); a sequence with more spans is an error */
  numSentinels: number;
}

/** numpy's np.round and Python 3's round(): halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function checkOptions(o: SpanCorruptionOptions): void {
  if (!(o.noiseDensity > 0 && o.noiseDensity < 1)) {
    throw new SoftpromptError('invalid_config', `noiseDensity must be in (0, 1), got ${o.noiseDensity}.`, { path: 'noiseDensity' });
  }
  if (!(o.meanNoiseSpanLength >= 1) || !Number.isFinite(o.meanNoiseSpanLength)) {
    throw new SoftpromptError('invalid_config', `meanNoiseSpanLength must be a finite number ≥ 1, got ${o.meanNoiseSpanLength}.`, { path: 'meanNoiseSpanLength' });
  }
}

/** HF compute_input_and_target_lengths, inner helper: lengths after corrupting `tokensLength` raw tokens. */
function corruptedLengths(tokensLength: number, o: SpanCorruptionOptions): { inputs: number; targets: number } {
  const noise = roundHalfEven(tokensLength * o.noiseDensity);
  const spans = roundHalfEven(noise / o.meanNoiseSpanLength);
  return { inputs: tokensLength - noise + spans + 1, targets: noise + spans + 1 };
}

/**
 * HF compute_input_and_target_lengths: the longest raw length (`tokensLength`) whose corrupted inputs, EOS
 * included, fit in `inputLength`, and the targets' length for it. T5: 512 → 568 raw tokens, 114 targets.
 */
export function expandedLengths(inputLength: number, opts: SpanCorruptionOptions = T5_SPAN_CORRUPTION): { tokensLength: number; targetsLength: number } {
  checkOptions(opts);
  if (!Number.isSafeInteger(inputLength) || inputLength < 2) {
    throw new SoftpromptError('invalid_config', `inputLength must be an integer ≥ 2, got ${inputLength}.`, { path: 'inputLength' });
  }
  let tokensLength = inputLength;
  while (corruptedLengths(tokensLength + 1, opts).inputs <= inputLength) tokensLength++;
  let targetsLength = corruptedLengths(tokensLength, opts).targets;
  // HF: "minor hack to get the targets length to be equal to inputs length"
  if (opts.noiseDensity === 0.5 && targetsLength > inputLength) {
    tokensLength--;
    targetsLength--;
  }
  // For very short inputs the formula above allows 0 spans while the mask forces 1, so HF's collator rejects
  // its own lengths (T5 defaults: inputLength < 10); refuse them here instead of at the first batch.
  const c = noiseCounts(tokensLength, opts);
  if (c.noiseTokens !== roundHalfEven(tokensLength * opts.noiseDensity) || c.noiseSpans !== roundHalfEven(c.noiseTokens / opts.meanNoiseSpanLength)) {
    throw new SoftpromptError('invalid_config', `inputLength ${inputLength} is too short for span corruption with noise density ${opts.noiseDensity} and mean span length ${opts.meanNoiseSpanLength}: no raw length corrupts to exactly ${inputLength} tokens.`, { path: 'inputLength' });
  }
  return { tokensLength, targetsLength };
}

/** Noise tokens and noise spans of a mask over `length` tokens (fixed by the length, as in HF). */
export function noiseCounts(length: number, opts: SpanCorruptionOptions = T5_SPAN_CORRUPTION): { noiseTokens: number; noiseSpans: number } {
  checkOptions(opts);
  if (!Number.isSafeInteger(length) || length < 2) {
    throw new SoftpromptError('invalid_config', `A noise mask needs a length ≥ 2, got ${length}.`, { path: 'length' });
  }
  const noiseTokens = Math.min(Math.max(roundHalfEven(length * opts.noiseDensity), 1), length - 1);
  const noiseSpans = Math.max(roundHalfEven(noiseTokens / opts.meanNoiseSpanLength), 1);
  if (noiseSpans > length - noiseTokens) {
    throw new SoftpromptError('invalid_config', `${noiseSpans} noise spans need as many non-noise tokens, but a length of ${length} leaves ${length - noiseTokens}; lower noiseDensity or raise meanNoiseSpanLength.`, { path: 'noiseDensity' });
  }
  return { noiseTokens, noiseSpans };
}

/** HF _random_segmentation: `numItems` split into `numSegments` non-empty runs, every composition equally likely. */
function randomSegmentation(numItems: number, numSegments: number, rng: Rng): number[] {
  // Choose numSegments − 1 cut points among the numItems − 1 gaps (partial Fisher–Yates over the gaps).
  const gaps = Array.from({ length: numItems - 1 }, (_, i) => i + 1);
  for (let i = 0; i < numSegments - 1; i++) {
    const j = i + rng.nextInt(gaps.length - i);
    const t = gaps[i]!;
    gaps[i] = gaps[j]!;
    gaps[j] = t;
  }
  const cuts = gaps.slice(0, numSegments - 1).sort((a, b) => a - b);
  const lengths: number[] = [];
  let prev = 0;
  for (const c of [...cuts, numItems]) {
    lengths.push(c - prev);
    prev = c;
  }
  return lengths;
}

/**
 * HF random_spans_noise_mask: 1 = noise. Exactly noiseCounts(length) noise tokens in that many spans,
 * alternating with as many non-noise spans, the first span non-noise; all such masks equally likely.
 */
export function randomSpansNoiseMask(length: number, rng: Rng, opts: SpanCorruptionOptions = T5_SPAN_CORRUPTION): Uint8Array {
  const { noiseTokens, noiseSpans } = noiseCounts(length, opts);
  const noiseLengths = randomSegmentation(noiseTokens, noiseSpans, rng);
  const keepLengths = randomSegmentation(length - noiseTokens, noiseSpans, rng);
  const mask = new Uint8Array(length);
  let pos = 0;
  for (let s = 0; s < noiseSpans; s++) {
    pos += keepLengths[s]!;
    mask.fill(1, pos, pos + noiseLengths[s]!);
    pos += noiseLengths[s]!;
  }
  return mask;
}

/**
 * HF create_sentinel_ids + filter_input_ids for one row: each run of `mask` = 1 becomes one sentinel (the k-th
 * run: firstSentinelId − k), the other ids are kept, then EOS. As HF, ids ≤ 0 (pad) are dropped.
 */
function replaceSpans(ids: ArrayLike<number>, mask: ArrayLike<number>, vocab: SentinelVocab, invert: boolean): Int32Array {
  const masked = (i: number): boolean => (mask[i] !== 0) !== invert;
  const out: number[] = [];
  let span = 0;
  for (let i = 0; i < ids.length; i++) {
    if (masked(i)) {
      if (i === 0 || !masked(i - 1)) {
        if (span >= vocab.numSentinels) {
          throw new SoftpromptError('invalid_data', `The noise mask has more than ${vocab.numSentinels} spans, one per sentinel token; use shorter sequences.`, { path: 'mask' });
        }
        out.push(vocab.firstSentinelId - span++);
      }
    } else if (ids[i]! > 0) {
      out.push(ids[i]!);
    }
  }
  out.push(vocab.eosId);
  return Int32Array.from(out);
}

/** Inputs (noise spans → sentinels) and targets (kept spans → sentinels), both EOS-terminated, from a fixed mask. */
export function applyNoiseMask(ids: ArrayLike<number>, mask: ArrayLike<number>, vocab: SentinelVocab): { inputs: Int32Array; targets: Int32Array } {
  if (ids.length !== mask.length) {
    throw new SoftpromptError('shape_mismatch', `Noise mask has ${mask.length} entries for ${ids.length} ids.`, { path: 'mask' });
  }
  return { inputs: replaceSpans(ids, mask, vocab, false), targets: replaceSpans(ids, mask, vocab, true) };
}

/** One span-corrupted example from raw `ids` (length = expandedLengths(inputLength).tokensLength when packed). */
export function corruptSpans(ids: ArrayLike<number>, rng: Rng, vocab: SentinelVocab, opts: SpanCorruptionOptions = T5_SPAN_CORRUPTION): { inputs: Int32Array; targets: Int32Array } {
  return applyNoiseMask(ids, randomSpansNoiseMask(ids.length, rng, opts), vocab);
}

/**
 * The sentinels of a T5 tokenizer: <extra_id_k> = len(tokenizer) − 1 − k, checked token by token so a tokenizer
 * with another layout fails here instead of teaching the model wrong ids.
 */
export function sentinelVocab(tok: Tokenizer, file = 'tokenizer'): SentinelVocab {
  const first = tok.vocabSize - 1;
  let n = 0;
  while (n < first && tok.tokenToId(`<extra_id_${n}>`) !== undefined) {
    if (tok.tokenToId(`<extra_id_${n}>`) !== first - n) {
      throw new SoftpromptError('unsupported', `Tokenizer ${file}: <extra_id_${n}> has id ${tok.tokenToId(`<extra_id_${n}>`)}, expected ${first - n} (len(tokenizer) − 1 − ${n}) as in T5.`, { file, path: `<extra_id_${n}>` });
    }
    n++;
  }
  if (n === 0) {
    throw new SoftpromptError('unsupported', `Tokenizer ${file} has no <extra_id_0> sentinel token; span corruption needs a T5 tokenizer (100 <extra_id_n> tokens).`, { file, path: '<extra_id_0>' });
  }
  return { firstSentinelId: first, eosId: tok.eosId, numSentinels: n };
}
