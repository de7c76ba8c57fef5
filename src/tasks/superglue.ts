/**
 * The SuperGLUE tasks in DePT's formats (spec §2.2), read from JSONL (FewGLUE / SuperGLUE release layout:
 * <Task>/train.jsonl, val.jsonl). Label tables follow HF `super_glue` ClassLabel order, e.g. CB:
 * entailment 0, contradiction 1, neutral 2 (not MNLI's order).
 * When only FewGLUE's 32-example train32.jsonl exists (BoolQ, WiC, COPA, MultiRC here), it is read as train.
 */

import path from 'node:path';
import { defineTask, type DefinedTask } from './define.js';
import { getArray, getInt, getObject, getString, isJsonObject, mapLabel, rowError, type JsonObject, type RowRef } from './fields.js';
import { readJsonl } from './jsonl.js';
import { under, type Candidate } from './locate.js';
import type { Example } from './types.js';
import { wscSource } from './wsc.js';

const BIN = ['0', '1'];
/** HF stores booleans as ClassLabel(['False', 'True']). */
const BOOL: Readonly<Record<string, number>> = { false: 0, true: 1, False: 0, True: 1, '0': 0, '1': 1 };
const FEWGLUE_NOTE = 'train is FewGLUE\'s 32-example train32.jsonl (THUDM/P-tuning), not the full SuperGLUE train split.';

type RowFn = (row: JsonObject, ref: RowRef) => Example[];

function jsonlReader(fn: RowFn): (file: string) => Example[] {
  return (file) => readJsonl(file).flatMap(({ line, value }) => fn(value, { file, line }));
}

function files(dirs: string[], fn: RowFn, note?: string): { train: Candidate[]; dev: Candidate[] } {
  const read = jsonlReader(fn);
  const also = (n: string | undefined): string | undefined => (n === undefined ? note : note === undefined ? n : `${n} ${note}`);
  return {
    train: [...under(dirs, 'train.jsonl', read, also(undefined)), ...under(dirs, 'train32.jsonl', read, also(FEWGLUE_NOTE))],
    dev: [...under(dirs, 'val.jsonl', read, also(undefined)), ...under(dirs, 'dev.jsonl', read, also(undefined))],
  };
}

/** id "val.jsonl:12" (file:line, unique across splits) and, when the row has one, the dataset's idx in extra. */
function ids(row: JsonObject, ref: RowRef): Pick<Example, 'id' | 'extra'> {
  const idx = row['idx'];
  const id = `${path.basename(ref.file)}:${ref.line}`;
  return typeof idx === 'number' || typeof idx === 'string' ? { id, extra: { idx } } : { id };
}

/** One example from [prefix, field] pieces and a label table. */
function simple(pieces: Array<[string, string]>, labels: Readonly<Record<string, number>>): RowFn {
  return (row, ref) => {
    const source = pieces.flatMap(([prefix, field]) => [prefix, getString(row, field, ref)]).join(' ');
    const label = mapLabel(row['label'], labels, 'label', ref);
    return [{ source, target: String(label), label, ...ids(row, ref) }];
  };
}

function task(name: string, dirs: string[], fn: RowFn, more: { labelWords?: string[]; metricNames?: string[] } = {}): DefinedTask {
  return defineTask({
    name,
    labelWords: more.labelWords ?? BIN,
    metricNames: more.metricNames ?? ['accuracy'],
    primaryMetric: 'accuracy',
    splitKind: 'small',
    files: files(dirs, fn),
  });
}

export const boolq = task('boolq', ['boolq', 'BoolQ', 'superglue/BoolQ'], simple([['question:', 'question'], ['passage:', 'passage']], BOOL));

export const cb = task(
  'cb',
  ['cb', 'CB', 'superglue/CB'],
  simple([['premise:', 'premise'], ['hypothesis:', 'hypothesis']], { entailment: 0, contradiction: 1, neutral: 2 }),
  { labelWords: ['0', '1', '2'], metricNames: ['accuracy', 'f1_multiclass'] },
);

