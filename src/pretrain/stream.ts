/**
 * The pretraining data stream: span-corrupted packed chunks, optionally mixed with supervised text-to-text
 * examples, in batches a T5 training step takes. Deterministic under a seed and resumable from a small
 * JSON state (three counters) that a checkpoint stores:
 *
 *   - chunk order: one permutation per epoch, Rng(seed, −1 − epoch)
 *   - the noise mask of the k-th span example: Rng(seed, k)            (no RNG state to save)
 *   - whether draw d is supervised: Rng(seed + MIX_SALT, d) < mixtureRate
 *   - supervised order: one permutation per epoch, Rng(seed + SUP_SALT, epoch)
 */
import { SoftpromptError } from '../errors.js';
import { Rng } from '../train/rng.js';
import { chunkAt, type PackedCorpus } from './corpus.js';
import { applyNoiseMask, expandedLengths, randomSpansNoiseMask, T5_SPAN_CORRUPTION, type SentinelVocab, type SpanCorruptionOptions } from './span-corruption.js';

const MIX_SALT = 0x6d6978; // "mix"
const SUP_SALT = 0x737570; // "sup"

/** A tokenized supervised example: "task prefix: input" → label word, both EOS-terminated. */
export interface TokenizedExample {
  inputs: Int32Array;
  targets: Int32Array;
}

/** A batch in the shape T5Model takes once embedded: ids (B, Te), mask (B, Te), labels (B, S) with −100 = ignored. */
export interface PretrainBatch {
  B: number;
  Te: number;
  S: number;
  inputIds: Int32Array;
  encoderMask: Float32Array;
  labels: Int32Array;
  /** How many rows are supervised examples (the rest are span corruption). */
  supervisedRows: number;
}

/** Where the stream is: what a checkpoint stores to resume exactly. */
export interface StreamState {
  /** span-corruption examples drawn so far */
  span: number;
  /** supervised examples drawn so far */
  supervised: number;
  /** rows drawn so far (span + supervised) */
  drawn: number;
}

export interface StreamOptions {
  seed: number;
  /** Encoder length: every span example corrupts to exactly this many tokens; supervised inputs are cut to it. */
  inputLength: number;
  vocab: SentinelVocab;
  padId: number;
  /** Fraction of rows that are supervised examples (0 = span corruption only). */
  mixtureRate?: number;
  spanOptions?: SpanCorruptionOptions;
}

/** Position in an endless sequence of epochs, each a fresh permutation of n items. */
class EpochOrder {
  private epoch = -1;
  private perm: number[] = [];
  constructor(private readonly n: number, private readonly rngFor: (epoch: number) => Rng) {}
  at(position: number): number {
    const epoch = Math.floor(position / this.n);
    if (epoch !== this.epoch) {
      this.perm = this.rngFor(epoch).shuffle(Array.from({ length: this.n }, (_, i) => i));
      this.epoch = epoch;
    }
    return this.perm[position % this.n]!;
  }
}

export class PretrainStream {
  readonly targetsLength: number;
  readonly mixtureRate: number;
  private readonly spanOrder: EpochOrder;
  private readonly supOrder: EpochOrder | undefined;
  private readonly spanOptions: SpanCorruptionOptions;
  private pos: StreamState = { span: 0, supervised: 0, drawn: 0 };

  constructor(readonly corpus: PackedCorpus, readonly supervised: readonly TokenizedExample[], readonly opts: StreamOptions) {
    this.spanOptions = opts.spanOptions ?? T5_SPAN_CORRUPTION;
    const { tokensLength, targetsLength } = expandedLengths(opts.inputLength, this.spanOptions);
    if (corpus.chunkLength !== tokensLength) {
      throw new SoftpromptError('invalid_config', `The corpus is packed in chunks of ${corpus.chunkLength} tokens, but input length ${opts.inputLength} needs ${tokensLength}.`, { path: 'inputLength' });
    }
    this.targetsLength = targetsLength;
    this.mixtureRate = opts.mixtureRate ?? 0;
    if (!(this.mixtureRate >= 0 && this.mixtureRate <= 1)) {
      throw new SoftpromptError('invalid_config', `mixtureRate must be in [0, 1], got ${this.mixtureRate}.`, { path: 'mixtureRate' });
    }
    if (this.mixtureRate > 0 && supervised.length === 0) {
      throw new SoftpromptError('invalid_config', `mixtureRate is ${this.mixtureRate} but there are no supervised examples.`, { path: 'mixtureRate' });
    }
    this.spanOrder = new EpochOrder(corpus.numChunks, (e) => new Rng(opts.seed, -1 - e));
    this.supOrder = supervised.length > 0 ? new EpochOrder(supervised.length, (e) => new Rng(opts.seed + SUP_SALT, e)) : undefined;
  }

