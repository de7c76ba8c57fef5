/**
 * Read-only zip archive reader for `torch.save` files: central directory (with Zip64), stored or deflated
 * entries, CRC-checked. PyTorch writes stored entries with 64-byte aligned data (padding in the local extra field),
 * so each entry's data offset comes from its own local header.
 *
 *   EOCD (end)              PK\5\6: entry count @10, central dir size @12, offset @16
 *   Zip64 locator / EOCD    PK\6\7 → PK\6\6: count @32, size @40, offset @48 (u64)
 *   central dir entry       PK\1\2: method @10, crc @16, csize @20, usize @24, name/extra/comment lens @28/30/32,
 *                           local header offset @42, name @46; Zip64 extra (id 1) holds u64 usize, csize, offset
 *   local header            PK\3\4: name/extra lens @26/28, data @30+n+e
 */

import zlib from 'node:zlib';
import { SoftpromptError } from '../errors.js';

export interface ZipEntry {
  name: string;
  method: number; // 0 stored, 8 deflate
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/** Deflate's largest expansion is about 1032:1 (RFC 1951: 258-byte matches coded in ~2 bits). */
const MAX_DEFLATE_RATIO = 1032;

let crcTable: Uint32Array | undefined;

export function crc32(bytes: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export class ZipArchive {
  readonly entries: Map<string, ZipEntry>;
  private readonly view: DataView;

  constructor(
    readonly buf: Uint8Array,
    readonly file: string,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.entries = this.readCentralDirectory();
  }

  private fail(what: string): SoftpromptError {
    return new SoftpromptError('malformed_file', `Malformed zip archive ${this.file}: ${what}.`, { file: this.file });
  }

  private u16(at: number): number {
    if (at + 2 > this.buf.byteLength) throw this.fail(`read past the end at byte ${at}`);
    return this.view.getUint16(at, true);
  }

  private u32(at: number): number {
    if (at + 4 > this.buf.byteLength) throw this.fail(`read past the end at byte ${at}`);
    return this.view.getUint32(at, true);
  }

  private u64(at: number): number {
    if (at + 8 > this.buf.byteLength) throw this.fail(`read past the end at byte ${at}`);
    const v = this.view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.fail(`64-bit field ${v} at byte ${at} is too large`);
    return Number(v);
  }

  private readCentralDirectory(): Map<string, ZipEntry> {
    const len = this.buf.byteLength;
    let eocd = -1;
    for (let i = len - 22; i >= Math.max(0, len - 22 - 0xffff); i--) {
      if (this.view.getUint32(i, true) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw this.fail('no end-of-central-directory record (not a zip file, or truncated)');
    let count = this.u16(eocd + 10);
    let cdSize = this.u32(eocd + 12);
    let cdOffset = this.u32(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || this.u32(loc) !== 0x07064b50) throw this.fail('Zip64 sizes without a Zip64 locator');
      const z = this.u64(loc + 8);
      if (this.u32(z) !== 0x06064b50) throw this.fail(`no Zip64 end-of-central-directory record at byte ${z}`);
      count = this.u64(z + 32);
      cdSize = this.u64(z + 40);
      cdOffset = this.u64(z + 48);
    }
    if (cdOffset + cdSize > len) throw this.fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) runs past the end (${len} bytes)`);

    const entries = new Map<string, ZipEntry>();
    let p = cdOffset;
    const utf8 = new TextDecoder('utf-8');
    for (let i = 0; i < count; i++) {
      if (this.u32(p) !== 0x02014b50) throw this.fail(`central directory entry ${i} at byte ${p} has a bad signature`);
      const nameLen = this.u16(p + 28);
      const extraLen = this.u16(p + 30);
      const commentLen = this.u16(p + 32);
      if (p + 46 + nameLen + extraLen > len) throw this.fail(`central directory entry ${i} runs past the end`);
      const name = utf8.decode(this.buf.subarray(p + 46, p + 46 + nameLen));
      let size = this.u32(p + 24);
      let compressedSize = this.u32(p + 20);
      let localHeaderOffset = this.u32(p + 42);
      // Zip64 extra field: the 0xffffffff fields, in this order.
      for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen; ) {
        const id = this.u16(e);
        const n = this.u16(e + 2);
        if (id === 0x0001) {
          let q = e + 4;
          if (size === 0xffffffff) {
            size = this.u64(q);
            q += 8;
          }
          if (compressedSize === 0xffffffff) {
            compressedSize = this.u64(q);
            q += 8;
          }
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = this.u64(q);
        }
        e += 4 + n;
      }
      entries.set(name, { name, method: this.u16(p + 10), crc32: this.u32(p + 16), compressedSize, size, localHeaderOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return entries;
  }

  /** The entry's bytes (a view into the archive for stored entries), CRC-checked. */
  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (e === undefined) throw this.fail(`no entry "${name}"`);
    const h = e.localHeaderOffset;
    if (this.u32(h) !== 0x04034b50) throw this.fail(`entry "${name}" has no local header at byte ${h}`);
    const start = h + 30 + this.u16(h + 26) + this.u16(h + 28);
    if (start + e.compressedSize > this.buf.byteLength) throw this.fail(`entry "${name}" [${start}, ${start + e.compressedSize}) runs past the end (${this.buf.byteLength} bytes)`);
    const raw = this.buf.subarray(start, start + e.compressedSize);
    if (e.method === 8 && e.size > MAX_DEFLATE_RATIO * e.compressedSize + 1024) {
      throw this.fail(`entry "${name}" declares ${e.size} bytes from ${e.compressedSize} deflated bytes, more than deflate can produce`);
    }
    let data: Uint8Array;
    if (e.method === 0) data = raw;
    else if (e.method === 8) {
      try {
        // never more than the directory declares (a 1 MB bomb declaring 4 bytes stops at 4, not at 1 GiB)
        data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
      } catch (err) {
        throw this.fail(`entry "${name}" does not inflate (${(err as Error).message})`);
      }
    } else {
      throw new SoftpromptError('unsupported', `Zip entry "${name}" in ${this.file} uses compression method ${e.method}; supported: stored (0), deflate (8).`, { file: this.file, path: name });
    }
    if (data.byteLength !== e.size) throw this.fail(`entry "${name}" is ${data.byteLength} bytes, the directory says ${e.size}`);
    if (crc32(data) !== e.crc32) throw this.fail(`entry "${name}" fails its CRC-32 check`);
    return data;
  }
}
