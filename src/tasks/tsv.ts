/**
 * GLUE-style TSV: tab-separated, no quoting (QNLI and MRPC cells contain `"` that are part of the text), one row
 * per line. Blank lines are skipped. A row with the wrong number of cells is an `invalid_data` error naming the
 * file and line.
 */

import { SoftpromptError } from '../errors.js';
import { numberedLines, readText } from './read-text.js';

export interface TsvRow {
  /** 1-based line number in the file. */
  line: number;
  cells: string[];
}

export interface TsvTable {
  file: string;
  /** Column names: the header line, or the names given for a header-less file (CoLA). */
  columns: string[];
  rows: TsvRow[];
}

export interface TsvOptions {
  /** Column names of a header-less file; when absent the first line is the header. */
  columns?: string[];
}

export function parseTsv(text: string, file: string, opts: TsvOptions = {}): TsvTable {
  const lines = numberedLines(text).filter((l) => l.text !== '');
  let columns = opts.columns;
  if (columns === undefined) {
    const head = lines.shift();
    if (head === undefined) throw new SoftpromptError('malformed_file', `${file} is empty, expected a header line.`, { file });
    columns = head.text.split('\t');
  }
  const want = columns.length;
  const rows = lines.map(({ line, text: t }) => {
    const cells = t.split('\t');
    if (cells.length !== want) {
      throw new SoftpromptError(
        'invalid_data',
        `${file} line ${line}: expected ${want} tab-separated columns (${columns.join(', ')}), found ${cells.length}.`,
        { file, path: `line ${line}` },
      );
    }
    return { line, cells };
  });
  return { file, columns, rows };
}

export function readTsv(file: string, opts: TsvOptions = {}): TsvTable {
  return parseTsv(readText(file), file, opts);
}

/** Index of a named column; a missing one means the file is not the format we expected. */
export function columnIndex(table: TsvTable, name: string): number {
  const i = table.columns.indexOf(name);
  if (i < 0) {
    throw new SoftpromptError(
      'malformed_file',
      `${table.file} has no column "${name}" (columns: ${table.columns.join(', ')}).`,
      { file: table.file, path: name },
    );
  }
  return i;
}
