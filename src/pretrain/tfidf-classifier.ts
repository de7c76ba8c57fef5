/**
 * A TF-IDF + linear classifier on sparse rows, the no-neural-network reference used by the glue-small bench and by
 * the silver sentiment student of the pretraining corpus: word unigrams and bigrams (lower-cased, sublinear tf,
 * smooth idf, L2-normalised rows, as scikit-learn's TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)) and a
 * linear model with L2 penalty fitted by full-batch gradient descent with Adam (softmax cross-entropy, or squared
 * error for regression).
 */
export type Sparse = { idx: Int32Array; val: Float32Array };

export function tokens(text: string): string[] {
  const words = text.toLowerCase().match(/[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]/g) ?? [];
  const out = [...words];
  for (let i = 0; i + 1 < words.length; i++) out.push(`${words[i]} ${words[i + 1]}`);
  return out;
}

export class Tfidf {
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
export function fitLinear(X: Sparse[], y: Float64Array, K: number, F: number, l2: number, regression: boolean, epochs = 300): (x: Sparse) => Float64Array {
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
