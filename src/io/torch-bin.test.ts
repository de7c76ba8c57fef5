import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SoftpromptError } from '../errors.js';
import { readTorchBin } from './torch-bin.js';
import { crc32 } from './zip.js';
import { fixture } from '../../test/paths.js';
import { expectError } from '../../test/expect-error.js';

const COLA = fixture('dept-cola', 'adapter_model.bin');
const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-torch-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));

// ---- building torch.save-like archives by hand ----

/** A minimal zip writer (stored, or deflated when asked), enough to wrap hand-made pickles. */
function zipArchive(entries: [name: string, data: Uint8Array, deflate?: boolean][]): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data, deflate] of entries) {
    const body = deflate ? zlib.deflateRawSync(data) : Buffer.from(data);
    const nameBytes = Buffer.from(name);
    const head = Buffer.alloc(30);
    head.writeUInt32LE(0x04034b50, 0);
    head.writeUInt16LE(20, 4);
    head.writeUInt16LE(deflate ? 8 : 0, 8);
    head.writeUInt32LE(crc32(data), 14);
    head.writeUInt32LE(body.byteLength, 18);
    head.writeUInt32LE(data.byteLength, 22);
    head.writeUInt16LE(nameBytes.byteLength, 26);
    locals.push(head, nameBytes, body);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(deflate ? 8 : 0, 10);
    cd.writeUInt32LE(crc32(data), 16);
    cd.writeUInt32LE(body.byteLength, 20);
    cd.writeUInt32LE(data.byteLength, 24);
    cd.writeUInt16LE(nameBytes.byteLength, 28);
    cd.writeUInt32LE(offset, 42);
    central.push(cd, nameBytes);
    offset += 30 + nameBytes.byteLength + body.byteLength;
  }
  const cdBytes = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cdBytes.byteLength, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cdBytes, eocd]);
}

/** Pickle opcodes, protocol 2, as torch.save emits them. */
const op = {
  proto: Buffer.from([0x80, 0x02]),
  mark: Buffer.from('('),
  emptyDict: Buffer.from('}'),
  emptyTuple: Buffer.from(')'),
  tuple: Buffer.from('t'),
  reduce: Buffer.from('R'),
  persid: Buffer.from('Q'),
  setitems: Buffer.from('u'),
  setitem: Buffer.from('s'),
  false: Buffer.from([0x89]),
  stop: Buffer.from('.'),
  global: (mod: string, name: string): Buffer => Buffer.from(`c${mod}\n${name}\n`),
  str: (s: string): Buffer => {
    const b = Buffer.from(s);
    const n = Buffer.alloc(4);
    n.writeUInt32LE(b.byteLength);
    return Buffer.concat([Buffer.from('X'), n, b]);
  },
  int: (v: number): Buffer => {
    const b = Buffer.alloc(5);
    b.write('J');
    b.writeInt32LE(v, 1);
    return b;
  },
  ints: (vs: number[]): Buffer => Buffer.concat([op.mark, ...vs.map(op.int), op.tuple]),
};

/** _rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, shape, stride, False, OrderedDict()). */
function tensorPickle(storageType: string, key: string, numel: number, offset: number, shape: number[], stride: number[]): Buffer {
  return Buffer.concat([
    op.global('torch._utils', '_rebuild_tensor_v2'),
    op.mark,
    op.mark, op.str('storage'), op.global('torch', storageType), op.str(key), op.str('cpu'), op.int(numel), op.tuple, op.persid,
    op.int(offset), op.ints(shape), op.ints(stride), op.false,
    op.global('collections', 'OrderedDict'), op.emptyTuple, op.reduce,
    op.tuple, op.reduce,
  ]);
}

function writeArchive(name: string, pkl: Buffer, storages: [string, Uint8Array, boolean?][] = [], deflatePkl = false): string {
  const file = path.join(ROOT, name);
  fs.writeFileSync(file, zipArchive([['archive/data.pkl', pkl, deflatePkl], ...storages.map(([k, d, z]): [string, Uint8Array, boolean?] => [`archive/data/${k}`, d, z]), ['archive/version', Buffer.from('3\n')]]));
  return file;
}


