/**
 * A task from the user's own files: JSONL, CSV (RFC 4180, see csv.ts) or TSV (GLUE-style, no quoting unless
 * tsvQuoting: 'rfc4180'), each with a text column, an optional second text column and a label column.
 *
 *   const task = createLocalTask({ dir: 'my-data', textColumn: 'review', template: 'review: {text}' });
 *   loadSplits(task, 'my-data');  // my-data/train.csv + my-data/dev.csv, small-dataset protocol
 *
 * Files: `train` / `dev` options, else the first of {split}.jsonl, {split}.csv, {split}.tsv in the folder.
 * Template: `{text}` and `{text_pair}` are the configured text columns, any other `{name}` is that raw column.
 * Defaults follow DePT's single/pair formats: "sentence: {text}" and "sentence1: {text} sentence2: {text_pair}".
 * Label words: the sorted unique labels of the train file (numerically if all are numbers), unless given.
 * Targets are the label strings themselves; Example.label is the class index in labelWords.
 */

import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import { parseCsv } from './csv.js';
import { rowError, type RowRef } from './fields.js';
import { readJsonl } from './jsonl.js';
import { METRIC_NAMES } from './metrics.js';
import { findFile, requireFile, type Candidate } from './locate.js';
import { readText } from './read-text.js';
import { parseTemplate, renderTemplate, templateFields } from './template.js';
import { parseTsv } from './tsv.js';
import type { Example, LocalInputFormat, SourceSplit, SplitKind, TaskSpec } from './types.js';

export type LocalFormat = 'jsonl' | 'csv' | 'tsv';

export interface LocalTaskOptions {
  /** Folder the files are in; labels are inferred from its train file. Default ".". */
  dir?: string;
  name?: string;
  /** File names (relative to the folder given to read/loadSplits, or absolute). */
  train?: string;
  dev?: string;
  /** Default: from the file extension (.jsonl/.json → jsonl, .csv, .tsv). */
  format?: LocalFormat;
  tsvQuoting?: 'none' | 'rfc4180';
  /** --text-column, default "text". */
  textColumn?: string;
  /** Second text column. Default: "text_pair" when the file has it; null: never. */
  textPairColumn?: string | null;
  /** --label-column, default "label". */
  labelColumn?: string;
  template?: string;
  /** Allowed labels in class order; default: inferred from train. */
  labelWords?: string[];
  splitKind?: Exclude<SplitKind, 'mnli'>;
  metricNames?: string[];
  primaryMetric?: string;
}

type Row = { ref: RowRef; get(field: string): string | undefined; has(field: string): boolean; fields(): Record<string, string> };

function formatOf(file: string, opt: LocalFormat | undefined): LocalFormat {
  if (opt !== undefined) return opt;
  const ext = path.extname(file).toLowerCase();
  if (ext === '.jsonl' || ext === '.json') return 'jsonl';
  if (ext === '.csv') return 'csv';
  if (ext === '.tsv') return 'tsv';
  throw new SoftpromptError('invalid_config', `Cannot tell the format of ${file} from its extension; set format to jsonl, csv or tsv.`, {
    file,
    path: 'format',
  });
}

function scalar(v: unknown): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
}

function readRows(file: string, format: LocalFormat, tsvQuoting: 'none' | 'rfc4180'): Row[] {
  if (format === 'jsonl') {
    return readJsonl(file).map(({ line, value }) => ({
      ref: { file, line },
      get: (f) => scalar(value[f]),
      has: (f) => Object.hasOwn(value, f),
      fields: () => Object.fromEntries(Object.entries(value).flatMap(([k, v]) => { const x = scalar(v); return x === undefined ? [] : [[k, x]]; })),
    }));
  }
  const text = readText(file);
  const table =
    format === 'csv' || tsvQuoting === 'rfc4180'
      ? parseCsv(text, file, format === 'csv' ? ',' : '\t')
      : (() => {
          const t = parseTsv(text, file);
          return [{ line: 1, cells: t.columns }, ...t.rows];
        })();
  const head = table[0];
  if (head === undefined) throw new SoftpromptError('malformed_file', `${file} is empty, expected a header line.`, { file });
  const cols = new Map<string, number>();
  head.cells.forEach((c, i) => {
    if (cols.has(c)) throw new SoftpromptError('malformed_file', `${file}: column "${c}" appears twice in the header.`, { file, path: c });
    cols.set(c, i);
  });
  return table.slice(1).map(({ line, cells }) => {
    const ref = { file, line };
    if (cells.length !== head.cells.length) {
      throw new SoftpromptError('invalid_data', `${file} line ${line}: expected ${head.cells.length} columns (${head.cells.join(', ')}), found ${cells.length}.`, {
        file,
        path: `line ${line}`,
      });
    }
    return {
      ref, get: (f) => (cols.has(f) ? cells[cols.get(f) as number] : undefined), has: (f) => cols.has(f),
      fields: () => Object.fromEntries(head.cells.map((c, i) => [c, cells[i]!])),
    };
  });
}

/** Every row of a .jsonl / .csv / .tsv file as column → value (scalars as strings), with "file:line" for messages. */
export function readRecords(file: string, format?: LocalFormat): Array<{ where: string; fields: Record<string, string> }> {
  const rows = readRows(file, formatOf(file, format), 'none');
  return rows.map((row) => ({ where: `${row.ref.file}:${row.ref.line}`, fields: row.fields() }));
}

