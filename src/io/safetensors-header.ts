/**
 * The safetensors header, parsed and bounds-checked. Layout (https://github.com/huggingface/safetensors):
 *
 *   [8 bytes]  N, little-endian u64
 *   [N bytes]  UTF-8 JSON: {"__metadata__": {str: str}?, name: {"dtype", "shape", "data_offsets": [begin, end]}, …}
 *              (space-padded to a multiple of 8 by the reference writer)
 *   [rest]     data area; data_offsets are relative to its start, C order, little-endian
 *
 * Every check here runs before any tensor byte is read, so a bad file fails at open with one clear error.
 */

import { preview, SoftpromptError } from '../errors.js';
import { DTYPE_BYTES, isDType, numel, type DType } from './dtype.js';

/** Same cap as the reference implementation: a header larger than this is a corrupt length. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Far above any real shard (a 405B-parameter model has ~1,300 tensors in all); bounds the time a header takes. */
export const MAX_TENSORS = 100_000;

/** Dtypes the format defines but this library does not convert; kept so their files still open. */
const OTHER_DTYPE_BYTES: Readonly<Record<string, number>> = {
  U16: 2,
  U32: 4,
  U64: 8,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
};

export interface HeaderEntry {
  /** One of DType, or a format dtype this library does not convert (U16, U32, U64, F8_*). */
  dtype: string;
  shape: number[];
  /** Absolute byte offsets in the file. */
  begin: number;
  end: number;
}

export interface ParsedHeader {
  metadata: Record<string, string>;
  /** In data order (by begin offset). */
  entries: Map<string, HeaderEntry>;
  /** 8 + N: where the data area starts. */
  dataStart: number;
}

function malformed(file: string, what: string, path?: string): SoftpromptError {
  return new SoftpromptError('malformed_file', `Malformed safetensors file ${file}: ${what}`, { file, path });
}

/** N from the first 8 bytes, checked against the file size. */
export function parseHeaderLength(file: string, first8: Uint8Array, fileSize: number): number {
  if (fileSize < 8 || first8.byteLength < 8) {
    throw malformed(file, `file is ${fileSize} bytes, expected at least 8 (the header length).`);
  }
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileSize - 8)) {
    throw malformed(file, `header length ${n} does not fit the file (${fileSize} bytes, so at most ${fileSize - 8}). The file is truncated or not safetensors.`);
  }
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw malformed(file, `header length ${n} is larger than the ${MAX_HEADER_BYTES}-byte limit.`);
  }
  if (n < 2n) throw malformed(file, `header length ${n} is too small for a JSON object.`);
  return Number(n);
}

function isNonNegInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Parse and validate the JSON header; `fileSize` bounds the data area. */
export function parseHeader(file: string, headerBytes: Uint8Array, fileSize: number): ParsedHeader {
  const dataStart = 8 + headerBytes.byteLength;
  const dataBytes = fileSize - dataStart;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (err) {
    throw malformed(file, `header is not valid UTF-8 JSON (${(err as Error).message}).`);
  }
  if (!isPlainObject(json)) throw malformed(file, 'header is not a JSON object.');
  const count = Object.keys(json).length;
  if (count > MAX_TENSORS + 1) throw malformed(file, `header lists ${count} entries, more than the ${MAX_TENSORS}-tensor limit.`);

  const metadata: Record<string, string> = {};
  const list: [string, HeaderEntry][] = [];
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isPlainObject(raw)) throw malformed(file, '"__metadata__" is not an object of strings.', name);
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') throw malformed(file, `"__metadata__.${k}" is ${preview(v)}, expected a string.`, `__metadata__.${k}`);
        metadata[k] = v;
      }
      continue;
    }
    list.push([name, parseEntry(file, name, raw, dataStart, dataBytes)]);
  }

  // Tensors may not share bytes. (Gaps are tolerated: they cost nothing to a reader.)
  list.sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let last: [string, HeaderEntry] | undefined; // the tensor reaching furthest so far
  for (const item of list) {
    const [name, cur] = item;
    if (cur.end === cur.begin) continue; // empty tensors own no bytes
    if (last !== undefined && cur.begin < last[1].end) {
      const [prevName, prev] = last;
      throw malformed(file, `tensors "${prevName}" and "${name}" overlap (data_offsets [${prev.begin - dataStart}, ${prev.end - dataStart}] and [${cur.begin - dataStart}, ${cur.end - dataStart}]).`, name);
    }
    last = item;
  }
  return { metadata, entries: new Map(list), dataStart };
}

function parseEntry(file: string, name: string, raw: unknown, dataStart: number, dataBytes: number): HeaderEntry {
  if (!isPlainObject(raw)) throw malformed(file, `entry for tensor "${name}" is not an object.`, name);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string') throw malformed(file, `tensor "${name}" has no string "dtype".`, name);
  const size = isDType(dtype) ? DTYPE_BYTES[dtype as DType] : OTHER_DTYPE_BYTES[dtype];
  if (size === undefined) {
    throw new SoftpromptError('unsupported', `Unknown dtype "${dtype}" for tensor "${name}" in ${file}; supported: ${Object.keys(DTYPE_BYTES).join(', ')}.`, { file, path: name });
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
    throw malformed(file, `tensor "${name}" has shape ${preview(shape)}, expected an array of non-negative integers.`, name);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt)) {
    throw malformed(file, `tensor "${name}" has data_offsets ${preview(offsets)}, expected [begin, end].`, name);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataBytes) {
    throw malformed(file, `tensor "${name}" has data_offsets [${begin}, ${end}] outside the data area of ${dataBytes} bytes (file truncated?).`, name);
  }
  const expected = numel(shape) * size;
  if (end - begin !== expected) {
    throw malformed(file, `tensor "${name}" (${dtype} ${preview(shape)}) needs ${expected} bytes, data_offsets [${begin}, ${end}] give ${end - begin}.`, name);
  }
  return { dtype, shape: [...shape], begin: dataStart + begin, end: dataStart + end };
}
