/**
 * Reading files that may come from strangers (adapter folders given to serve / predict / inspect, downloaded model
 * folders). Only regular files are read (adapter_model.bin → /dev/zero would read forever, a FIFO would block), never
 * more than a cap fixed before the first byte, and in adapter folders never through a symlink (adapter_config.json →
 * /etc/passwd would leak its first bytes in a JSON error), except the one kind of link the Hugging Face cache makes:
 * snapshots/<commit>/<file> → ../../blobs/<etag> inside the same cache repo (hub/cache.ts: hubCacheBlobTarget).
 * Model folders may hold symlinks, so there the target only has to be a regular file.
 */
import fs from 'node:fs';
import { SoftpromptError } from '../errors.js';
import { hubCacheBlobTarget } from './hub/cache.js';

/** Configs, tokenizer configs and other JSON side files: far above any real one. */
export const MAX_JSON_BYTES = 64 << 20;

export interface UntrustedReadOptions {
  /** Refuse the file if it is larger. */
  maxBytes: number;
  /** false (adapter folders): a symlink is refused instead of followed. */
  followSymlinks: boolean;
  /** "Adapter config", "PyTorch file"… for messages. */
  what: string;
}

function unsafe(file: string, what: string, why: string): SoftpromptError {
  return new SoftpromptError('malformed_file', `${what} ${file} ${why}; refusing to read it.`, { file, hint: 'an adapter or model folder must hold plain files, not links or devices.' });
}

/** Open `file` for reading after the checks above; returns the fd and its size (caller closes). */
export function openUntrusted(file: string, opts: UntrustedReadOptions): { fd: number; size: number } {
  const flags = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | (opts.followSymlinks ? 0 : fs.constants.O_NOFOLLOW);
  let fd: number;
  try {
    fd = fs.openSync(file, flags);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SoftpromptError('file_not_found', `${opts.what} ${file} does not exist.`, { file });
    const blob = code === 'ELOOP' ? hubCacheBlobTarget(file) : null;
    if (blob !== null) return openUntrusted(blob, opts); // the real path: no link left to follow
    if (code === 'ELOOP') throw unsafe(file, opts.what, 'is a symbolic link');
    if (code === 'EISDIR') throw unsafe(file, opts.what, 'is a directory');
    throw err;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw unsafe(file, opts.what, 'is not a regular file (a device, FIFO or socket)');
    if (st.size > opts.maxBytes) {
      throw new SoftpromptError('malformed_file', `${opts.what} ${file} is ${st.size} bytes, above the ${opts.maxBytes}-byte limit for such a file.`, { file });
    }
    return { fd, size: st.size };
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/** The whole of `file` (checked as above); a file that grows while read is cut at its size when opened. */
export function readUntrusted(file: string, opts: UntrustedReadOptions): Buffer {
  const { fd, size } = openUntrusted(file, opts);
  try {
    const buf = Buffer.alloc(size);
    let got = 0;
    while (got < size) {
      const n = fs.readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    return got === size ? buf : buf.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

/** `readUntrusted` as UTF-8 text (JSON side files). */
export function readUntrustedText(file: string, opts: Omit<UntrustedReadOptions, 'maxBytes'> & { maxBytes?: number }): string {
  return readUntrusted(file, { maxBytes: MAX_JSON_BYTES, ...opts }).toString('utf8');
}

/** Throws unless `file` is a regular file reached without a symlink, or a Hub cache blob link (for readers that open files themselves). */
export function assertPlainFile(file: string, what: string): void {
  const st = fs.lstatSync(file, { throwIfNoEntry: false });
  if (st === undefined) throw new SoftpromptError('file_not_found', `${what} ${file} does not exist.`, { file });
  if (st.isSymbolicLink()) {
    const blob = hubCacheBlobTarget(file);
    if (blob === null) throw unsafe(file, what, 'is a symbolic link');
    assertPlainFile(blob, what);
    return;
  }
  if (!st.isFile()) throw unsafe(file, what, 'is not a regular file');
}