  get state(): StreamState {
    return { ...this.pos };
  }

  /** Resume at `state` (from state of an earlier stream with the same corpus, examples and options). */
  restore(state: StreamState): void {
    const ok = [state.span, state.supervised, state.drawn].every((v) => Number.isSafeInteger(v) && v >= 0) && state.span + state.supervised === state.drawn;
    if (!ok) throw new SoftpromptError('invalid_config', `Bad pretraining stream state ${JSON.stringify(state)}: expected non-negative counters with span + supervised = drawn.`, { path: 'streamState' });
    this.pos = { ...state };
  }

  /**
   * The state after `draws` rows: the mixture draw of row k depends on k alone, so the counters of any step are
   * recomputed without tokenizing anything (a resumed run positions its stream with it).
   */
  stateAt(draws: number): StreamState {
    let supervised = 0;
    for (let d = 0; d < draws; d++) if (this.isSupervised(d)) supervised++;
    return { span: draws - supervised, supervised, drawn: draws };
  }

  /** What a checkpoint stores beside `state` so a resume can tell that the corpus or the options changed. */
  get fingerprint(): { numChunks: number; chunkLength: number; tokenCount: number; supervised: number; mixtureRate: number; seed: number } {
    const c = this.corpus;
    return { numChunks: c.numChunks, chunkLength: c.chunkLength, tokenCount: c.tokenCount, supervised: this.supervised.length, mixtureRate: this.mixtureRate, seed: this.opts.seed };
  }

  /** Epochs of the span corpus consumed so far (fractional). */
  get spanEpochs(): number {
    return this.pos.span / this.corpus.numChunks;
  }

  private isSupervised(draw: number): boolean {
    return this.mixtureRate > 0 && new Rng(this.opts.seed + MIX_SALT, draw).nextFloat() < this.mixtureRate;
  }

  /** The next row: a span-corrupted chunk or a supervised example. */
  nextExample(): TokenizedExample & { supervised: boolean } {
    const draw = this.pos.drawn++;
    if (this.isSupervised(draw)) {
      const ex = this.supervised[this.supOrder!.at(this.pos.supervised++)]!;
      return { ...ex, supervised: true };
    }
    const k = this.pos.span++;
    const ids = chunkAt(this.corpus, this.spanOrder.at(k));
    const mask = randomSpansNoiseMask(ids.length, new Rng(this.opts.seed, k), this.spanOptions);
    const { inputs, targets } = applyNoiseMask(ids, mask, this.opts.vocab);
    return { inputs, targets, supervised: false };
  }

  /**
   * B rows. Te = inputLength (supervised inputs longer than that keep their first Te − 1 tokens and EOS);
   * S = the longest target in the batch (targetsLength for span rows), shorter targets padded with −100.
   */
  nextBatch(B: number): PretrainBatch {
    if (!Number.isSafeInteger(B) || B < 1) throw new SoftpromptError('invalid_config', `Batch size must be an integer ≥ 1, got ${B}.`, { path: 'batchSize' });
    const rows = Array.from({ length: B }, () => this.nextExample());
    const Te = this.opts.inputLength;
    const S = Math.max(...rows.map((r) => r.targets.length));
    const inputIds = new Int32Array(B * Te).fill(this.opts.padId);
    const encoderMask = new Float32Array(B * Te);
    const labels = new Int32Array(B * S).fill(-100);
    rows.forEach((r, b) => {
      let inp = r.inputs;
      if (inp.length > Te) {
        inp = inp.slice(0, Te);
        inp[Te - 1] = this.opts.vocab.eosId;
      }
      inputIds.set(inp, b * Te);
      encoderMask.fill(1, b * Te, b * Te + inp.length);
      labels.set(r.targets, b * S);
    });
    return { B, Te, S, inputIds, encoderMask, labels, supervisedRows: rows.filter((r) => r.supervised).length };
  }
}
