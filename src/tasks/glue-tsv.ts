/**
 * Reader for the GLUE TSV files (glue_data/<TASK>/{train,dev}.tsv as download_glue_data.py writes them).
 * A format names the text columns with their template prefixes and the label column with its label → class
 * table; the source is DePT's space-joined pieces, e.g. "sentence1: {s1} sentence2: {s2}".
 */

import path from 'node:path';
import { mapLabel, rowError } from './fields.js';
import { stsbTarget, type StsbRounding } from './stsb.js';
import { columnIndex, readTsv } from './tsv.js';
import type { Example } from './types.js';

export interface GlueTsvFormat {
  /** Column names of a header-less file (CoLA); absent when the file has a header line. */
  columns?: string[];
  /** [template prefix, column] pairs in order, e.g. [["sentence:", "sentence"]]. */
  pieces: Array<[string, string]>;
  /** Label column name. */
  label: string;
  /** Raw label → class index; 'score' for STS-B's float similarity. */
  labels: Readonly<Record<string, number>> | 'score';
}

const SCORE = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;

export function readGlueTsv(file: string, fmt: GlueTsvFormat, stsb: StsbRounding = 'compat'): Example[] {
  const table = readTsv(file, fmt.columns === undefined ? {} : { columns: fmt.columns });
  const textCols = fmt.pieces.map(([prefix, col]) => [prefix, columnIndex(table, col)] as const);
  const labelCol = columnIndex(table, fmt.label);
  const name = path.basename(file);
  return table.rows.map(({ line, cells }) => {
    const ref = { file, line };
    const raw = cells[labelCol] as string;
    let label: number;
    let target: string;
    if (fmt.labels === 'score') {
      if (!SCORE.test(raw)) throw rowError(ref, fmt.label, `expected a similarity score, got ${JSON.stringify(raw)}.`);
      label = Number(raw);
      target = stsbTarget(label, stsb);
    } else {
      label = mapLabel(raw, fmt.labels, fmt.label, ref);
      target = String(label);
    }
    const source = textCols.flatMap(([prefix, i]) => [prefix, cells[i] as string]).join(' ');
    return { source, target, label, id: `${name}:${line}` };
  });
}

export const BINARY: Readonly<Record<string, number>> = { '0': 0, '1': 1 };
export const ENTAILMENT2: Readonly<Record<string, number>> = { entailment: 0, not_entailment: 1 };
/** HF glue/mnli ClassLabel order. */
export const ENTAILMENT3: Readonly<Record<string, number>> = { entailment: 0, neutral: 1, contradiction: 2 };
