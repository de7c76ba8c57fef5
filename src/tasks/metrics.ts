/**
 * Evaluation metrics as DePT's `src/metrics.py` computes them on decoded, stripped strings, all scaled ×100.
 *
 *   evaluate(sst2, ['1', '0', 'positive'], ['1', '1', '0'])  // { accuracy: 33.33… }
 *
 * Metric keys are DePT's: accuracy, f1, matthews_correlation, pearson, spearmanr, f1_multiclass, em.
 * Empty inputs score 0.
 */

import { SoftpromptError } from '../errors.js';
import { pearson, spearman } from './correlation.js';
import { squadExactMatch, squadF1 } from './squad.js';
import type { TaskSpec } from './types.js';

export { averageRanks, pearson, pearsonR, spearman, stringToFloat } from './correlation.js';
export { normalizeSquad, squadExactMatch, squadF1 } from './squad.js';

/** Every metric key `evaluate` knows. */
export const METRIC_NAMES: readonly string[] = ['accuracy', 'f1', 'em', 'matthews_correlation', 'pearson', 'spearmanr', 'f1_multiclass'];

function check(predictions: readonly string[], targets: readonly string[], metric: string): void {
  if (predictions.length !== targets.length) {
    throw new SoftpromptError('invalid_data', `${metric}: ${predictions.length} predictions for ${targets.length} targets.`, {
      path: metric,
    });
  }
}

/** Share of rows whose prediction equals the target after trimming both. */
export function accuracy(predictions: readonly string[], targets: readonly string[]): number {
  check(predictions, targets, 'accuracy');
  if (targets.length === 0) return 0;
  let hits = 0;
  targets.forEach((t, i) => {
    if ((predictions[i] as string).trim() === t.trim()) hits++;
  });
  return (100 * hits) / targets.length;
}

/** F1 of class `positive` from counts; 0 when it is undefined (no positives predicted or present), as sklearn. */
function f1FromCounts(tp: number, fp: number, fn: number): number {
  const d = 2 * tp + fp + fn;
  return d === 0 ? 0 : (2 * tp) / d;
}

/**
 * DePT `f1_score_with_invalid`: binary F1 of class "1" where any prediction other than "0"/"1" is replaced by the
 * opposite of its target, i.e. counted wrong. Targets must be "0" or "1".
 */
export function f1WithInvalid(predictions: readonly string[], targets: readonly string[]): number {
  check(predictions, targets, 'f1');
  let tp = 0;
  let fp = 0;
  let fn = 0;
  targets.forEach((raw, i) => {
    const t = raw.trim();
    if (t !== '0' && t !== '1') {
      throw new SoftpromptError('invalid_data', `f1: target ${i} is ${JSON.stringify(raw)}, expected "0" or "1".`, { path: `targets[${i}]` });
    }
    let p = (predictions[i] as string).trim();
    if (p !== '0' && p !== '1') p = t === '1' ? '0' : '1';
    if (p === '1' && t === '1') tp++;
    else if (p === '1') fp++;
    else if (t === '1') fn++;
  });
  return 100 * f1FromCounts(tp, fp, fn);
}

/** MultiRC F1 over all answer options (DePT: f1_score_with_invalid on the flat list). */
export const multircF1 = f1WithInvalid;

/**
 * Matthews correlation (sklearn `matthews_corrcoef`, multiclass form over every string seen, so an invalid
 * prediction is a class of its own). 0 when either side is constant.
 */
export function matthewsCorrcoef(predictions: readonly string[], targets: readonly string[]): number {
  check(predictions, targets, 'matthews_correlation');
  const n = targets.length;
  const tCount = new Map<string, number>();
  const pCount = new Map<string, number>();
  let correct = 0;
  targets.forEach((raw, i) => {
    const t = raw.trim();
    const p = (predictions[i] as string).trim();
    tCount.set(t, (tCount.get(t) ?? 0) + 1);
    pCount.set(p, (pCount.get(p) ?? 0) + 1);
    if (t === p) correct++;
  });
  let tp = 0; // Σ_k t_k · p_k
  for (const [k, c] of tCount) tp += c * (pCount.get(k) ?? 0);
  const sumSq = (m: Map<string, number>): number => [...m.values()].reduce((s, c) => s + c * c, 0);
  const covYtYp = correct * n - tp;
  const covYpYp = n * n - sumSq(pCount);
  const covYtYt = n * n - sumSq(tCount);
  if (covYpYp * covYtYt === 0) return 0;
  return (100 * covYtYp) / Math.sqrt(covYtYt * covYpYp);
}

/** Unweighted mean over `classes` of per-class F1 (sklearn fbeta_score, beta=1, average='macro'; undefined → 0). */
export function macroF1(predictions: readonly string[], targets: readonly string[], classes: readonly string[]): number {
  check(predictions, targets, 'f1_multiclass');
  if (classes.length === 0) return 0;
  let sum = 0;
  for (const c of classes) {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    targets.forEach((raw, i) => {
      const t = raw.trim() === c;
      const p = (predictions[i] as string).trim() === c;
      if (t && p) tp++;
      else if (p) fp++;
      else if (t) fn++;
    });
    sum += f1FromCounts(tp, fp, fn);
  }
  return (100 * sum) / classes.length;
}

/**
 * Every metric of `task` on decoded predictions vs targets, keyed by metric name. For a task without label words
 * (QA), "em"/"f1" are SQuAD EM/F1 with one ground truth per row, as DePT's `metrics.squad` on decoded labels.
 */
/** Label words as class indices ("0", "1", …), so binary metrics see the class whatever its word (--label-words). */
function asClassIndex(xs: readonly string[], labelWords: readonly string[]): string[] {
  return xs.map((x) => {
    const i = labelWords.indexOf(x.trim());
    return i < 0 ? x : String(i);
  });
}

export function evaluate(task: Pick<TaskSpec, 'metricNames' | 'labelWords'>, predictions: readonly string[], targets: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  const truths = (): string[][] => targets.map((t) => [t]);
  for (const name of task.metricNames) {
    switch (name) {
      case 'accuracy':
        out[name] = accuracy(predictions, targets);
        break;
      case 'f1':
        out[name] = task.labelWords === null ? squadF1(predictions, truths()) : f1WithInvalid(asClassIndex(predictions, task.labelWords), asClassIndex(targets, task.labelWords));
        break;
      case 'em':
        out[name] = squadExactMatch(predictions, truths());
        break;
      case 'matthews_correlation':
        out[name] = task.labelWords === null ? matthewsCorrcoef(predictions, targets) : matthewsCorrcoef(asClassIndex(predictions, task.labelWords), asClassIndex(targets, task.labelWords));
        break;
      case 'pearson':
        out[name] = pearson(predictions, targets);
        break;
      case 'spearmanr':
        out[name] = spearman(predictions, targets);
        break;
      case 'f1_multiclass':
        out[name] = macroF1(predictions, targets, task.labelWords ?? []);
        break;
      default:
        throw new SoftpromptError('invalid_config', `Unknown metric "${name}" (known: ${METRIC_NAMES.join(', ')}).`, {
          path: 'metricNames',
        });
    }
  }
  return out;
}
