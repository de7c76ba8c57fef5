/**
 * The order in which training examples are visited: each epoch is a fresh Fisher–Yates shuffle of 0..N-1 drawn
 * from the loop's data Rng, cut into consecutive batches of B (the last batch of an epoch may be smaller, as with
 * a torch DataLoader with drop_last=False). Epochs roll over lazily, when the next batch is needed.
 *
 * With example lengths (group-by-length), each epoch's shuffle is then grouped by length as HF Trainer's
 * group_by_length does (length-grouped.ts): batches of similar lengths, megabatches in random order.
 *
 * The cursor is tiny and JSON-safe: instead of the permutation it keeps the Rng state from just before the
 * current epoch's shuffle, so restore() redraws the same permutation (and grouping) and lands on the same Rng state.
 */

import { SoftpromptError } from '../errors.js';
import { lengthGroupedOrder } from './length-grouped.js';
import type { Rng, RngState } from './rng.js';

export interface DataCursor {
  /** N: number of training examples. */
  numExamples: number;
  /** B: examples per batch. */
  batchSize: number;
  /** 0-based epoch of the batch drawn last (0 before any). */
  epoch: number;
  /** Examples of the current epoch already handed out. */
  position: number;
  /** Rng state just before the current epoch's shuffle; null until the first batch is drawn. */
  epochStartRng: RngState | null;
  /** each epoch's shuffle grouped by example length (absent in older checkpoints: false) */
  groupByLength?: boolean;
}

export interface DataBatch {
  /** 0-based epoch this batch belongs to. */
  epoch: number;
  /** Example indices in [0, N), at most B of them. */
  indices: number[];
}

export class DataOrder {
  readonly numExamples: number;
  readonly batchSize: number;
  private readonly rng: Rng;
  private order: number[] | null = null;
  private epoch = 0;
  private position = 0;
  private epochStartRng: RngState | null = null;
  /** example lengths when grouping by length, else null */
  private readonly lengths: readonly number[] | null;

  constructor(numExamples: number, batchSize: number, rng: Rng, lengths: readonly number[] | null = null) {
    if (!Number.isInteger(numExamples) || numExamples < 1) {
      throw new SoftpromptError('invalid_config', `numExamples must be a positive integer, got ${numExamples}`, {
        path: 'numExamples',
        hint: 'Is the training split empty?',
      });
    }
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new SoftpromptError('invalid_config', `batchSize must be a positive integer, got ${batchSize}`, {
        path: 'batchSize',
      });
    }
    if (lengths !== null && lengths.length !== numExamples) {
      throw new SoftpromptError('invalid_config', `group by length: ${lengths.length} lengths for ${numExamples} examples.`, { path: 'lengths' });
    }
    this.numExamples = numExamples;
    this.batchSize = batchSize;
    this.rng = rng;
    this.lengths = lengths;
  }

  /** Batches per epoch, counting a final partial batch. */
  get batchesPerEpoch(): number {
    return Math.ceil(this.numExamples / this.batchSize);
  }

  next(): DataBatch {
    if (this.order === null || this.position >= this.numExamples) {
      if (this.order !== null) this.epoch += 1;
      this.shuffleEpoch();
    }
    const indices = this.order!.slice(this.position, this.position + this.batchSize);
    this.position += indices.length;
    return { epoch: this.epoch, indices };
  }

  cursor(): DataCursor {
    return {
      numExamples: this.numExamples,
      batchSize: this.batchSize,
      epoch: this.epoch,
      position: this.position,
      epochStartRng: this.epochStartRng === null ? null : [...this.epochStartRng],
      groupByLength: this.lengths !== null,
    };
  }

  /**
   * Rebuilds the order saved in `cursor`; `rng` must be the loop's data Rng and `rngState` its saved state. Throws
   * 'invalid_config' if N, B or group-by-length changed since the save, 'malformed_file' if cursor and Rng state
   * disagree. `lengths` as for the constructor (the same lengths give the same grouped order).
   */
  static restore(cursor: DataCursor, rng: Rng, rngState: RngState, numExamples: number, batchSize: number,
    lengths: readonly number[] | null = null): DataOrder {
    if (cursor.numExamples !== numExamples || cursor.batchSize !== batchSize) {
      throw new SoftpromptError(
        'invalid_config',
        `Cannot resume: the checkpoint was trained with ${cursor.numExamples} examples in batches of ${cursor.batchSize}, ` +
          `this run has ${numExamples} in batches of ${batchSize}`,
        { path: 'dataCursor', hint: 'Resume with the same training data and batch size, or start a fresh run.' },
      );
    }
    if ((cursor.groupByLength ?? false) !== (lengths !== null)) {
      throw new SoftpromptError('invalid_config',
        `Cannot resume: the checkpoint was trained ${cursor.groupByLength === true ? 'with' : 'without'} group-by-length, this run ${lengths !== null ? 'groups by length' : 'does not'}`,
        { path: 'groupByLength', hint: 'Resume with the same --group-by-length setting, or start a fresh run.' });
    }
    const order = new DataOrder(numExamples, batchSize, rng, lengths);
    if (cursor.epochStartRng === null) {
      rng.setState(rngState);
      return order;
    }
    rng.setState(cursor.epochStartRng);
    order.shuffleEpoch();
    order.epoch = cursor.epoch;
    order.position = cursor.position;
    const now = rng.getState();
    if (now.some((w, i) => w !== rngState[i])) {
      throw new SoftpromptError(
        'malformed_file',
        `Cannot resume: the data cursor's epoch-start Rng state does not replay to the saved Rng state ` +
          `(got [${now.join(', ')}], saved [${rngState.join(', ')}])`,
        { path: 'dataCursor.epochStartRng', hint: 'The trainer_state.json was edited or comes from another version.' },
      );
    }
    return order;
  }

  private shuffleEpoch(): void {
    this.epochStartRng = this.rng.getState();
    const order = new Array<number>(this.numExamples);
    for (let i = 0; i < order.length; i++) order[i] = i;
    const shuffled = this.rng.shuffle(order);
    this.order = this.lengths === null ? shuffled : lengthGroupedOrder(shuffled, this.lengths, this.batchSize);
    this.position = 0;
  }
}