function std(a: Float32Array): number {
  const m = a.reduce((s, x) => s + x, 0) / a.length;
  return Math.sqrt(a.reduce((s, x) => s + (x - m) ** 2, 0) / a.length);
}

describe('torch-bin: the DePT CoLA checkpoint', () => {
  const t = readTorchBin(COLA);

  it('holds exactly P [80, 768], A [256, 15], B [15, 768], float32, all finite', () => {
    assert.deepEqual([...t.keys()], ['prompt_embeddings', 'prompt_encoder.lora_embedding_A', 'prompt_encoder.lora_embedding_B']);
    assert.deepEqual(t.get('prompt_embeddings')!.shape, [80, 768]);
    assert.deepEqual(t.get('prompt_encoder.lora_embedding_A')!.shape, [256, 15]);
    assert.deepEqual(t.get('prompt_encoder.lora_embedding_B')!.shape, [15, 768]);
    for (const [name, v] of t) {
      assert.equal(v.dtype, 'F32', name);
      assert.equal(v.data.length, v.shape[0]! * v.shape[1]!, name);
      assert.ok(v.data.every(Number.isFinite), `${name} has non-finite values`);
    }
  });

  it('matches the spec §1.10 statistics and the first values (read with Python struct)', () => {
    const P = t.get('prompt_embeddings')!.data;
    const norms = Array.from({ length: 80 }, (_, i) => Math.hypot(...P.subarray(i * 768, (i + 1) * 768)));
    const mean = norms.reduce((a, b) => a + b, 0) / norms.length;
    assert.equal(Math.round(mean), 917); // 916.685
    assert.equal(Math.round(Math.min(...norms)), 771);
    assert.equal(Math.round(Math.max(...norms)), 1190);
    assert.equal(std(t.get('prompt_encoder.lora_embedding_A')!.data).toFixed(3), '0.237'); // 0.23651
    assert.equal(std(t.get('prompt_encoder.lora_embedding_B')!.data).toFixed(3), '0.162'); // 0.16166
    assert.deepEqual([...P.subarray(0, 3)], [16.175764083862305, -22.599946975708008, -0.48426657915115356]);
    assert.deepEqual([...t.get('prompt_encoder.lora_embedding_A')!.data.subarray(0, 3)], [0.6853411197662354, -0.7988839149475098, 0.4129117727279663]);
    assert.deepEqual([...t.get('prompt_encoder.lora_embedding_B')!.data.subarray(0, 3)], [-0.1869397908449173, 0.15049512684345245, -0.09144632518291473]);
  });
});

