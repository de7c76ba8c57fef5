/**
 * HF Trainer's `group_by_length` (transformers.trainer_pt_utils.get_length_grouped_indices): a random permutation
 * is cut into megabatches of min(50, ⌊N / 4B⌋) (at least 1) × B examples, each megabatch is sorted by length,
 * longest first (ties keep their permuted order), and the example of greatest length overall is swapped into the
 * first slot, so the first batch is the most expensive one (an out-of-memory shows at once). Batches then hold
 * similar lengths, so dynamic padding pads little, while the megabatches still come in random order.
 */

/** The length-grouped order of `permutation` (a shuffle of 0..N-1) for batches of `batchSize`. */
export function lengthGroupedOrder(permutation: readonly number[], lengths: readonly number[], batchSize: number): number[] {
  const n = permutation.length;
  const mult = Math.max(1, Math.min(Math.floor(n / (batchSize * 4)), 50));
  const size = mult * batchSize;
  const megabatches: number[][] = [];
  for (let i = 0; i < n; i += size) {
    megabatches.push(permutation.slice(i, i + size).sort((a, b) => lengths[b]! - lengths[a]!)); // stable: ties keep order
  }
  let maxIdx = 0; // first megabatch holding the longest example (torch.argmax: the first maximum)
  for (let m = 1; m < megabatches.length; m++) if (lengths[megabatches[m]![0]!]! > lengths[megabatches[maxIdx]![0]!]!) maxIdx = m;
  const first = megabatches[0]!, longest = megabatches[maxIdx]!;
  [first[0], longest[0]] = [longest[0]!, first[0]!];
  return megabatches.flat();
}
