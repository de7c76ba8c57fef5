/**
 * SQuAD EM / F1 as T5's `qa_utils` (used by DePT's `metrics.squad`): normalise (lower-case, drop ASCII
 * punctuation, drop the articles a/an/the, collapse whitespace), then take the best score over the ground truths
 * and average. Token F1 counts repeated tokens (multiset overlap). Scaled ×100.
 */

const PUNCTUATION = new Set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'); // Python string.punctuation
// Python's \b is Unicode-aware: a word character is a letter, a number or "_".
const ARTICLES = /(?<![\p{L}\p{N}_])(a|an|the)(?![\p{L}\p{N}_])/gu;

export function normalizeSquad(text: string): string {
  let s = text.toLowerCase();
  s = Array.from(s, (ch) => (PUNCTUATION.has(ch) ? '' : ch)).join('');
  s = s.replace(ARTICLES, ' ');
  return s.split(/\s+/).filter((w) => w !== '').join(' ');
}

function tokenF1(target: string, prediction: string): number {
  const p = prediction.split(' ').filter((w) => w !== '');
  const t = target.split(' ').filter((w) => w !== '');
  const counts = new Map<string, number>();
  for (const w of t) counts.set(w, (counts.get(w) ?? 0) + 1);
  let same = 0;
  for (const w of p) {
    const c = counts.get(w) ?? 0;
    if (c > 0) {
      same++;
      counts.set(w, c - 1);
    }
  }
  if (same === 0) return 0;
  const precision = same / p.length;
  const recall = same / t.length;
  return (2 * precision * recall) / (precision + recall);
}

function meanBest(predictions: readonly string[], targets: readonly (readonly string[])[], score: (t: string, p: string) => number): number {
  if (predictions.length !== targets.length) {
    throw new RangeError(`squad: ${predictions.length} predictions for ${targets.length} targets`);
  }
  if (predictions.length === 0) return 0;
  let sum = 0;
  predictions.forEach((pred, i) => {
    const p = normalizeSquad(pred);
    sum += Math.max(0, ...(targets[i] as readonly string[]).map((t) => score(normalizeSquad(t), p)));
  });
  return (100 * sum) / predictions.length;
}

/** Exact match after normalisation, best over each row's ground truths. */
export function squadExactMatch(predictions: readonly string[], targets: readonly (readonly string[])[]): number {
  return meanBest(predictions, targets, (t, p) => (t === p ? 1 : 0));
}

/** Token-overlap F1 after normalisation, best over each row's ground truths. */
export function squadF1(predictions: readonly string[], targets: readonly (readonly string[])[]): number {
  return meanBest(predictions, targets, tokenF1);
}