describe('torch-bin: hand-built archives', () => {
  it('honors storage offset and strides, converts F16 / BF16 / I64, reads deflated entries, skips non-tensors', () => {
    const f32 = new Uint8Array(Float32Array.from({ length: 12 }, (_, i) => i).buffer); // storage 0: 0..11
    const f16 = new Uint8Array(Uint16Array.from([0x3c00, 0xc000, 0x3800]).buffer); // 1, -2, 0.5
    const bf16 = new Uint8Array(Uint16Array.from([0x3f80, 0x4049]).buffer); // 1, 3.140625
    const i64 = new Uint8Array(BigInt64Array.from([7n, -3n]).buffer);
    const pkl = Buffer.concat([
      op.proto, op.emptyDict, op.mark,
      op.str('transposed'), tensorPickle('FloatStorage', '0', 12, 1, [2, 3], [1, 2]), // [[1,3,5],[2,4,6]]
      op.str('row'), tensorPickle('FloatStorage', '0', 12, 8, [4], [1]), // shares storage 0: [8,9,10,11]
      op.str('broadcast'), tensorPickle('FloatStorage', '0', 12, 2, [2, 2], [0, 1]), // [[2,3],[2,3]]
      op.str('half'), tensorPickle('HalfStorage', '1', 3, 0, [3], [1]),
      op.str('bf16'), tensorPickle('BFloat16Storage', '2', 2, 0, [1, 2], [2, 1]),
      op.str('long'), tensorPickle('LongStorage', '3', 2, 0, [2], [1]),
      op.str('param'), op.global('torch._utils', '_rebuild_parameter'), op.mark, tensorPickle('FloatStorage', '0', 12, 0, [2], [1]), op.false, op.global('collections', 'OrderedDict'), op.emptyTuple, op.reduce, op.tuple, op.reduce,
      op.str('epoch'), op.int(3),
      op.setitems, op.stop,
    ]);
    const file = writeArchive('views.bin', pkl, [['0', f32], ['1', f16], ['2', bf16], ['3', i64, true]], true);
    const t = readTorchBin(file);
    assert.deepEqual([...t.keys()], ['transposed', 'row', 'broadcast', 'half', 'bf16', 'long', 'param']);
    assert.deepEqual(t.get('transposed'), { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, 3, 5, 2, 4, 6]) });
    assert.deepEqual([...t.get('row')!.data], [8, 9, 10, 11]);
    assert.deepEqual([...t.get('broadcast')!.data], [2, 3, 2, 3]);
    assert.deepEqual(t.get('half'), { dtype: 'F16', shape: [3], data: Float32Array.from([1, -2, 0.5]) });
    assert.deepEqual(t.get('bf16'), { dtype: 'BF16', shape: [1, 2], data: Float32Array.from([1, 3.140625]) });
    assert.deepEqual(t.get('long'), { dtype: 'I64', shape: [2], data: Float32Array.from([7, -3]) });
    assert.deepEqual([...t.get('param')!.data], [0, 1]);
  });

  it('refuses views that reach past their storage, and storages of the wrong size', () => {
    const f32 = new Uint8Array(new Float32Array(4).buffer);
    const past = writeArchive('past.bin', Buffer.concat([op.proto, op.emptyDict, op.str('w'), tensorPickle('FloatStorage', '0', 4, 2, [2, 2], [2, 1]), op.setitem, op.stop]), [['0', f32]]);
    expectError(() => readTorchBin(past), 'malformed_file', past, '"w"', 'element 5');
    const short = writeArchive('short.bin', Buffer.concat([op.proto, op.emptyDict, op.str('w'), tensorPickle('FloatStorage', '0', 8, 0, [8], [1]), op.setitem, op.stop]), [['0', f32]]);
    expectError(() => readTorchBin(short), 'malformed_file', short, '"w"', '16 bytes', '32');
    const missing = writeArchive('missing.bin', Buffer.concat([op.proto, op.emptyDict, op.str('w'), tensorPickle('FloatStorage', '7', 4, 0, [4], [1]), op.setitem, op.stop]), [['0', f32]]);
    expectError(() => readTorchBin(missing), 'missing_tensor', missing, 'archive/data/7', '"w"');
  });

  it('refuses a data.pkl that calls os.system, and runs nothing', () => {
    const marker = path.join(ROOT, 'pwned');
    const pkl = Buffer.concat([op.proto, op.global('os', 'system'), op.mark, op.str(`touch ${marker}`), op.tuple, op.reduce, op.stop]);
    const file = writeArchive('evil-os.bin', pkl);
    const err = expectError(() => readTorchBin(file), 'unsafe_pickle', file, '"os.system"', 'archive/data.pkl', 'nothing was executed');
    assert.equal(err.path, 'os.system');
    assert.equal(fs.existsSync(marker), false);
  });

  it('refuses builtins.eval hidden inside an otherwise valid state dict', () => {
    const pkl = Buffer.concat([
      op.proto, op.emptyDict, op.mark,
      op.str('w'), tensorPickle('FloatStorage', '0', 1, 0, [1], [1]),
      op.str('x'), op.global('builtins', 'eval'), op.mark, op.str('__import__("os").system("true")'), op.tuple, op.reduce,
      op.setitems, op.stop,
    ]);
    const file = writeArchive('evil-eval.bin', pkl, [['0', new Uint8Array(4)]]);
    expectError(() => readTorchBin(file), 'unsafe_pickle', file, '"builtins.eval"');
  });

  it('refuses calling an allow-listed storage type, and an unknown storage type', () => {
    const call = writeArchive('call-storage.bin', Buffer.concat([op.proto, op.global('torch', 'FloatStorage'), op.emptyTuple, op.reduce, op.stop]));
    expectError(() => readTorchBin(call), 'unsafe_pickle', call, '"torch.FloatStorage"');
    const complex = writeArchive('complex.bin', Buffer.concat([op.proto, op.emptyDict, op.str('w'), tensorPickle('ComplexFloatStorage', '0', 1, 0, [1], [1]), op.setitem, op.stop]), [['0', new Uint8Array(8)]]);
    expectError(() => readTorchBin(complex), 'unsafe_pickle', complex, '"torch.ComplexFloatStorage"');
  });

  it('legacy format, non-zip, missing file', () => {
    const legacy = path.join(ROOT, 'legacy.bin');
    fs.writeFileSync(legacy, Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]));
    expectError(() => readTorchBin(legacy), 'unsupported', legacy, 'legacy');
    const text = path.join(ROOT, 'text.bin');
    fs.writeFileSync(text, 'hello');
    expectError(() => readTorchBin(text), 'malformed_file', text);
    expectError(() => readTorchBin(path.join(ROOT, 'nope.bin')), 'file_not_found', 'nope.bin');
  });
});

