/**
 * T5 relative position bias: `T5Attention._relative_position_bucket` and `compute_bias` of HF modeling_t5.py.
 * The log term is evaluated in float32 like the reference (Math.fround at each float op), so buckets agree
 * for any distance, not only the small ones where float32 and float64 coincide.
 */

/** Bucket of relative_position = key_pos - query_pos. */
export function relativePositionBucket(relativePosition: number, bidirectional: boolean, numBuckets: number,
  maxDistance: number): number {
  let ret = 0;
  let n: number;
  let nb = numBuckets;
  if (bidirectional) {
    nb = Math.floor(nb / 2);
    if (relativePosition > 0) ret += nb;
    n = Math.abs(relativePosition);
  } else {
    n = -Math.min(relativePosition, 0);
  }
  const maxExact = Math.floor(nb / 2);
  if (n < maxExact) return ret + n;
  // torch: max_exact + (log(n.float() / max_exact) / math.log(max_distance / max_exact) * (nb - max_exact)).to(long)
  const f = Math.fround;
  const ratio = f(n / maxExact);
  const logRatio = f(Math.log(ratio));
  const denom = f(Math.log(maxDistance / maxExact));
  const scaled = f(f(logRatio / denom) * (nb - maxExact));
  const large = maxExact + Math.trunc(scaled);
  return ret + Math.min(large, nb - 1);
}

/** Bucket of every relative position rel = j - (qStart + i) that queries qStart.. and keys 0..Tk-1 produce, at rel - minRel. */
function relativeBuckets(Tq: number, Tk: number, qStart: number, bidirectional: boolean, numBuckets: number,
  maxDistance: number): { buckets: Int32Array; minRel: number } {
  const minRel = -(qStart + Tq - 1);
  const maxRel = Tk - 1 - qStart;
  const buckets = new Int32Array(maxRel - minRel + 1);
  for (let r = minRel; r <= maxRel; r++) {
    buckets[r - minRel] = relativePositionBucket(r, bidirectional, numBuckets, maxDistance);
  }
  return { buckets, minRel };
}

/**
 * bias (NH, Tq, Tk) for queries at positions qStart..qStart+Tq-1 and keys 0..Tk-1, from the
 * relative_attention_bias weight (numBuckets, NH).
 */
export function computePositionBias(weight: Float32Array, NH: number, Tq: number, Tk: number, qStart: number,
  bidirectional: boolean, numBuckets: number, maxDistance: number, out?: Float32Array): Float32Array {
  const bias = out ?? new Float32Array(NH * Tq * Tk);
  const { buckets, minRel } = relativeBuckets(Tq, Tk, qStart, bidirectional, numBuckets, maxDistance);
  for (let h = 0; h < NH; h++) {
    for (let i = 0; i < Tq; i++) {
      const row = (h * Tq + i) * Tk;
      const q = qStart + i;
      for (let j = 0; j < Tk; j++) bias[row + j] = weight[buckets[j - q - minRel]! * NH + h]!;
    }
  }
  return bias;
}

/** The adjoint of computePositionBias: dweight (numBuckets, NH) += dbias (NH, Tq, Tk) summed by bucket. */
export function positionBiasBackward(dweight: Float32Array, dbias: Float32Array, NH: number, Tq: number, Tk: number,
  qStart: number, bidirectional: boolean, numBuckets: number, maxDistance: number): void {
  const { buckets, minRel } = relativeBuckets(Tq, Tk, qStart, bidirectional, numBuckets, maxDistance);
  // sum each head's entries per bucket in float64 first: thousands of (i, j) pairs share a bucket
  const acc = new Float64Array(numBuckets);
  for (let h = 0; h < NH; h++) {
    acc.fill(0);
    for (let i = 0; i < Tq; i++) {
      const row = (h * Tq + i) * Tk;
      const q = qStart + i;
      for (let j = 0; j < Tk; j++) acc[buckets[j - q - minRel]!] += dbias[row + j]!;
    }
    for (let k = 0; k < numBuckets; k++) dweight[k * NH + h] += acc[k]!;
  }
}
