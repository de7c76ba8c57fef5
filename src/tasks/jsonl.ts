/** JSON Lines (SuperGLUE, user data): one JSON object per line; blank lines are skipped. */

import { preview, SoftpromptError } from '../errors.js';
import { isJsonObject, type JsonObject } from './fields.js';
import { numberedLines, readText } from './read-text.js';

export interface JsonlRow {
  line: number;
  value: JsonObject;
}

export function parseJsonl(text: string, file: string): JsonlRow[] {
  const rows: JsonlRow[] = [];
  for (const { line, text: t } of numberedLines(text)) {
    if (t.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(t);
    } catch (err) {
      throw new SoftpromptError('malformed_file', `${file} line ${line} is not valid JSON: ${(err as Error).message}`, {
        file,
        path: `line ${line}`,
        cause: err,
      });
    }
    if (!isJsonObject(value)) {
      throw new SoftpromptError('invalid_data', `${file} line ${line}: expected a JSON object, got ${preview(value)}.`, {
        file,
        path: `line ${line}`,
      });
    }
    rows.push({ line, value });
  }
  return rows;
}

export function readJsonl(file: string): JsonlRow[] {
  return parseJsonl(readText(file), file);
}
