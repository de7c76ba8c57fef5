/**
 * Global gradient-norm clipping with torch `clip_grad_norm_` semantics (norm_type=2), as the HF Trainer applies
 * it to all trainable tensors together (DePT: P, A and B; max_grad_norm=1.0, spec §1.7):
 *
 *   total_norm = ||concat(all grads)||_2
 *   clip_coef  = max_norm / (total_norm + 1e-6)
 *   if clip_coef < 1: grads *= clip_coef
 *
 * and the finiteness guard the loop runs on every loss.
 */

import { SoftpromptError } from '../errors.js';
import type { Param } from './params.js';

/** Global L2 norm of all gradients (accumulated in float64). */
export function gradNorm(params: readonly Param[]): number {
  let sq = 0;
  for (const p of params) {
    const g = p.grad;
    for (let i = 0; i < g.length; i++) sq += g[i]! * g[i]!;
  }
  return Math.sqrt(sq);
}

/** Scales every gradient in place when the global norm exceeds maxNorm; returns the norm before clipping. */
export function clipGradNorm(params: readonly Param[], maxNorm: number): number {
  const norm = gradNorm(params);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    for (const p of params) {
      const g = p.grad;
      for (let i = 0; i < g.length; i++) g[i] = g[i]! * coef;
    }
  }
  return norm;
}

function describe(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? 'Infinity' : '-Infinity';
}

/**
 * Throws 'non_finite_loss' when `value` is NaN or ±Infinity. `what` names the quantity ("loss", "gradient norm").
 * The message names the step, the value and the last good checkpoint, so the run can be resumed from it.
 */
export function assertFinite(value: number, step: number, lastCheckpoint?: string, what = 'loss'): void {
  if (Number.isFinite(value)) return;
  const where =
    lastCheckpoint === undefined
      ? 'No checkpoint has been saved yet.'
      : `The last good checkpoint is ${lastCheckpoint}.`;
  throw new SoftpromptError('non_finite_loss', `Training ${what} is ${describe(value)} at step ${step}. ${where}`, {
    path: `step ${step}`,
    ...(lastCheckpoint === undefined ? {} : { file: lastCheckpoint }),
    hint: 'Lower --lr (or raise --warmup-steps) and check the data for empty or broken rows; then rerun with --resume, which continues from the newest (good) checkpoint.',
  });
}
