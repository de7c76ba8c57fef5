/**
 * A silver-labelled sentiment task for the supervised pretraining mixture: sentences of the span corpus scored
 * by the VADER lexicon (Hutto & Gilbert 2014, the `vader-sentiment` port), written as
 *
 *   sentence: a gorgeous , witty , seductive movie .   →   positive
 *
 * Labels come from the lexicon's compound score, never from a dataset's annotations: SST-2's sentences may be
 * scored (they are unlabelled text of the span corpus), its gold labels are never read. Only clear cases are
 * kept (|compound| ≥ threshold), and the classes are balanced by dropping the surplus of the larger one, so a
 * prompt tuned later starts from a decoder that answers "positive" / "negative" about a text's polarity.
 */
import vader from 'vader-sentiment';
import type { SupervisedExample } from './supervised.js';

export const SILVER_TASK = 'sentiment-silver';

export interface SilverOptions {
  /** Smallest |compound| score kept (VADER's own neutral band is ±0.05). */
  threshold: number;
  /** Input template; {text} is replaced by the sentence. */
  template: string;
  minWords: number;
  maxWords: number;
}

export const DEFAULT_SILVER: SilverOptions = { threshold: 0.3, template: 'sentence: {text}', minWords: 4, maxWords: 60 };

/** Sentences of a document: split after . ! ? followed by a space (SST-2 rows are single sentences already). */
export function sentences(doc: string): string[] {
  return doc.split(/(?<=[.!?])\s+/).map((s) => s.trim()).filter((s) => s !== '');
}

export function silverSentimentExamples(docs: readonly string[], opts: SilverOptions = DEFAULT_SILVER): SupervisedExample[] {
  const pos: string[] = [];
  const neg: string[] = [];
  const seen = new Set<string>();
  for (const doc of docs) {
    for (const s of sentences(doc)) {
      const words = s.split(' ').length;
      if (words < opts.minWords || words > opts.maxWords || seen.has(s)) continue;
      seen.add(s);
      const score = vader.SentimentIntensityAnalyzer.polarity_scores(s).compound;
      if (score >= opts.threshold) pos.push(s);
      else if (score <= -opts.threshold) neg.push(s);
    }
  }
  const n = Math.min(pos.length, neg.length);
  const row = (text: string, target: string): SupervisedExample => ({ task: SILVER_TASK, input: opts.template.replace('{text}', text), target });
  const out: SupervisedExample[] = [];
  for (let i = 0; i < n; i++) out.push(row(pos[i]!, 'positive'), row(neg[i]!, 'negative'));
  return out;
}
