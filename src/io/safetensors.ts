/**
 * Lazy safetensors reader. Opening reads only the header (validated in safetensors-header.ts); each getF32 /
 * getI32 then reads just that tensor's bytes with positioned reads, so a 900 MB t5-base is never held twice and
 * files over 2 GB (beyond one Buffer) work.
 *
 *   const st = SafetensorsFile.open('t5-small/model.safetensors');
 *   st.info('shared.weight');   // { dtype: 'F32', shape: [32128, 512] }
 *   st.getF32('shared.weight'); // Float32Array (V*C), fresh copy
 */

import fs from 'node:fs';
import { SoftpromptError } from '../errors.js';
import { assertLittleEndian, bytesToF32, bytesToI32, DTYPE_BYTES, isDType, type DType, type TensorInfo } from './dtype.js';
import { parseHeader, parseHeaderLength, type HeaderEntry } from './safetensors-header.js';
import { openUntrusted } from './untrusted-file.js';

export type { DType, TensorInfo } from './dtype.js';
export { writeSafetensors, encodeSafetensors, type WritableTensor } from './safetensors-writer.js';

/** Names closest to `wanted` (longest common prefix first), for "did you mean" lists. */
export function nearestNames(wanted: string, names: readonly string[], k = 5): string[] {
  const common = (a: string): number => {
    let i = 0;
    while (i < a.length && i < wanted.length && a[i] === wanted[i]) i++;
    return i;
  };
  return [...names].sort((a, b) => common(b) - common(a) || (a < b ? -1 : 1)).slice(0, k);
}

/** Fill `into` from `fd` at `position`; positioned reads are capped at 2^31-1 bytes each. */
function readExactly(fd: number, into: Uint8Array, position: number, file: string, name: string): void {
  const CHUNK = 1 << 30;
  let done = 0;
  while (done < into.byteLength) {
    const n = fs.readSync(fd, into, done, Math.min(CHUNK, into.byteLength - done), position + done);
    if (n === 0) {
      throw new SoftpromptError('malformed_file', `Malformed safetensors file ${file}: tensor "${name}" ends at byte ${position + into.byteLength} but the file ends at ${position + done} (truncated while open?).`, { file, path: name });
    }
    done += n;
  }
}

export class SafetensorsFile {
  readonly file: string;
  readonly metadata: Readonly<Record<string, string>>;
  private readonly entries: Map<string, HeaderEntry>;

  private constructor(file: string, metadata: Record<string, string>, entries: Map<string, HeaderEntry>) {
    this.file = file;
    this.metadata = metadata;
    this.entries = entries;
  }

  /** Read and validate the header of `file`; no tensor data is read yet. */
  static open(file: string): SafetensorsFile {
    if (fs.statSync(file, { throwIfNoEntry: false })?.isDirectory() === true) {
      throw new SoftpromptError('file_not_found', `${file} is a directory, expected a .safetensors file.`, { file });
    }
    // a regular file only: a FIFO would block the open, a device has no size to check offsets against
    const { fd, size } = openUntrusted(file, { maxBytes: Number.MAX_SAFE_INTEGER, followSymlinks: true, what: 'Safetensors file' });
    try {
      const first8 = new Uint8Array(Math.min(8, size));
      readExactly(fd, first8, 0, file, '(header length)');
      const n = parseHeaderLength(file, first8, size);
      const headerBytes = new Uint8Array(n);
      readExactly(fd, headerBytes, 8, file, '(header)');
      const { metadata, entries } = parseHeader(file, headerBytes, size);
      return new SafetensorsFile(file, metadata, entries);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Tensor names in data order. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  info(name: string): TensorInfo {
    const e = this.entry(name);
    return { dtype: this.dtypeOf(name, e), shape: [...e.shape] };
  }

  /** The tensor's raw little-endian bytes (fresh, aligned). */
  getBytes(name: string): Uint8Array {
    const e = this.entry(name);
    const out = new Uint8Array(e.end - e.begin);
    const fd = fs.openSync(this.file, 'r');
    try {
      readExactly(fd, out, e.begin, this.file, name);
    } finally {
      fs.closeSync(fd);
    }
    return out;
  }

  /** Float32 copy of an F32 / F16 / BF16 / F64 tensor, C order. */
  getF32(name: string): Float32Array {
    const dtype = this.dtypeOf(name, this.entry(name));
    const bytes = this.getBytes(name);
    if (dtype === 'F32') {
      assertLittleEndian();
      return new Float32Array(bytes.buffer, 0, bytes.byteLength / 4); // already a private, aligned copy
    }
    const out = bytesToF32(dtype, bytes);
    if (out === undefined) {
      throw new SoftpromptError('unsupported', `Tensor "${name}" in ${this.file} is ${dtype}, expected a float tensor (F32, F16, BF16, F64); read integer tensors with getI32.`, { file: this.file, path: name });
    }
    return out;
  }

  /** Int32 copy of an I32 / I64 (range-checked) / I16 / I8 / U8 / BOOL tensor, C order. */
  getI32(name: string): Int32Array {
    const dtype = this.dtypeOf(name, this.entry(name));
    const out = bytesToI32(dtype, this.getBytes(name));
    if (out === undefined) {
      throw new SoftpromptError('unsupported', `Tensor "${name}" in ${this.file} is ${dtype}, expected an integer tensor (I32, I64, I16, I8, U8, BOOL); read float tensors with getF32.`, { file: this.file, path: name });
    }
    if (!(out instanceof Int32Array)) {
      throw new SoftpromptError('unsupported', `Tensor "${name}" in ${this.file} holds ${out.value} at flat index ${out.index}, which does not fit in int32.`, { file: this.file, path: name });
    }
    return out;
  }

  private entry(name: string): HeaderEntry {
    const e = this.entries.get(name);
    if (e === undefined) {
      const names = this.names();
      const near = nearestNames(name, names);
      throw new SoftpromptError('missing_tensor', `Tensor "${name}" not found in ${this.file} (${names.length} tensors${near.length > 0 ? `, e.g. ${near.map((s) => `"${s}"`).join(', ')}` : ''}).`, { file: this.file, path: name });
    }
    return e;
  }

  private dtypeOf(name: string, e: HeaderEntry): DType {
    if (!isDType(e.dtype)) {
      throw new SoftpromptError('unsupported', `Tensor "${name}" in ${this.file} has dtype ${e.dtype}; supported: ${Object.keys(DTYPE_BYTES).join(', ')}.`, { file: this.file, path: name });
    }
    return e.dtype;
  }
}
