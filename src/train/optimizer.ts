/**
 * AdamW exactly as the legacy `transformers.AdamW` (optim=adamw_hf), the optimizer DePT actually ran (spec §1.7).
 * Reference: huggingface/transformers v4.x `src/transformers/optimization.py: class AdamW`, whose step is
 *
 *   exp_avg.mul_(beta1).add_(grad, alpha=1.0 - beta1)
 *   exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
 *   denom = exp_avg_sq.sqrt().add_(eps)
 *   step_size = lr * math.sqrt(1.0 - beta2 ** step) / (1.0 - beta1 ** step)      # correct_bias=True
 *   p.addcdiv_(exp_avg, denom, value=-step_size)
 *   if weight_decay > 0.0: p.add_(p, alpha=-lr * weight_decay)                   # after the Adam update
 *
 * Note eps is added to sqrt(v) *without* bias-correcting v (unlike torch.optim.AdamW), and eps defaults to 1e-6.
 * `lr` is the scheduled rate (group lr × lrFactor), as LambdaLR writes it into the group before each step.
 *
 * Arithmetic: each element is computed in float64 and m, v, p are stored (rounded) to fp32 at the points where
 * torch stores a tensor, so results agree with torch to ~1 ulp and are bit-for-bit deterministic across runs.
 */

import { SoftpromptError } from '../errors.js';
import type { Param, ParamGroup } from './params.js';

export interface AdamWOptions {
  /** (beta1, beta2); legacy default (0.9, 0.999). */
  betas?: readonly [number, number];
  /** Added to sqrt(v); legacy default 1e-6. */
  eps?: number;
  /** Bias correction of the step size; legacy default true. */
  correctBias?: boolean;
}

/** Everything needed to resume bit-for-bit: the step count and both moments of every param, keyed by name. */
export interface AdamWState {
  /** Number of optimizer steps taken (torch's state["step"]; one counter, all params step together). */
  step: number;
  /** First moment m (torch exp_avg) per param name. */
  expAvg: Record<string, Float32Array>;
  /** Second moment v (torch exp_avg_sq) per param name. */
  expAvgSq: Record<string, Float32Array>;
}