describe('torch-bin: hostile files stay small (issue 10)', () => {
  /** The archive with the central directory's uncompressed size of `entry` set to `size`. */
  function withDeclaredSize(archive: Buffer, entry: string, size: number): Buffer {
    for (let p = archive.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])); p >= 0; p = archive.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]), p - 1)) {
      if (archive.subarray(p + 46, p + 46 + archive.readUInt16LE(p + 28)).toString() === entry) {
        archive.writeUInt32LE(size, p + 24);
        return archive;
      }
    }
    throw new Error(`no entry ${entry}`);
  }

  it('a stride-0 (16384, 16384) view of a 1-float storage is refused before allocating', () => {
    const pkl = Buffer.concat([op.proto, op.emptyDict, op.str('w'), tensorPickle('FloatStorage', '0', 1, 0, [16384, 16384], [0, 0]), op.setitem, op.stop]);
    const file = writeArchive('stride0.bin', pkl, [['0', new Uint8Array(4)]]);
    assert.ok(fs.statSync(file).size < 1024);
    expectError(() => readTorchBin(file), 'malformed_file', file, '"w"', '268435456 elements', 'more than the 1');
  });

  it('inflating data.pkl stops at its declared size (a 16 MiB bomb declaring 4 bytes)', () => {
    const bomb = withDeclaredSize(zipArchive([['archive/data.pkl', new Uint8Array(16 << 20), true]]), 'archive/data.pkl', 4);
    const file = path.join(ROOT, 'bomb.bin');
    fs.writeFileSync(file, bomb);
    // "does not inflate" = stopped by the output cap; without it the whole 16 MiB is inflated, then size-checked
    expectError(() => readTorchBin(file), 'malformed_file', file, 'archive/data.pkl', 'does not inflate');
  });

  it('an entry declaring more than deflate can produce is refused before inflating', () => {
    const lie = withDeclaredSize(zipArchive([['archive/data.pkl', new Uint8Array(1024), true]]), 'archive/data.pkl', 0x7fffffff);
    const file = path.join(ROOT, 'lie.bin');
    fs.writeFileSync(file, lie);
    expectError(() => readTorchBin(file), 'malformed_file', file, 'archive/data.pkl', 'more than deflate can produce');
  });

  it('a storage whose entry declares another size is refused before it is read', () => {
    const pkl = Buffer.concat([op.proto, op.emptyDict, op.str('w'), tensorPickle('FloatStorage', '0', 1 << 28, 0, [1], [1]), op.setitem, op.stop]);
    const file = writeArchive('huge-storage.bin', pkl, [['0', new Uint8Array(4)]]);
    expectError(() => readTorchBin(file), 'malformed_file', file, '"w"', 'is 4 bytes', '1073741824');
  });
});
