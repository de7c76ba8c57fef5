/**
 * DePT's split protocol (spec §2.1, `AbstractTask.get` with split_validation_test=True), given the original
 * splits and a Permuter:
 *   small: train = train; dev shuffled, first ⌊n/2⌋ → validation, rest → test.
 *   large: train shuffled, first V → validation, rest → train; test = dev. V = 1,000 as in the reference when
 *          train has at least 2,000 rows; smaller train files (bundled slices, samples) hold out ⌊n/10⌋ instead.
 *   mnli:  train = train, validation = dev_mismatched, test = dev_matched. Without a mismatched file,
 *          validation is held out of train as for large tasks.
 * maxTrain / maxEval are DePT's n_obs: a split cut from a shuffle keeps its first n rows in shuffled order; a split
 * taken whole (small train, large test, MNLI) is shuffled with randperm(len) and its first n rows kept.
 */

import { SoftpromptError } from '../errors.js';
import type { Permuter } from './permutation.js';
import type { Example, SplitKind, Splits } from './types.js';

export interface SplitOptions {
  maxTrain?: number;
  maxEval?: number;
  /** Large tasks: rows held out of train for validation (default: see largeValidationSize). */
  validationSize?: number;
}

export const LARGE_VALIDATION_SIZE = 1000;

/** 1,000 (the reference) when train has ≥ 2,000 rows, else ⌊n/10⌋ so a small file keeps most rows for training. */
export function largeValidationSize(nTrain: number): number {
  return nTrain >= 2 * LARGE_VALIDATION_SIZE ? LARGE_VALIDATION_SIZE : Math.floor(nTrain / 10);
}

function pick(rows: readonly Example[], idx: readonly number[]): Example[] {
  return idx.map((i) => rows[i] as Example);
}

function cap(idx: readonly number[], n: number | undefined): readonly number[] {
  return n === undefined ? idx : idx.slice(0, n);
}

/** DePT `subsample` on a whole split: unchanged without n, else the first n rows of randperm(len). */
function subsample(rows: readonly Example[], n: number | undefined, p: Permuter): Example[] {
  return n === undefined ? [...rows] : pick(rows, cap(p.perm(rows.length), n));
}

function checkCount(name: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) {
    throw new SoftpromptError('invalid_config', `${name} must be a non-negative integer, got ${v}.`, { path: name });
  }
}

export interface SplitResult {
  splits: Splits;
  notes: string[];
}

function holdOut(train: readonly Example[], p: Permuter, opts: SplitOptions): { train: Example[]; validation: Example[]; size: number } {
  const size = opts.validationSize ?? largeValidationSize(train.length);
  if (size > train.length) {
    throw new SoftpromptError('invalid_config', `validationSize ${size} exceeds the ${train.length} train rows.`, { path: 'validationSize' });
  }
  const idx = p.perm(train.length);
  return {
    validation: pick(train, cap(idx.slice(0, size), opts.maxEval)),
    train: pick(train, cap(idx.slice(size), opts.maxTrain)),
    size,
  };
}

export function applySplitProtocol(
  kind: SplitKind,
  original: { train: readonly Example[]; dev: readonly Example[]; devMismatched?: readonly Example[] | null },
  p: Permuter,
  opts: SplitOptions = {},
): SplitResult {
  checkCount('maxTrain', opts.maxTrain);
  checkCount('maxEval', opts.maxEval);
  checkCount('validationSize', opts.validationSize);
  const { train, dev } = original;
  const notes: string[] = [];
  if (kind === 'small') {
    const idx = p.perm(dev.length);
    const half = Math.floor(dev.length / 2);
    return {
      splits: {
        train: subsample(train, opts.maxTrain, p),
        validation: pick(dev, cap(idx.slice(0, half), opts.maxEval)),
        test: pick(dev, cap(idx.slice(half), opts.maxEval)),
      },
      notes,
    };
  }
  if (kind === 'large') {
    const h = holdOut(train, p, opts);
    if (h.size !== LARGE_VALIDATION_SIZE) notes.push(`validation is ${h.size} rows held out of the ${train.length} train rows (the reference holds out 1,000).`);
    return { splits: { train: h.train, validation: h.validation, test: subsample(dev, opts.maxEval, p) }, notes };
  }
  // mnli
  const test = subsample(dev, opts.maxEval, p);
  const mismatched = original.devMismatched ?? null;
  if (mismatched !== null) {
    return { splits: { train: subsample(train, opts.maxTrain, p), validation: subsample(mismatched, opts.maxEval, p), test }, notes };
  }
  const h = holdOut(train, p, opts);
  notes.push(`no mismatched dev set: validation is ${h.size} rows held out of the ${train.length} train rows.`);
  return { splits: { train: h.train, validation: h.validation, test }, notes };
}
