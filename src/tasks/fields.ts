/** Field access for data rows, with `invalid_data` errors that name the file, the line and the field. */

import { preview, SoftpromptError } from '../errors.js';

/** Where a row came from. For JSON object files (glue-samples) `line` is the record key. */
export interface RowRef {
  file: string;
  line: number | string;
}

export type JsonObject = Record<string, unknown>;

export function rowError(ref: RowRef, field: string, problem: string): SoftpromptError {
  const at = typeof ref.line === 'number' ? `line ${ref.line}` : `record "${ref.line}"`;
  return new SoftpromptError('invalid_data', `${ref.file} ${at}, field "${field}": ${problem}`, {
    file: ref.file,
    path: `${at}.${field}`,
  });
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  return `got ${preview(v)}`;
}

export function getString(obj: JsonObject, field: string, ref: RowRef): string {
  const v = obj[field];
  if (typeof v !== 'string') throw rowError(ref, field, `expected a string, ${describe(v)}.`);
  return v;
}

export function getInt(obj: JsonObject, field: string, ref: RowRef): number {
  const v = obj[field];
  if (typeof v !== 'number' || !Number.isInteger(v)) throw rowError(ref, field, `expected an integer, ${describe(v)}.`);
  return v;
}

export function getObject(obj: JsonObject, field: string, ref: RowRef): JsonObject {
  const v = obj[field];
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw rowError(ref, field, `expected an object, ${describe(v)}.`);
  }
  return v as JsonObject;
}

export function getArray(obj: JsonObject, field: string, ref: RowRef): unknown[] {
  const v = obj[field];
  if (!Array.isArray(v)) throw rowError(ref, field, `expected an array, ${describe(v)}.`);
  return v;
}

/**
 * The class index of a raw label. `raw` is compared as a string, so JSON `true`, `1` and `"1"` can share a table.
 * E.g. mapLabel("not_entailment", {entailment: 0, not_entailment: 1}, "label", ref) === 1.
 */
export function mapLabel(raw: unknown, table: Readonly<Record<string, number>>, field: string, ref: RowRef): number {
  const key = typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : undefined;
  if (key === undefined || !Object.hasOwn(table, key)) {
    const shown = raw === undefined ? 'a missing label' : `unknown label ${JSON.stringify(raw)}`;
    throw rowError(ref, field, `${shown}, expected one of ${Object.keys(table).join(', ')}.`);
  }
  return table[key] as number;
}

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
