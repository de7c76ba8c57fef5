/**
 * The two reference points of the glue-small table that need no neural model, computed on the same splits:
 *
 * - majority class: the most common training target, predicted for every row (STS-B: the training mean);
 * - TF-IDF + logistic regression: word unigrams and bigrams of the whole source text (lower-cased, sublinear tf,
 *   smooth idf, L2-normalised rows, as scikit-learn's TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
 *   multinomial logistic regression with L2 penalty fitted by full-batch gradient descent with Adam; STS-B gets
 *   ridge regression on the same features. The L2 strength is picked on the validation split from a small grid.
 */
import { evaluate } from '../src/tasks/metrics.js';
import type { Example, TaskSpec } from '../src/tasks/types.js';
import { fitLinear, Tfidf, type Sparse } from '../src/pretrain/tfidf-classifier.js';

export interface BaselineResult {
  validation: Record<string, number>;
  test: Record<string, number>;
  /** the chosen L2 strength (TF-IDF) */
  l2?: number;
}

function targetsOf(rows: readonly Example[]): string[] {
  return rows.map((r) => r.target);
}

export function majorityBaseline(task: Pick<TaskSpec, 'metricNames' | 'labelWords'>, splits: { train: Example[]; validation: Example[]; test: Example[] }): BaselineResult {
  let guess: string;
  if (task.labelWords === null) {
    const mean = splits.train.reduce((a, r) => a + Number(r.label), 0) / splits.train.length;
    guess = (Math.round(mean * 5) / 5).toFixed(1);
  } else {
    const counts = new Map<string, number>();
    for (const r of splits.train) counts.set(r.target, (counts.get(r.target) ?? 0) + 1);
    guess = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
  }
  const score = (rows: Example[]) => evaluate(task, rows.map(() => guess), targetsOf(rows));
  return { validation: score(splits.validation), test: score(splits.test) };
}

export function tfidfBaseline(task: Pick<TaskSpec, 'metricNames' | 'labelWords' | 'primaryMetric'>, splits: { train: Example[]; validation: Example[]; test: Example[] }): BaselineResult {
  const vec = new Tfidf().fit(splits.train.map((r) => r.source));
  const F = vec.size;
  const X = splits.train.map((r) => vec.transform(r.source));
  const regression = task.labelWords === null;
  const classes = regression ? ['score'] : task.labelWords!;
  const y = Float64Array.from(splits.train, (r) => (regression ? Number(r.label) : classes.indexOf(r.target)));
  const predictAll = (scores: (x: Sparse) => Float64Array, rows: Example[]): string[] => rows.map((r) => {
    const s = scores(vec.transform(r.source));
    if (regression) return (Math.round(Math.min(5, Math.max(0, s[0]!)) * 5) / 5).toFixed(1);
    let best = 0;
    for (let k = 1; k < s.length; k++) if (s[k]! > s[best]!) best = k;
    return classes[best]!;
  });
  let best: BaselineResult | null = null;
  for (const l2 of [1e-4, 1e-3, 1e-2]) {
    const scores = fitLinear(X, y, classes.length, F, l2, regression);
    const validation = evaluate(task, predictAll(scores, splits.validation), targetsOf(splits.validation));
    if (best === null || validation[task.primaryMetric]! > best.validation[task.primaryMetric]!) {
      best = { validation, test: evaluate(task, predictAll(scores, splits.test), targetsOf(splits.test)), l2 };
    }
  }
  return best!;
}