function labelOrder(labels: Iterable<string>): string[] {
  const u = [...new Set(labels)];
  const numeric = u.every((l) => l.trim() !== '' && Number.isFinite(Number(l)));
  return numeric ? u.sort((a, b) => Number(a) - Number(b)) : u.sort();
}

export function createLocalTask(opts: LocalTaskOptions = {}): TaskSpec {
  const metricNames = opts.metricNames ?? ['accuracy', 'f1_multiclass'];
  const primaryMetric = opts.primaryMetric ?? metricNames[0] ?? 'accuracy';
  for (const m of metricNames) {
    if (!METRIC_NAMES.includes(m)) {
      throw new SoftpromptError('invalid_config', `Unknown metric "${m}" (known: ${METRIC_NAMES.join(', ')}).`, { path: 'metricNames' });
    }
  }
  if (!metricNames.includes(primaryMetric)) {
    throw new SoftpromptError('invalid_config', `primaryMetric "${primaryMetric}" is not one of metricNames (${metricNames.join(', ')}).`, {
      path: 'primaryMetric',
    });
  }
  const textColumn = opts.textColumn ?? 'text';
  const labelColumn = opts.labelColumn ?? 'label';
  const tsvQuoting = opts.tsvQuoting ?? 'none';
  const name = opts.name ?? 'local';

  const candidates = (split: SourceSplit): Candidate[] => {
    const given = split === 'train' ? opts.train : opts.dev;
    const names = given !== undefined ? [given] : [`${split}.jsonl`, `${split}.csv`, `${split}.tsv`];
    return names.map((rel) => ({ rel, parse: (file: string) => toExamples(file) }));
  };
  const resolve = (dir: string, split: SourceSplit): string => {
    const given = split === 'train' ? opts.train : opts.dev;
    if (given !== undefined && path.isAbsolute(given)) return given;
    return requireFile(name, split, dir, candidates(split)).file;
  };

  const rowsOf = (file: string): Row[] => readRows(file, formatOf(file, opts.format), tsvQuoting);

  const field = (row: Row, f: string): string => {
    const v = row.get(f);
    if (v === undefined) throw rowError(row.ref, f, row.has(f) ? 'expected a string or number.' : 'missing.');
    return v;
  };
  const labelOf = (row: Row): string => {
    const v = field(row, labelColumn).trim();
    if (v === '') throw rowError(row.ref, labelColumn, 'empty label.');
    return v;
  };

  if (opts.template !== undefined) parseTemplate(opts.template); // fail now on a bad template, not on row 1
  const labelWords = opts.labelWords ?? labelOrder(rowsOf(resolve(opts.dir ?? '.', 'train')).map(labelOf));
  if (labelWords.length === 0) {
    throw new SoftpromptError('invalid_config', `Task "${name}": no labels (the train file has no rows?).`, { path: 'labelWords' });
  }
  const classOf = new Map(labelWords.map((w, i) => [w, i]));

  // the second text column the files were read with: given, or "text_pair" when the (last read) file has it
  let pairSeen: string | undefined = opts.textPairColumn ?? undefined;
  const templateFor = (pair: string | undefined): string => opts.template ?? (pair === undefined ? 'sentence: {text}' : 'sentence1: {text} sentence2: {text_pair}');

  function toExamples(file: string): Example[] {
    const rows = rowsOf(file);
    const first = rows[0];
    const pair = opts.textPairColumn === null ? undefined : (opts.textPairColumn ?? (first?.has('text_pair') ? 'text_pair' : undefined));
    pairSeen = pair;
    const parts = parseTemplate(templateFor(pair));
    if (pair === undefined && templateFields(parts).includes('text_pair')) {
      throw new SoftpromptError('invalid_config', `Template uses {text_pair} but ${file} has no text_pair column; set textPairColumn.`, {
        file,
        path: 'template',
      });
    }
    const base = path.basename(file);
    return rows.map((row) => {
      const source = renderTemplate(parts, (f) => field(row, f === 'text' ? textColumn : f === 'text_pair' && pair !== undefined ? pair : f));
      const target = labelOf(row);
      const label = classOf.get(target);
      if (label === undefined) throw rowError(row.ref, labelColumn, `unknown label ${JSON.stringify(target)}, expected one of ${labelWords.join(', ')}.`);
      return { source, target, label, id: `${base}:${row.ref.line}` };
    });
  }

  return {
    name,
    labelWords,
    metricNames,
    primaryMetric,
    splitKind: opts.splitKind ?? 'small',
    read: (dir, split) => toExamples(resolve(dir, split)),
    readFile: (file) => toExamples(file),
    localFormat: (): LocalInputFormat => ({ template: templateFor(pairSeen), textColumn, textPairColumn: pairSeen ?? null, labelColumn, labels: [...labelWords] }),
    locate: (dir, split) => {
      const given = split === 'train' ? opts.train : opts.dev;
      if (given !== undefined && path.isAbsolute(given)) return given;
      return findFile(dir, candidates(split))?.file;
    },
  };
}