export const superglueRte = task(
  'superglue-rte',
  ['superglue-rte', 'RTE', 'superglue/RTE'],
  simple([['premise:', 'premise'], ['hypothesis:', 'hypothesis']], { entailment: 0, not_entailment: 1 }),
);

export const wic = task(
  'wic',
  ['wic', 'WiC', 'superglue/WiC'],
  simple([['sentence1:', 'sentence1'], ['sentence2:', 'sentence2'], ['word:', 'word']], BOOL),
);

/** COPA as DePT writes it: premise and both choices; the question (cause/effect) is not in the source. */
export const copa = task(
  'copa',
  ['copa', 'COPA', 'superglue/COPA'],
  simple([['premise:', 'premise'], ['choice1:', 'choice1'], ['choice2:', 'choice2']], { '0': 0, '1': 1 }),
);

/** WSC spans sit under "target" in the FewGLUE/jiant files and at the top level in HF's wsc.fixed. */
const wscRow: RowFn = (row, ref) => {
  const spans = isJsonObject(row['target']) ? getObject(row, 'target', ref) : row;
  const source = wscSource(getString(row, 'text', ref), {
    span1Text: getString(spans, 'span1_text', ref),
    span1Index: getInt(spans, 'span1_index', ref),
    span2Text: getString(spans, 'span2_text', ref),
    span2Index: getInt(spans, 'span2_index', ref),
  });
  const label = mapLabel(row['label'], BOOL, 'label', ref);
  return [{ source, target: String(label), label, ...ids(row, ref) }];
};
export const wsc = task('wsc', ['wsc', 'WSC', 'superglue/WSC'], wscRow);

/** DePT's `remove_markup`: "<br>" → " ", "<b>"/"</b>" removed. */
export function removeMarkup(text: string): string {
  return text.replace(/<br>/g, ' ').replace(/<(\/)?b>/g, '');
}

/**
 * MultiRC: one example per answer option, "question: {q} answer: {a} paragraph: {p}". `extra.group` is the
 * question's idx (DePT's group key); id is "file:line:question idx:answer position". File rows are paragraphs: {idx, passage: {text, questions: [{question, idx,
 * answers: [{text, idx, label}]}]}}.
 */
const multircRow: RowFn = (row, ref) => {
  const passage = getObject(row, 'passage', ref);
  const paragraph = removeMarkup(getString(passage, 'text', ref));
  const pIdx = row['idx'];
  return getArray(passage, 'questions', ref).flatMap((q, qi) => {
    if (!isJsonObject(q)) throw rowError(ref, `passage.questions[${qi}]`, 'expected an object.');
    const question = removeMarkup(getString(q, 'question', ref));
    const group = getInt(q, 'idx', ref);
    return getArray(q, 'answers', ref).map((a, ai) => {
      if (!isJsonObject(a)) throw rowError(ref, `passage.questions[${qi}].answers[${ai}]`, 'expected an object.');
      const answer = removeMarkup(getString(a, 'text', ref));
      const label = mapLabel(a['label'], BOOL, `passage.questions[${qi}].answers[${ai}].label`, ref);
      const source = ['question:', question, 'answer:', answer, 'paragraph:', paragraph].join(' ');
      const id = `${path.basename(ref.file)}:${ref.line}:${group}:${ai}`;
      const extra: Record<string, string | number> = { group };
      if (typeof pIdx === 'number') extra['paragraph'] = pIdx;
      return { source, target: String(label), label, id, extra };
    });
  });
};
const MULTIRC_NOTE =
  'MultiRC paragraphs in the FewGLUE/SuperGLUE JSONL have no "<b>Sent N: </b>" sentence markers; HF super_glue/multirc has them and DePT keeps "Sent N:" after remove_markup, so sources differ from the reference.';
export const multirc = defineTask({
  name: 'multirc',
  labelWords: BIN,
  metricNames: ['f1'],
  primaryMetric: 'f1',
  splitKind: 'small',
  files: files(['multirc', 'MultiRC', 'superglue/MultiRC'], multircRow, MULTIRC_NOTE),
});

export const SUPERGLUE_TASKS: readonly DefinedTask[] = [boolq, cb, copa, multirc, superglueRte, wic, wsc];
