/**
 * Element types shared by the safetensors and torch readers, and the conversions to the two array types the
 * rest of the library uses: Float32Array (weights, prompts) and Int32Array (ids, masks).
 *
 * Inputs are raw little-endian bytes at any byte offset; outputs are always fresh, aligned arrays.
 */

import os from 'node:os';
import { SoftpromptError } from '../errors.js';

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface TensorInfo {
  dtype: DType;
  shape: number[];
}

export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export function isDType(s: string): s is DType {
  return Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

/** prod(shape); 1 for a scalar []. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Typed arrays are host-endian; every format read here is little-endian. */
export function assertLittleEndian(): void {
  if (os.endianness() !== 'LE') {
    throw new SoftpromptError('unsupported', 'softprompt reads and writes little-endian tensors and needs a little-endian host.');
  }
}

/** Fresh copy of `bytes` into an aligned ArrayBuffer. */
function alignedCopy(bytes: Uint8Array): ArrayBuffer {
  const buf = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(buf).set(bytes);
  return buf;
}

/** IEEE half → float, by bit pattern (exact: every f16 is representable in f32). */
export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero / subnormal
  if (exp === 31) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

let f16Table: Float32Array | undefined; // all 65536 half values, built on first use (256 KiB)

function halfTable(): Float32Array {
  if (f16Table === undefined) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToNumber(h);
  }
  return f16Table;
}

/** bfloat16 is the top half of a float32. */
export function bf16BitsToNumber(b: number): number {
  const u = new Uint32Array([(b & 0xffff) << 16]);
  return new Float32Array(u.buffer)[0]!;
}

/** bfloat16 bits of each float32, rounded to nearest even (as torch's .to(torch.bfloat16)); NaN stays NaN. */
export function f32ToBf16Bits(x: Float32Array): Uint16Array {
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const b = bits[i]!;
    if ((b & 0x7fffffff) > 0x7f800000) out[i] = (b >>> 16) | 0x40; // quiet NaN
    else out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return out;
}

/**
 * Float32 copy of `bytes` holding `dtype` elements. Returns undefined for integer dtypes (the caller says why).
 * `bytes.byteLength` must be a multiple of the element size (checked by the readers before).
 */
export function bytesToF32(dtype: DType, bytes: Uint8Array): Float32Array | undefined {
  assertLittleEndian();
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  switch (dtype) {
    case 'F32':
      return new Float32Array(alignedCopy(bytes));
    case 'F64':
      return Float32Array.from(new Float64Array(alignedCopy(bytes)));
    case 'F16': {
      const src = new Uint16Array(alignedCopy(bytes));
      const table = halfTable();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[src[i]!]!;
      return out;
    }
    case 'BF16': {
      const src = new Uint16Array(alignedCopy(bytes));
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = src[i]! << 16;
      return new Float32Array(bits.buffer);
    }
    default:
      return undefined;
  }
}

/** Where an I64 value does not fit an Int32Array. */
export interface I64Overflow {
  index: number;
  value: bigint;
}

/**
 * Int32 copy of `bytes` holding integer `dtype` elements. Returns undefined for float dtypes, and an
 * I64Overflow for the first I64 value outside [-2^31, 2^31).
 */
export function bytesToI32(dtype: DType, bytes: Uint8Array): Int32Array | I64Overflow | undefined {
  assertLittleEndian();
  const buf = alignedCopy(bytes);
  switch (dtype) {
    case 'I32':
      return new Int32Array(buf);
    case 'I64': {
      const src = new BigInt64Array(buf);
      const out = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = src[i]!;
        if (v < -2147483648n || v > 2147483647n) return { index: i, value: v };
        out[i] = Number(v);
      }
      return out;
    }
    case 'I16':
      return Int32Array.from(new Int16Array(buf));
    case 'I8':
      return Int32Array.from(new Int8Array(buf));
    case 'U8':
    case 'BOOL':
      return Int32Array.from(new Uint8Array(buf));
    default:
      return undefined;
  }
}
