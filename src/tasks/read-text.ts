/** Reading a data file as text: one place for "does not exist" errors and the UTF-8 byte-order mark. */

import fs from 'node:fs';
import { SoftpromptError } from '../errors.js';

/** The file's UTF-8 text without a leading BOM (MRPC's TSVs start with one). */
export function readText(file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SoftpromptError('file_not_found', `Data file ${file} does not exist.`, { file });
    if (code === 'EISDIR') {
      throw new SoftpromptError('file_not_found', `Data file ${file} is a folder, expected a file.`, { file });
    }
    throw err;
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Lines with 1-based numbers; "\r\n" and "\n" both end a line; a final newline adds no empty line. */
export function numberedLines(text: string): Array<{ line: number; text: string }> {
  const parts = text.split('\n');
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts.map((t, i) => ({ line: i + 1, text: t.endsWith('\r') ? t.slice(0, -1) : t }));
}
