import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SoftpromptError } from '../errors.js';
import { encodeSafetensors, SafetensorsFile, writeSafetensors, type WritableTensor } from './safetensors.js';
import { fixture } from '../../test/paths.js';
import { expectError } from '../../test/expect-error.js';

const FIXTURES = fixture('t5-tiny');
const GOLDEN = path.join(FIXTURES, 'golden.safetensors');
const MODEL = path.join(FIXTURES, 'model.safetensors');
const goldenJson = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'golden.json'), 'utf8')) as {
  input_ids: number[][];
  attention_mask: number[][];
  small_tensors: Record<string, number[][]>;
  files: Record<string, string>;
};

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-st-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));

let n = 0;
function tmpDir(): string {
  const dir = path.join(ROOT, String(n++));
  fs.mkdirSync(dir);
  return dir;
}

/** A safetensors file from a raw header object and data bytes, for malformed / exotic-dtype cases. */
function rawFile(header: object, data: Uint8Array, pad = true): Uint8Array {
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  if (pad && json.byteLength % 8 !== 0) json = Buffer.concat([json, Buffer.alloc(8 - (json.byteLength % 8), 0x20)]);
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

function u16(values: number[]): Uint8Array {
  return new Uint8Array(Uint16Array.from(values).buffer);
}


describe('safetensors: fixture files', () => {
  it('fixture files are the ones golden.json describes (sha256)', () => {
    for (const f of ['golden.safetensors', 'model.safetensors']) {
      const sha = createHash('sha256').update(fs.readFileSync(path.join(FIXTURES, f))).digest('hex');
      assert.equal(sha, goldenJson.files[f]);
    }
  });

  it('reads golden.safetensors: dtypes, shapes, ids and DePT tensors match golden.json', () => {
    const st = SafetensorsFile.open(GOLDEN);
    assert.equal(st.metadata.generator, 'gen.py');
    assert.deepEqual(st.info('dept.A'), { dtype: 'F32', shape: [24, 3] });
    assert.deepEqual(st.info('dept.B'), { dtype: 'F32', shape: [3, 64] });
    assert.deepEqual(st.info('input_ids'), { dtype: 'I32', shape: [3, 24] });
    assert.deepEqual(st.info('vocab_probe_ids'), { dtype: 'I32', shape: [783] });
    assert.deepEqual([...st.getI32('input_ids')], goldenJson.input_ids.flat());
    assert.deepEqual([...st.getI32('attention_mask')], goldenJson.attention_mask.flat());
    for (const name of ['dept.A', 'dept.B', 'dept.P', 'pt.P']) {
      const want = Float32Array.from(goldenJson.small_tensors[name]!.flat());
      assert.deepEqual(st.getF32(name), want, name);
    }
  });

  it('reads model.safetensors lazily: 47 tensors, shared.weight [32128, 64]', () => {
    const st = SafetensorsFile.open(MODEL);
    assert.equal(st.names().length, 47);
    assert.deepEqual(st.metadata, { format: 'pt' });
    assert.deepEqual(st.info('shared.weight'), { dtype: 'F32', shape: [32128, 64] });
    const w = st.getF32('encoder.block.0.layer.0.layer_norm.weight');
    assert.equal(w.length, 64);
    const mean = w.reduce((a, b) => a + b, 0) / w.length;
    assert.ok(Math.abs(mean - 1) < 0.05, `layer norm weights drawn around 1, mean ${mean}`); // README: normal(1, 0.1)
  });

  it('re-writing every tensor reproduces both files byte for byte (layout, order, padding)', () => {
    const dir = tmpDir();
    for (const src of [GOLDEN, MODEL]) {
      const st = SafetensorsFile.open(src);
      const tensors: Record<string, WritableTensor> = {};
      for (const name of st.names()) {
        const { dtype, shape } = st.info(name);
        tensors[name] = { shape, data: dtype === 'F32' ? st.getF32(name) : st.getI32(name) };
      }
      const out = path.join(dir, path.basename(src));
      writeSafetensors(out, tensors, { ...st.metadata });
      assert.ok(fs.readFileSync(out).equals(fs.readFileSync(src)), `${path.basename(src)} differs after re-writing`);
    }
  });
});

describe('safetensors: writer', () => {
  it('round trips F32 / I32 / I64 with metadata, aligned and padded', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'adapter_model.safetensors');
    const P = Float32Array.from({ length: 12 }, (_, i) => (i - 5) / 7); // [3, 4]
    writeSafetensors(
      file,
      {
        prompt_embeddings: { shape: [3, 4], data: P },
        ids: { shape: [3], data: Int32Array.from([0, -1, 2147483647]) },
        big: { dtype: 'I64', shape: [2], data: Int32Array.from([-5, 7]) },
        scalar: { shape: [], data: Float32Array.from([2.5]) },
      },
      { format: 'pt' },
    );
    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    assert.equal(n % 8, 0);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { data_offsets: number[] }>;
    // I64 (8-byte) first, then the 4-byte tensors by name; __metadata__ leads.
    assert.deepEqual(Object.keys(header), ['__metadata__', 'big', 'ids', 'prompt_embeddings', 'scalar']);
    assert.deepEqual(header.big!.data_offsets, [0, 16]);
    assert.deepEqual(header.ids!.data_offsets, [16, 28]);

    const st = SafetensorsFile.open(file);
    assert.deepEqual(st.metadata, { format: 'pt' });
    assert.deepEqual(st.getF32('prompt_embeddings'), P);
    assert.deepEqual(st.info('big'), { dtype: 'I64', shape: [2] });
    assert.deepEqual([...st.getI32('big')], [-5, 7]);
    assert.deepEqual([...st.getI32('ids')], [0, -1, 2147483647]);
    assert.deepEqual(st.info('scalar'), { dtype: 'F32', shape: [] });
    assert.deepEqual([...st.getF32('scalar')], [2.5]);
    assert.deepEqual(fs.readdirSync(dir), ['adapter_model.safetensors'], 'no temp file left behind');
  });

  it('refuses data that does not match its shape or dtype', () => {
    expectError(() => encodeSafetensors({ x: { shape: [2, 3], data: new Float32Array(5) } }), 'shape_mismatch', '"x"', '[2, 3]', '5');
    expectError(() => encodeSafetensors({ x: { dtype: 'F32', shape: [2], data: new Int32Array(2) } }), 'unsupported', '"x"', 'Int32Array');
    const file = path.join(tmpDir(), 'bad.safetensors');
    expectError(() => writeSafetensors(file, { y: { shape: [4], data: new Float32Array(3) } }), 'shape_mismatch', file, '"y"');
    assert.equal(fs.existsSync(file), false);
  });
});

