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
import { lexiconScorers } from './sentiment-lexicons.js';
import { fitLinear, Tfidf } from './tfidf-classifier.js';

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

/** The field labels the corpus builder writes before task text ("sentence1: … sentence2: …"). */
const FIELD_LABEL = /(?:^|\s)(?:sentence[12]?|premise|hypothesis|question[12]?|text|paragraph|answer|word|passage|choice[12]): /;

/**
 * Sentences of a document: its fields' text without their labels (so a silver row reads `sentence: {text}`, never
 * `sentence: sentence2: {text}`), split after . ! ? followed by a space (SST-2 rows are single sentences already).
 */
export function sentences(doc: string): string[] {
  return doc.split(FIELD_LABEL).flatMap((field) => field.split(/(?<=[.!?])\s+/)).map((s) => s.trim()).filter((s) => s !== '');
}

/** Every distinct sentence of the documents within the word bounds, in first-seen order. */
function candidateSentences(docs: readonly string[], opts: SilverOptions): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const doc of docs) {
    for (const s of sentences(doc)) {
      const words = s.split(' ').length;
      if (words < opts.minWords || words > opts.maxWords || seen.has(s)) continue;
      seen.add(s);
      out.push(s);
    }
  }
  return out;
}

export function silverSentimentExamples(docs: readonly string[], opts: SilverOptions = DEFAULT_SILVER): SupervisedExample[] {
  const { pos, neg } = vaderSplit(candidateSentences(docs, opts), opts.threshold);
  return balancedRows(pos, neg, opts);
}

function vaderSplit(candidates: readonly string[], threshold: number): { pos: string[]; neg: string[] } {
  const pos: string[] = [];
  const neg: string[] = [];
  for (const s of candidates) {
    const score = vader.SentimentIntensityAnalyzer.polarity_scores(s).compound;
    if (score >= threshold) pos.push(s);
    else if (score <= -threshold) neg.push(s);
  }
  return { pos, neg };
}

function balancedRows(pos: readonly string[], neg: readonly string[], opts: SilverOptions): SupervisedExample[] {
  const n = Math.min(pos.length, neg.length);
  const row = (text: string, target: string): SupervisedExample => ({ task: SILVER_TASK, input: opts.template.replace('{text}', text), target });
  const out: SupervisedExample[] = [];
  for (let i = 0; i < n; i++) out.push(row(pos[i]!, 'positive'), row(neg[i]!, 'negative'));
  return out;
}

export interface StudentOptions {
  /** Fraction of candidate sentences at each end of the lexicons' summed ranking that seed the student. */
  seedFraction: number;
  /**
   * A seed row needs this many more lexicons on its side than on the other, a zero score counting as not
   * negative: with four lexicons and 2, a positive seed has at most one negative score, a negative seed at least three.
   */
  minAgreement: number;
  /** Fraction of all candidate sentences labelled at each end of the student's ranking. */
  keep: number;
  l2: number;
  epochs: number;
}

export const DEFAULT_STUDENT: StudentOptions = { seedFraction: 0.3, minAgreement: 2, keep: 0.3, l2: 1e-6, epochs: 600 };

/** Each scorer's scores divided by their standard deviation over all sentences, summed per sentence. */
function summedStandardScores(raw: readonly number[][]): number[] {
  const sd = raw.map((a) => {
    const mean = a.reduce((x, y) => x + y, 0) / a.length;
    return Math.sqrt(a.reduce((x, y) => x + (y - mean) ** 2, 0) / a.length) || 1;
  });
  return raw[0]!.map((_, i) => raw.reduce((acc, r, k) => acc + r[i]! / sd[k]!, 0));
}

/**
 * Silver rows from a student of four lexicons (sentiment-lexicons.ts): the sentences the lexicons rank most
 * clearly positive / negative, on which most of them agree, seed a TF-IDF + logistic-regression classifier; it
 * ranks every candidate sentence and its most confident `keep` fraction at each end become the positive /
 * negative rows (positives first, then negatives). The student generalises from the lexicons' words to the words
 * they co-occur with and labels sentences the lexicons find neutral (on SST-2 validation, measured once for the
 * model card: VADER 62.5 %, the four lexicons together 67.1 %, their student 71.2 %). No dataset's labels are read.
 */
export function silverStudentExamples(docs: readonly string[], opts: SilverOptions = DEFAULT_SILVER, student: StudentOptions = DEFAULT_STUDENT): SupervisedExample[] {
  const candidates = candidateSentences(docs, opts);
  const raw = lexiconScorers().map((score) => candidates.map(score));
  const summed = summedStandardScores(raw);
  // A zero score counts as not negative: the rows the default model was trained on were made this way.
  const agreement = (i: number) => raw.reduce((acc, r) => acc + (r[i]! < 0 ? -1 : 1), 0);
  const bySum = candidates.map((_, i) => i).sort((a, b) => summed[b]! - summed[a]!);
  const k = Math.floor(candidates.length * student.seedFraction);
  const pos = bySum.slice(0, k).filter((i) => agreement(i) >= student.minAgreement);
  const neg = bySum.slice(bySum.length - k).filter((i) => agreement(i) <= -student.minAgreement);
  const n = Math.min(pos.length, neg.length);
  const seed = [...pos.slice(0, n), ...neg.slice(neg.length - n)].map((i) => candidates[i]!);
  const vec = new Tfidf().fit(seed);
  const y = Float64Array.from(seed, (_, i) => (i < n ? 1 : 0));
  const scores = fitLinear(seed.map((s) => vec.transform(s)), y, 2, vec.size, student.l2, false, student.epochs);
  const margin = candidates.map((s) => {
    const v = scores(vec.transform(s));
    return v[1]! - v[0]!;
  });
  const ranked = candidates.map((_, i) => i).sort((a, b) => margin[b]! - margin[a]! || a - b);
  const keep = Math.floor(candidates.length * student.keep);
  const row = (i: number, target: string): SupervisedExample => ({ task: SILVER_TASK, input: opts.template.replace('{text}', candidates[i]!), target });
  return [...ranked.slice(0, keep).map((i) => row(i, 'positive')), ...ranked.slice(ranked.length - keep).map((i) => row(i, 'negative'))];
}
