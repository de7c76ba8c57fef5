/**
 * Learning-rate schedule as a pure function of the step, matching HF `get_linear_schedule_with_warmup` and
 * `get_constant_schedule_with_warmup` (transformers `src/transformers/optimization.py`):
 *
 *   linear:   step < W ? step / max(1, W) : max(0, (T - step) / max(1, T - W))
 *   constant: step < W ? step / max(1, W) : 1
 *
 * `step` is the number of optimizer steps already taken (LambdaLR's last_epoch): the 1st update uses
 * lrFactor(0), which is 0 when W > 0, exactly as in the HF Trainer (scheduler.step() runs after optimizer.step()).
 */

import { SoftpromptError } from '../errors.js';

export type ScheduleKind = 'linear' | 'constant';

export interface ScheduleOptions {
  /** W: warmup steps (DePT: 500). */
  warmupSteps: number;
  /** T: total optimizer steps (--max_steps). */
  totalSteps: number;
  kind: ScheduleKind;
}

export function lrFactor(step: number, { warmupSteps, totalSteps, kind }: ScheduleOptions): number {
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  if (kind === 'constant') return 1;
  return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
}

/** Checks the schedule settings once, before training; lrFactor itself never throws. */
export function validateSchedule({ warmupSteps, totalSteps, kind }: ScheduleOptions): void {
  if (!Number.isInteger(totalSteps) || totalSteps <= 0) {
    throw new SoftpromptError('invalid_config', `totalSteps must be a positive integer, got ${totalSteps}`, {
      path: 'schedule.totalSteps',
      hint: 'Give the number of optimizer steps (--steps N; HF\'s max_steps defaults to -1, which breaks the linear schedule).',
    });
  }
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) {
    throw new SoftpromptError('invalid_config', `warmupSteps must be a non-negative integer, got ${warmupSteps}`, {
      path: 'schedule.warmupSteps',
    });
  }
  if (kind !== 'linear' && kind !== 'constant') {
    throw new SoftpromptError('invalid_config', `schedule kind must be "linear" or "constant", got "${String(kind)}"`, {
      path: 'schedule.kind',
    });
  }
}
