/**
 * Reader for the glue-samples JSON files (ZhengxiangShi/PowerfulPromptFT `data/glue_pretrain/<TASK>/{train,dev}.json`):
 * one object keyed "0", "1", … whose values are {"text_a", "text_b", "label"}. Rows come in ascending key order.
 * Their dev.json is a held-out part of the GLUE *train* split, not the GLUE dev set (none of QNLI's 1,000 dev.json
 * pairs occur in glue/QNLI/dev.tsv).
 */

import path from 'node:path';
import { preview, SoftpromptError } from '../errors.js';
import { getString, isJsonObject, mapLabel, rowError } from './fields.js';
import { readText } from './read-text.js';
import type { Example } from './types.js';

export interface SamplesFormat {
  /** Template prefixes for text_a and text_b, e.g. ["question1:", "question2:"]. */
  prefixes: [string, string];
  labels: Readonly<Record<string, number>>;
}

export function parseSamplesJson(text: string, file: string, fmt: SamplesFormat): Example[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new SoftpromptError('malformed_file', `${file} is not valid JSON: ${(err as Error).message}`, { file, cause: err });
  }
  if (!isJsonObject(doc)) {
    throw new SoftpromptError('malformed_file', `${file}: expected an object of records keyed "0", "1", …`, { file });
  }
  const name = path.basename(file);
  return Object.entries(doc).map(([key, rec]) => {
    const ref = { file, line: key };
    if (!isJsonObject(rec)) throw rowError(ref, '(record)', `expected an object, got ${preview(rec)}.`);
    const a = getString(rec, 'text_a', ref);
    const b = getString(rec, 'text_b', ref);
    const label = mapLabel(rec['label'], fmt.labels, 'label', ref);
    return { source: [fmt.prefixes[0], a, fmt.prefixes[1], b].join(' '), target: String(label), label, id: `${name}:${key}` };
  });
}

export function readSamplesJson(file: string, fmt: SamplesFormat): Example[] {
  return parseSamplesJson(readText(file), file, fmt);
}
