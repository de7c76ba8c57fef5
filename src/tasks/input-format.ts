/**
 * How raw text becomes a task's encoder input at prediction time: DePT's sources are space-joined
 * "prefix: value" pieces (spec §2.2), e.g. SST-2 "sentence: {text}", RTE "sentence1: {a} sentence2: {b}".
 * The prefixes mirror the task readers (src/tasks/glue.ts, superglue.ts); WSC and the QA tasks mark spans
 * inside the text, so their inputs are taken as given.
 */
import { SoftpromptError } from '../errors.js';
import { parseTemplate, renderTemplate, templateFields } from './template.js';

export const TASK_PREFIXES: Readonly<Record<string, readonly string[]>> = {
  sst2: ['sentence:'],
  cola: ['sentence:'],
  rte: ['sentence1:', 'sentence2:'],
  mrpc: ['sentence1:', 'sentence2:'],
  wnli: ['sentence1:', 'sentence2:'],
  stsb: ['sentence1:', 'sentence2:'],
  'stsb-fixed': ['sentence1:', 'sentence2:'],
  qnli: ['question:', 'sentence:'],
  qqp: ['question1:', 'question2:'],
  mnli: ['premise:', 'hypothesis:'],
  boolq: ['question:', 'passage:'],
  cb: ['premise:', 'hypothesis:'],
  'superglue-rte': ['premise:', 'hypothesis:'],
  wic: ['sentence1:', 'sentence2:', 'word:'],
  copa: ['premise:', 'choice1:', 'choice2:'],
  multirc: ['question:', 'answer:', 'paragraph:'],
};

/** One input: a plain text (multi-field tasks: fields separated by tabs), or named fields from a JSONL object. */
export type RawInput = { text: string } | { fields: Record<string, string> } | { source: string };

/** The field names a task's prefixes stand for: "sentence1:" → "sentence1". */
export function taskFields(task: string): readonly string[] | undefined {
  return TASK_PREFIXES[task]?.map((p) => p.replace(/:$/, ''));
}

export interface SourceFormat {
  /** canonical task name, or undefined (no task) */
  task?: string;
  /** a local-task template such as "review: {text}" */
  template?: string;
  /** send texts exactly as given */
  raw?: boolean;
}

/** The encoder input for `input` under `fmt`; `where` names it in errors ("--text 2", "input.jsonl:3"). */
export function toSource(input: RawInput, fmt: SourceFormat, where: string): string {
  if ('source' in input) return input.source;
  if (fmt.raw === true) return 'text' in input ? input.text : Object.values(input.fields).join(' ');
  if (fmt.template !== undefined) {
    const parts = parseTemplate(fmt.template);
    const fields = templateFields(parts);
    const values: Record<string, string> = 'fields' in input ? input.fields : splitText(input.text, fields, where);
    return renderTemplate(parts, (name) => {
      const v = values[name];
      if (v === undefined) throw new SoftpromptError('invalid_data', `${where} has no "${name}" for the template ${JSON.stringify(fmt.template)}.`, { path: name });
      return v;
    });
  }
  const prefixes = fmt.task === undefined ? undefined : TASK_PREFIXES[fmt.task];
  if (prefixes === undefined) return 'text' in input ? input.text : Object.values(input.fields).join(' ');
  const names = prefixes.map((p) => p.replace(/:$/, ''));
  if ('text' in input) {
    const t = input.text.trim();
    if (t.startsWith(prefixes[0]!)) return input.text; // already formatted
  }
  const values = 'fields' in input ? input.fields : splitText(input.text, names, where);
  return names.map((n, i) => {
    const v = values[n];
    if (v === undefined) {
      throw new SoftpromptError('invalid_data', `${where} has no "${n}" for ${fmt.task}, which reads ${names.map((x) => `"${x}"`).join(', ')}.`, {
        path: n, hint: `give a JSON object with those keys, tab-separated fields, or --raw to send the text as is.`,
      });
    }
    return `${prefixes[i]} ${v}`;
  }).join(' ');
}

/** "a\tb" → {first: a, second: b}; one field takes the whole text. */
function splitText(text: string, names: readonly string[], where: string): Record<string, string> {
  if (names.length <= 1) return names.length === 1 ? { [names[0]!]: text } : {};
  const parts = text.split('\t');
  if (parts.length !== names.length) {
    throw new SoftpromptError('invalid_data', `${where} has ${parts.length} tab-separated field(s); expected ${names.length} (${names.join(', ')}).`, {
      hint: 'separate the fields with a tab, give a JSON object with those keys, or pass --raw to send the text as is.',
    });
  }
  return Object.fromEntries(names.map((n, i) => [n, parts[i]!]));
}