describe('safetensors: dtype conversion', () => {
  const f16 = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x3555, 0x8000, 0x7c00, 0xfc00];
  const bf16 = [0x3f80, 0xc000, 0x4049, 0x0000, 0xff80, 0x3e80];
  const f64 = Float64Array.from([0.1, -3, 1e300]);
  const i64 = BigInt64Array.from([5n, -7n, 2147483647n]);
  const data = Buffer.concat([u16(f16), u16(bf16), Buffer.from(f64.buffer), Buffer.from(i64.buffer), Buffer.from([1, 0, 255])]);
  const header = {
    h: { dtype: 'F16', shape: [8], data_offsets: [0, 16] },
    b: { dtype: 'BF16', shape: [2, 3], data_offsets: [16, 28] },
    d: { dtype: 'F64', shape: [3], data_offsets: [28, 52] },
    q: { dtype: 'I64', shape: [3], data_offsets: [52, 76] },
    u: { dtype: 'U8', shape: [3], data_offsets: [76, 79] },
  };

  it('converts F16, BF16, F64 to float32 and I64, U8 to int32 (hand-computed values, unaligned offsets)', () => {
    const file = path.join(tmpDir(), 'dtypes.safetensors');
    fs.writeFileSync(file, rawFile(header, data, false)); // unpadded header: data starts unaligned
    const st = SafetensorsFile.open(file);
    // 1, -2, 65504 (max half), 2^-24 (smallest subnormal), 0.333251953125, -0, +inf, -inf
    assert.deepEqual([...st.getF32('h')], [1, -2, 65504, 2 ** -24, 0.333251953125, -0, Infinity, -Infinity]);
    // 1, -2, 3.140625, 0, -inf, 0.25
    assert.deepEqual([...st.getF32('b')], [1, -2, 3.140625, 0, -Infinity, 0.25]);
    assert.deepEqual([...st.getF32('d')], [Math.fround(0.1), -3, Infinity]);
    assert.deepEqual([...st.getI32('q')], [5, -7, 2147483647]);
    assert.deepEqual([...st.getI32('u')], [1, 0, 255]);
    expectError(() => st.getI32('h'), 'unsupported', '"h"', file, 'F16');
    expectError(() => st.getF32('q'), 'unsupported', '"q"', file, 'I64');
  });

  it('refuses an I64 value outside int32', () => {
    const file = path.join(tmpDir(), 'i64.safetensors');
    const big = BigInt64Array.from([1n, 2n ** 40n]);
    fs.writeFileSync(file, rawFile({ ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, new Uint8Array(big.buffer)));
    expectError(() => SafetensorsFile.open(file).getI32('ids'), 'unsupported', '"ids"', file, String(2n ** 40n), 'index 1');
  });
});

