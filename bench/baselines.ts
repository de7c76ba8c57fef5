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

type Sparse = { idx: Int32Array; val: Float32Array };

function tokens(text: string): string[] {
  const words = text.toLowerCase().match(/[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]/g) ?? [];
  const out = [...words];
  for (let i = 0; i + 1 < words.length; i++) out.push(`${words[i]} ${words[i + 1]}`);
  return out;
}

class Tfidf {
  private readonly vocab = new Map<string, number>();
  private idf: Float32Array = new Float32Array(0);

  fit(texts: readonly string[]): this {
    const df = new Map<string, number>();
    for (const t of texts) for (const w of new Set(tokens(t))) df.set(w, (df.get(w) ?? 0) + 1);
    for (const w of [...df.keys()].sort()) this.vocab.set(w, this.vocab.size);
    this.idf = new Float32Array(this.vocab.size);
    const n = texts.length;
    for (const [w, i] of this.vocab) this.idf[i] = Math.log((1 + n) / (1 + df.get(w)!)) + 1;
    return this;
  }

  get size(): number {
    return this.vocab.size;
  }

  transform(text: string): Sparse {
    const tf = new Map<number, number>();
    for (const w of tokens(text)) {
      const i = this.vocab.get(w);
      if (i !== undefined) tf.set(i, (tf.get(i) ?? 0) + 1);
    }
    const idx = Int32Array.from(tf.keys());
    const val = Float32Array.from(idx, (i) => (1 + Math.log(tf.get(i)!)) * this.idf[i]!);
    let norm = 0;
    for (const v of val) norm += v * v;
    norm = Math.sqrt(norm) || 1;
    for (let k = 0; k < val.length; k++) val[k]! /= norm;
    return { idx, val };
  }
}

/** Linear model W (K, F) + b (K) on sparse rows: softmax cross-entropy (K classes) or squared error (K = 1). */
function fitLinear(X: Sparse[], y: Float64Array, K: number, F: number, l2: number, regression: boolean, epochs = 300): (x: Sparse) => Float64Array {
  const W = new Float64Array(K * F), b = new Float64Array(K);
  const mW = new Float64Array(K * F), vW = new Float64Array(K * F), mB = new Float64Array(K), vB = new Float64Array(K);
  const lr = 0.05, b1 = 0.9, b2 = 0.999, eps = 1e-8, N = X.length;
  const scores = (x: Sparse): Float64Array => {
    const s = Float64Array.from(b);
    for (let k = 0; k < K; k++) for (let j = 0; j < x.idx.length; j++) s[k] += W[k * F + x.idx[j]!]! * x.val[j]!;
    return s;
  };
  for (let t = 1; t <= epochs; t++) {
    const gW = new Float64Array(K * F), gB = new Float64Array(K);
    for (let n = 0; n < N; n++) {
      const x = X[n]!, s = scores(x);
      const d = new Float64Array(K);
      if (regression) d[0] = s[0]! - y[n]!;
      else {
        const m = Math.max(...s);
        let z = 0;
        for (let k = 0; k < K; k++) z += Math.exp(s[k]! - m);
        for (let k = 0; k < K; k++) d[k] = Math.exp(s[k]! - m) / z - (k === y[n] ? 1 : 0);
      }
      for (let k = 0; k < K; k++) {
        gB[k] += d[k]! / N;
        for (let j = 0; j < x.idx.length; j++) gW[k * F + x.idx[j]!] += (d[k]! * x.val[j]!) / N;
      }
    }
    for (let i = 0; i < W.length; i++) gW[i] += l2 * W[i]!;
    const c1 = 1 - b1 ** t, c2 = 1 - b2 ** t;
    for (let i = 0; i < W.length; i++) {
      mW[i] = b1 * mW[i]! + (1 - b1) * gW[i]!;
      vW[i] = b2 * vW[i]! + (1 - b2) * gW[i]! * gW[i]!;
      W[i] -= (lr * mW[i]! / c1) / (Math.sqrt(vW[i]! / c2) + eps);
    }
    for (let k = 0; k < K; k++) {
      mB[k] = b1 * mB[k]! + (1 - b1) * gB[k]!;
      vB[k] = b2 * vB[k]! + (1 - b2) * gB[k]! * gB[k]!;
      b[k] -= (lr * mB[k]! / c1) / (Math.sqrt(vB[k]! / c2) + eps);
    }
  }
  return scores;
}

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
