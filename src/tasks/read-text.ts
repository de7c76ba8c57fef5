/** Reading a data file as text: one place for "does not exist" errors and the UTF-8 byte-order mark. */

import { isUtf8 } from 'node:buffer';
import fs from 'node:fs';
import { SoftpromptError } from '../errors.js';

/** The file's UTF-8 text without a leading BOM (MRPC's TSVs start with one); invalid UTF-8 is refused, naming the line. */
export function readText(file: string): string {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SoftpromptError('file_not_found', `Data file ${file} does not exist.`, { file });
    if (code === 'EISDIR') {
      throw new SoftpromptError('file_not_found', `Data file ${file} is a folder, expected a file.`, { file });
    }
    throw err;
  }
  if (!isUtf8(bytes)) {
    // silently replacing bad bytes with U+FFFD would change labels and inputs; say where the first one is
    const fatal = new TextDecoder('utf-8', { fatal: true });
    let line = 1;
    for (let start = 0; start < bytes.byteLength; line++) {
      const nl = bytes.indexOf(0x0a, start);
      const end = nl < 0 ? bytes.byteLength : nl;
      try {
        fatal.decode(bytes.subarray(start, end));
      } catch {
        break;
      }
      start = end + 1;
    }
    throw new SoftpromptError('invalid_data', `${file} line ${line} is not valid UTF-8.`, { file, path: `line ${line}`, hint: 're-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8).' });
  }
  const text = bytes.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Lines with 1-based numbers; "\r\n" and "\n" both end a line; a final newline adds no empty line. */
export function numberedLines(text: string): Array<{ line: number; text: string }> {
  const parts = text.split('\n');
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts.map((t, i) => ({ line: i + 1, text: t.endsWith('\r') ? t.slice(0, -1) : t }));
}