describe('safetensors: malformed files', () => {
  const good = fs.readFileSync(GOLDEN);
  const headerLen = Number(good.readBigUInt64LE(0));

  function writeTmp(name: string, bytes: Uint8Array): string {
    const file = path.join(tmpDir(), name);
    fs.writeFileSync(file, bytes);
    return file;
  }

  it('truncated file: data area shorter than the last tensor', () => {
    const file = writeTmp('truncated.safetensors', good.subarray(0, good.byteLength - 100));
    expectError(() => SafetensorsFile.open(file), 'malformed_file', file, 'vocab_probe_ids', 'outside the data area');
  });

  it('truncated inside the header, and inside the length prefix', () => {
    const inHeader = writeTmp('cut-header.safetensors', good.subarray(0, 8 + headerLen - 10));
    expectError(() => SafetensorsFile.open(inHeader), 'malformed_file', inHeader, 'header length');
    const tiny = writeTmp('cut-length.safetensors', good.subarray(0, 5));
    expectError(() => SafetensorsFile.open(tiny), 'malformed_file', tiny, '5 bytes');
  });

  it('corrupt header length (huge, and too small to be JSON)', () => {
    const huge = Buffer.from(good);
    huge.writeBigUInt64LE(0xffffffffffffn, 0);
    const f1 = writeTmp('huge.safetensors', huge);
    expectError(() => SafetensorsFile.open(f1), 'malformed_file', f1, String(0xffffffffffffn));
    const small = Buffer.from(good);
    small.writeBigUInt64LE(100n, 0); // cuts the JSON
    const f2 = writeTmp('short.safetensors', small);
    expectError(() => SafetensorsFile.open(f2), 'malformed_file', f2, 'JSON');
  });

  it('bad header JSON and non-object header', () => {
    const f1 = writeTmp('badjson.safetensors', rawFile({}, new Uint8Array(0)).fill(0x7b, 8, 10));
    expectError(() => SafetensorsFile.open(f1), 'malformed_file', f1, 'JSON');
    const arr = rawFile([1, 2], new Uint8Array(0));
    const f2 = writeTmp('array.safetensors', arr);
    expectError(() => SafetensorsFile.open(f2), 'malformed_file', f2, 'not a JSON object');
  });

  it('offsets past the end, overlapping tensors, wrong byte length, bad shape', () => {
    const data = new Uint8Array(16);
    const past = writeTmp('past.safetensors', rawFile({ a: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }, data));
    expectError(() => SafetensorsFile.open(past), 'malformed_file', past, '"a"', '[0, 32]');
    const overlap = writeTmp('overlap.safetensors', rawFile({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, data));
    expectError(() => SafetensorsFile.open(overlap), 'malformed_file', overlap, '"a"', '"b"', 'overlap');
    const size = writeTmp('size.safetensors', rawFile({ a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 16] } }, data));
    expectError(() => SafetensorsFile.open(size), 'malformed_file', size, '"a"', '24 bytes', '16');
    const shape = writeTmp('shape.safetensors', rawFile({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, data));
    expectError(() => SafetensorsFile.open(shape), 'malformed_file', shape, '"a"', 'shape');
    const meta = writeTmp('meta.safetensors', rawFile({ __metadata__: { format: 3 } }, data));
    expectError(() => SafetensorsFile.open(meta), 'malformed_file', meta, '__metadata__.format');
  });

  it('unknown dtype, missing tensor, missing file', () => {
    const data = new Uint8Array(8);
    const dt = writeTmp('dtype.safetensors', rawFile({ a: { dtype: 'F13', shape: [2], data_offsets: [0, 8] } }, data));
    expectError(() => SafetensorsFile.open(dt), 'unsupported', dt, '"a"', 'F13');
    const u32 = writeTmp('u32.safetensors', rawFile({ a: { dtype: 'U32', shape: [2], data_offsets: [0, 8] } }, data));
    const st = SafetensorsFile.open(u32); // opens: a format dtype we do not convert
    expectError(() => st.getF32('a'), 'unsupported', u32, '"a"', 'U32');

    const golden = SafetensorsFile.open(GOLDEN);
    const err = expectError(() => golden.getF32('dept.Q'), 'missing_tensor', GOLDEN, '"dept.Q"', '"dept.A"');
    assert.equal(err.path, 'dept.Q');
    assert.equal(err.file, GOLDEN);
    const nope = path.join(ROOT, 'does-not-exist.safetensors');
    expectError(() => SafetensorsFile.open(nope), 'file_not_found', nope);
  });
});

describe('safetensors: hostile headers (issue 10)', () => {
  it('a header listing 200,000 empty tensors is refused by the entry cap (time bounds live in npm run test:fuzz)', () => {
    const entries = Array.from({ length: 200_000 }, (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`);
    const json = Buffer.from(`{${entries.join(',')}}`);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.byteLength));
    const file = path.join(tmpDir(), 'many.safetensors');
    fs.writeFileSync(file, Buffer.concat([len, json]));
    expectError(() => SafetensorsFile.open(file), 'malformed_file', file, '200000 entries', '100000-tensor limit');
  });
});

describe('safetensors: not a regular file (issue 10)', () => {
  it('a FIFO is refused at once instead of blocking the open, and so is a device', () => {
    const fifo = path.join(tmpDir(), 'model.safetensors');
    const r = spawnSync('mkfifo', [fifo]);
    if (r.status === 0) expectError(() => SafetensorsFile.open(fifo), 'malformed_file', fifo, 'not a regular file');
    expectError(() => SafetensorsFile.open('/dev/zero'), 'malformed_file', '/dev/zero', 'not a regular file');
  });
});
