/**
 * safetensors writer, byte-compatible with the reference (Rust/Python `safetensors` 0.4+):
 * tensors laid out by element size (largest first, so every tensor stays aligned) then by name, the header
 * listing `__metadata__` first and then the tensors in that same order, compact JSON, space-padded to a multiple
 * of 8. With a single dtype this is plain sorted-by-name order.
 */

import { SoftpromptError } from '../errors.js';
import { atomicWriteFile } from './atomic.js';
import { assertLittleEndian, f32ToBf16Bits, formatShape, numel } from './dtype.js';

export interface WritableTensor {
  /**
   * Defaults from the array type: Float32Array → F32, Int32Array → I32, BigInt64Array → I64.
   * BF16 takes a Float32Array (rounded to nearest even) or a Uint16Array of bf16 bits.
   */
  dtype?: 'F32' | 'BF16' | 'I32' | 'I64';
  shape: number[];
  data: Float32Array | Uint16Array | Int32Array | BigInt64Array;
}

type WriteDType = NonNullable<WritableTensor['dtype']>;

export const WRITE_DTYPE_BYTES: Readonly<Record<WriteDType, number>> = { F32: 4, BF16: 2, I32: 4, I64: 8 };
const BYTES = WRITE_DTYPE_BYTES;

function defaultDType(data: WritableTensor['data']): WriteDType {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof Uint16Array) return 'BF16';
  return 'I64';
}

/** Little-endian bytes of `t` as `dtype` (I64 also accepts an Int32Array, widened). */
function tensorBytes(name: string, dtype: WriteDType, t: WritableTensor): Uint8Array {
  const { data } = t;
  const ok =
    (dtype === 'F32' && data instanceof Float32Array) ||
    (dtype === 'BF16' && (data instanceof Float32Array || data instanceof Uint16Array)) ||
    (dtype === 'I32' && data instanceof Int32Array) ||
    (dtype === 'I64' && (data instanceof BigInt64Array || data instanceof Int32Array));
  if (!ok) {
    throw new SoftpromptError('unsupported', `Cannot write tensor "${name}" as ${dtype} from a ${data.constructor.name}; use Float32Array for F32, Float32Array or Uint16Array for BF16, Int32Array for I32, BigInt64Array or Int32Array for I64.`, { path: name });
  }
  if (dtype === 'BF16' && data instanceof Float32Array) return new Uint8Array(f32ToBf16Bits(data).buffer);
  if (dtype === 'I64' && data instanceof Int32Array) {
    const wide = new BigInt64Array(data.length);
    for (let i = 0; i < data.length; i++) wide[i] = BigInt(data[i]!);
    return new Uint8Array(wide.buffer);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** The file as its parts, in order: the 8-byte length and header, then each tensor's bytes (views, not copies). */
export function safetensorsParts(tensors: Record<string, WritableTensor>, metadata?: Record<string, string>): Uint8Array[] {
  assertLittleEndian();
  const items = Object.entries(tensors).map(([name, t]) => {
    if (name === '__metadata__') throw new SoftpromptError('unsupported', 'A tensor cannot be named "__metadata__" (reserved by the safetensors header).', { path: name });
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SoftpromptError('shape_mismatch', `Tensor "${name}" has shape ${JSON.stringify(t.shape)}, expected non-negative integers.`, { path: name });
    }
    if (numel(t.shape) !== t.data.length) {
      throw new SoftpromptError('shape_mismatch', `Tensor "${name}" has shape ${formatShape(t.shape)} (${numel(t.shape)} elements) but its data holds ${t.data.length}.`, { path: name });
    }
    const dtype = t.dtype ?? defaultDType(t.data);
    return { name, dtype, shape: t.shape, bytes: tensorBytes(name, dtype, t) };
  });
  items.sort((a, b) => BYTES[b.dtype] - BYTES[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  // Built by hand so the key order is exactly ours (JSON.stringify would hoist integer-like names).
  const parts: string[] = [];
  if (metadata !== undefined) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  let offset = 0;
  for (const it of items) {
    const end = offset + it.bytes.byteLength;
    parts.push(`${JSON.stringify(it.name)}:{"dtype":"${it.dtype}","shape":[${it.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  let header = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = Math.ceil(header.byteLength / 8) * 8;
  if (padded !== header.byteLength) header = Buffer.concat([header, Buffer.alloc(padded - header.byteLength, 0x20)]);

  const head = new Uint8Array(8 + header.byteLength);
  new DataView(head.buffer).setBigUint64(0, BigInt(header.byteLength), true);
  head.set(header, 8);
  return [head, ...items.map((it) => it.bytes)];
}

/** The whole file as bytes. */
export function encodeSafetensors(tensors: Record<string, WritableTensor>, metadata?: Record<string, string>): Uint8Array {
  const parts = safetensorsParts(tensors, metadata);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.byteLength;
  }
  return out;
}

/**
 * Write `tensors` to `file` atomically (temp file, fsync, rename), streamed tensor by tensor: a full fine-tuning
 * checkpoint (weights or AdamW moments of a whole model) is never copied into one buffer, which could not hold
 * more than 4 GB anyway.
 */
export function writeSafetensors(file: string, tensors: Record<string, WritableTensor>, metadata?: Record<string, string>): void {
  let parts: Uint8Array[];
  try {
    parts = safetensorsParts(tensors, metadata);
  } catch (err) {
    if (!(err instanceof SoftpromptError)) throw err;
    throw new SoftpromptError(err.code, `${err.message.replace(/\.$/, '')} (writing ${file}).`, { file, path: err.path, hint: err.hint, cause: err });
  }
  atomicWriteFile(file, parts);
}
