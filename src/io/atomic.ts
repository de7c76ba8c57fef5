/**
 * Crash-safe file writes: write `<path>.tmp-<pid>`, fsync it, rename it over `path`. A reader sees either the
 * old file or the complete new one, never a half-written checkpoint.
 */

import fs from 'node:fs';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';

/** `data`: text, bytes, or the file's bytes in consecutive parts (written one after another, never joined). */
export function atomicWriteFile(file: string, data: string | Uint8Array | readonly Uint8Array[]): void {
  const dir = path.dirname(file);
  if (!fs.existsSync(dir)) {
    throw new SoftpromptError('file_not_found', `Cannot write ${file}: directory ${dir} does not exist.`, { file });
  }
  const tmp = `${file}.tmp-${process.pid}`;
  const parts = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      for (const bytes of parts) {
        let done = 0;
        while (done < bytes.byteLength) done += fs.writeSync(fd, bytes, done, Math.min(bytes.byteLength - done, 1 << 30));
      }
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  syncDir(dir);
}

/** Make the rename itself durable; not possible on every platform (Windows), so best effort. */
export function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // directories cannot be opened or fsynced here: the rename is still atomic
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
