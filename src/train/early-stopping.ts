/**
 * Patience on the primary validation metric, like HF `EarlyStoppingCallback`: an evaluation improves when it beats
 * the best so far by more than `threshold` (strictly); after `patience` evaluations in a row without improvement,
 * training stops. Greater is better by default (DePT: metric_for_best_model with greater_is_better=True).
 */

import { SoftpromptError } from '../errors.js';

export interface EarlyStoppingOptions {
  /** Evaluations without improvement before stopping; Infinity (the default) never stops, only tracks the best. */
  patience?: number;
  greaterIsBetter?: boolean;
  /** Minimum improvement that counts (HF early_stopping_threshold); default 0. */
  threshold?: number;
}

export interface EarlyStoppingState {
  best: number | null;
  bestStep: number | null;
  /** Evaluations since the last improvement. */
  badEvals: number;
}

export interface EarlyStoppingUpdate {
  improved: boolean;
  shouldStop: boolean;
}

export class EarlyStopping {
  readonly patience: number;
  readonly greaterIsBetter: boolean;
  readonly threshold: number;
  private best: number | null = null;
  private bestStep: number | null = null;
  private badEvals = 0;

  constructor(options: EarlyStoppingOptions = {}) {
    const patience = options.patience ?? Infinity;
    if (!(patience === Infinity || (Number.isInteger(patience) && patience >= 1))) {
      throw new SoftpromptError('invalid_config', `patience must be a positive integer or Infinity, got ${patience}`, {
        path: 'patience',
      });
    }
    const threshold = options.threshold ?? 0;
    if (!(threshold >= 0)) {
      throw new SoftpromptError('invalid_config', `early-stopping threshold must be >= 0, got ${threshold}`, {
        path: 'threshold',
      });
    }
    this.patience = patience;
    this.greaterIsBetter = options.greaterIsBetter ?? true;
    this.threshold = threshold;
  }

  /** Records the metric of the evaluation at `step`. A NaN metric never improves. */
  update(step: number, value: number): EarlyStoppingUpdate {
    const better =
      !Number.isNaN(value) &&
      (this.best === null ||
        ((this.greaterIsBetter ? value > this.best : value < this.best) && Math.abs(value - this.best) > this.threshold));
    if (better) {
      this.best = value;
      this.bestStep = step;
      this.badEvals = 0;
    } else {
      this.badEvals += 1;
    }
    return { improved: better, shouldStop: this.badEvals >= this.patience };
  }

  get bestValue(): number | null {
    return this.best;
  }

  get bestAt(): number | null {
    return this.bestStep;
  }

  state(): EarlyStoppingState {
    return { best: this.best, bestStep: this.bestStep, badEvals: this.badEvals };
  }

  loadState(state: EarlyStoppingState): void {
    this.best = state.best;
    this.bestStep = state.bestStep;
    this.badEvals = state.badEvals;
  }
}
