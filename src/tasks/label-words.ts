/**
 * A classification task with other label words: class i's target becomes words[i] (e.g. SST-2's "0"/"1" as
 * "negative"/"positive", the words a model's pretraining taught). Splits, metrics and rank scoring all see the
 * new words; the rows and their order are unchanged.
 */
import { SoftpromptError } from '../errors.js';
import type { Example, TaskSpec } from './types.js';

export function withLabelWords(task: TaskSpec, words: readonly string[]): TaskSpec {
  const old = task.labelWords;
  if (old === null) {
    throw new SoftpromptError('invalid_config', `--label-words: ${task.name} has no label words to replace (a regression or QA task).`, { path: 'config.labelWords' });
  }
  if (words.length !== old.length) {
    throw new SoftpromptError('invalid_config', `--label-words gives ${words.length} words (${words.join(', ')}) but ${task.name} has ${old.length} classes (${old.join(', ')}).`, { path: 'config.labelWords' });
  }
  if (new Set(words).size !== words.length || words.some((w) => w.trim() === '')) {
    throw new SoftpromptError('invalid_config', `--label-words must be distinct, non-empty words, got ${JSON.stringify(words)}.`, { path: 'config.labelWords' });
  }
  const map = new Map(old.map((w, i) => [w, words[i]!]));
  const relabel = (rows: Example[]): Example[] => rows.map((e) => ({ ...e, target: map.get(e.target) ?? e.target }));
  const out: TaskSpec = { ...task, labelWords: [...words], read: (dir, split) => relabel(task.read(dir, split)) };
  delete out.labelList;
  if (task.readFile !== undefined) {
    const rf = task.readFile.bind(task);
    out.readFile = (file) => relabel(rf(file));
  }
  if (task.readMismatched !== undefined) {
    const rm = task.readMismatched.bind(task);
    out.readMismatched = (dir) => {
      const rows = rm(dir);
      return rows === null ? null : relabel(rows);
    };
  }
  return out;
}