export class AdamW {
  readonly params: readonly Param[];
  readonly groups: ReadonlyMap<string, ParamGroup>;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly correctBias: boolean;
  private t = 0;
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];

  constructor(params: readonly Param[], groups: readonly ParamGroup[], options: AdamWOptions = {}) {
    const [beta1, beta2] = options.betas ?? [0.9, 0.999];
    const eps = options.eps ?? 1e-6;
    // Same checks and ranges as the legacy constructor.
    if (!(beta1 >= 0 && beta1 < 1)) throw invalid(`AdamW beta1 must be in [0, 1), got ${beta1}`, 'optimizer.betas[0]');
    if (!(beta2 >= 0 && beta2 < 1)) throw invalid(`AdamW beta2 must be in [0, 1), got ${beta2}`, 'optimizer.betas[1]');
    if (!(eps >= 0)) throw invalid(`AdamW eps must be >= 0, got ${eps}`, 'optimizer.eps');
    const byName = new Map<string, ParamGroup>();
    for (const g of groups) {
      if (byName.has(g.name)) throw invalid(`Duplicate parameter group "${g.name}"`, `groups.${g.name}`);
      if (!(g.lr >= 0)) throw invalid(`Learning rate of group "${g.name}" must be >= 0, got ${g.lr}`, `groups.${g.name}.lr`);
      if (!(g.weightDecay >= 0)) {
        throw invalid(`Weight decay of group "${g.name}" must be >= 0, got ${g.weightDecay}`, `groups.${g.name}.weightDecay`);
      }
      byName.set(g.name, g);
    }
    const seen = new Set<string>();
    for (const p of params) {
      if (seen.has(p.name)) throw invalid(`Duplicate parameter name "${p.name}"`, p.name);
      seen.add(p.name);
      if (!byName.has(p.group)) {
        throw invalid(`Parameter "${p.name}" is in group "${p.group}", which is not among the groups [${[...byName.keys()].join(', ')}]`, p.name);
      }
      if (p.grad.length !== p.data.length) {
        throw invalid(`Parameter "${p.name}" has ${p.data.length} values but a gradient of ${p.grad.length}`, p.name);
      }
    }
    this.params = params;
    this.groups = byName;
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.correctBias = options.correctBias ?? true;
    this.m = params.map((p) => new Float32Array(p.data.length));
    this.v = params.map((p) => new Float32Array(p.data.length));
  }

  /** Optimizer steps taken so far. */
  get stepCount(): number {
    return this.t;
  }

  /** The lr each group would use at this schedule factor: group lr × factor. */
  groupLrs(lrFactor = 1): Record<string, number> {
    const out: Record<string, number> = {};
    for (const g of this.groups.values()) out[g.name] = g.lr * lrFactor;
    return out;
  }

  /** One update from the current .grad buffers; lrFactor is the schedule's multiplier for this step. */
  step(lrFactor = 1): void {
    this.t += 1;
    const { beta1, beta2, eps } = this;
    const bc1 = 1 - beta1 ** this.t;
    const bc2 = 1 - beta2 ** this.t;
    for (let k = 0; k < this.params.length; k++) {
      const p = this.params[k]!;
      const group = this.groups.get(p.group)!;
      const lr = group.lr * lrFactor;
      const stepSize = this.correctBias ? (lr * Math.sqrt(bc2)) / bc1 : lr;
      const decay = lr * group.weightDecay;
      const m = this.m[k]!;
      const v = this.v[k]!;
      const { data, grad } = p;
      for (let i = 0; i < data.length; i++) {
        const g = grad[i]!;
        m[i] = beta1 * m[i]! + (1 - beta1) * g;
        v[i] = beta2 * v[i]! + (1 - beta2) * g * g;
        const denom = Math.fround(Math.sqrt(v[i]!)) + eps;
        data[i] = data[i]! - stepSize * (m[i]! / denom);
        if (decay > 0) data[i] = data[i]! - decay * data[i]!; // decoupled, on the already-updated p
      }
    }
  }

  /** A deep copy of the moments and step count. */
  state(): AdamWState {
    const expAvg: Record<string, Float32Array> = {};
    const expAvgSq: Record<string, Float32Array> = {};
    this.params.forEach((p, k) => {
      expAvg[p.name] = this.m[k]!.slice();
      expAvgSq[p.name] = this.v[k]!.slice();
    });
    return { step: this.t, expAvg, expAvgSq };
  }

  /** Restores a state() snapshot; every param must be present with the right length. */
  loadState(state: AdamWState): void {
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw invalid(`Optimizer state step must be a non-negative integer, got ${state.step}`, 'optimizer.step');
    }
    this.params.forEach((p, k) => {
      for (const [label, table] of [['exp_avg', state.expAvg], ['exp_avg_sq', state.expAvgSq]] as const) {
        const src = table[p.name];
        if (src === undefined) {
          throw new SoftpromptError('missing_tensor', `Optimizer state has no ${label} for parameter "${p.name}"`, {
            path: `${p.name}.${label}`,
            hint: 'Was the checkpoint saved with the same method and config?',
          });
        }
        if (src.length !== p.data.length) {
          throw new SoftpromptError(
            'shape_mismatch',
            `Optimizer ${label} for "${p.name}": expected ${p.data.length} values, got ${src.length}`,
            { path: `${p.name}.${label}`, hint: 'Was the checkpoint saved with the same method and config?' },
          );
        }
      }
    });
    this.params.forEach((p, k) => {
      this.m[k]!.set(state.expAvg[p.name]!);
      this.v[k]!.set(state.expAvgSq[p.name]!);
    });
    this.t = state.step;
  }
}

function invalid(message: string, path: string): SoftpromptError {
  return new SoftpromptError('invalid_config', message, { path });
}
