/**
 * Safe reader for `torch.save` files such as the DePT fork's `adapter_model.bin` (spec §1.9): a zip archive
 *
 *   <prefix>/data.pkl      pickle of {name: tensor}; each tensor is
 *                          torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)
 *                          with storage = persistent id ('storage', torch.FloatStorage, key, location, numel)
 *   <prefix>/data/<key>    raw little-endian storage bytes
 *   <prefix>/byteorder     "little" (newer torch), <prefix>/version
 *
 * The pickle goes through the restricted unpickler (unpickle.ts) with the allow-list below; a file asking for any
 * other global is refused with `unsafe_pickle`. Tensors come back as float32 in C order, honoring storage offset
 * and strides.
 *
 *   const t = readTorchBin('checkpoints/cola/adapter_model.bin');
 *   t.get('prompt_embeddings');   // { dtype: 'F32', shape: [80, 768], data: Float32Array(61440) }
 */

import buffer from 'node:buffer';
import { SoftpromptError } from '../errors.js';
import { bytesToF32, DTYPE_BYTES, formatShape, numel, type DType } from './dtype.js';
import { PyDict, PyGlobal, PyTuple, unpickle, type PyOpaque, type PyValue } from './unpickle.js';
import { readUntrusted } from './untrusted-file.js';
import { ZipArchive } from './zip.js';

export interface TorchTensor {
  /** dtype as stored; `data` is always float32. */
  dtype: DType;
  shape: number[];
  data: Float32Array;
}

/** torch storage classes → element type. These may appear only as persistent-id storage types. */
const STORAGE_DTYPES: Readonly<Record<string, DType>> = {
  'torch.DoubleStorage': 'F64',
  'torch.FloatStorage': 'F32',
  'torch.HalfStorage': 'F16',
  'torch.BFloat16Storage': 'BF16',
  'torch.LongStorage': 'I64',
  'torch.IntStorage': 'I32',
  'torch.ShortStorage': 'I16',
  'torch.CharStorage': 'I8',
  'torch.ByteStorage': 'U8',
  'torch.BoolStorage': 'BOOL',
};

interface StorageRef extends PyOpaque {
  opaque: 'storage';
  dtype: DType;
  key: string;
  numel: number;
}

interface TensorRef extends PyOpaque {
  opaque: 'tensor';
  storage: StorageRef;
  offset: number; // in elements
  shape: number[];
  stride: number[]; // in elements
}

function isOpaque<K extends string>(v: PyValue, kind: K): v is PyValue & { opaque: K } {
  return typeof v === 'object' && v !== null && 'opaque' in v && v.opaque === kind;
}

function intTuple(v: PyValue): number[] | undefined {
  if (!(v instanceof PyTuple)) return undefined;
  return v.items.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0) ? (v.items as number[]) : undefined;
}

/** The allow-listed callables: plain TypeScript, building descriptions only. */
function callables(fail: (what: string) => SoftpromptError): Map<string, (args: PyValue[]) => PyValue> {
  const rebuildTensor = (args: PyValue[]): PyValue => {
    const [storage, offset, size, stride] = args;
    const shape = intTuple(size ?? null);
    const strides = intTuple(stride ?? null);
    if (!isOpaque(storage ?? null, 'storage') || typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0 || shape === undefined || strides === undefined || shape.length !== strides.length) {
      throw fail('_rebuild_tensor_v2 with arguments other than (storage, offset, size, stride, …)');
    }
    const t: TensorRef = { opaque: 'tensor', storage: storage as StorageRef, offset, shape, stride: strides };
    return t;
  };
  return new Map<string, (args: PyValue[]) => PyValue>([
    ['collections.OrderedDict', (args) => {
      if (args.length !== 0) throw fail('OrderedDict with constructor arguments');
      return new PyDict();
    }],
    ['torch._utils._rebuild_tensor_v2', rebuildTensor],
    ['torch._utils._rebuild_parameter', (args) => {
      if (!isOpaque(args[0] ?? null, 'tensor')) throw fail('_rebuild_parameter of something other than a tensor');
      return args[0]!;
    }],
  ]);
}

/** Read every tensor of a torch.save zip archive, without running its pickle. */
export function readTorchBin(file: string, opts: { followSymlinks?: boolean } = {}): Map<string, TorchTensor> {
  // a regular file only (never /dev/zero), and no symlink unless the caller named the file itself
  const buf = readUntrusted(file, { maxBytes: buffer.constants.MAX_LENGTH, followSymlinks: opts.followSymlinks ?? false, what: 'PyTorch file' });
  return parseTorchBin(buf, file);
}

/** readTorchBin on bytes already in memory (`file` names them in errors). */
export function parseTorchBin(buf: Uint8Array, file: string): Map<string, TorchTensor> {
  if (buf.byteLength >= 2 && buf[0] === 0x80 && buf[1]! <= 5) {
    throw new SoftpromptError('unsupported', `${file} uses the legacy torch.save format (before PyTorch 1.6), which softprompt does not read.`, { file, hint: 'convert it to safetensors, or re-save it with a recent PyTorch.' });
  }
  if (buf.byteLength < 4 || new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(0, true) !== 0x04034b50) {
    throw new SoftpromptError('malformed_file', `${file} is not a torch.save archive (no zip signature at the start).`, { file });
  }
  const zip = new ZipArchive(buf, file);
  const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) throw new SoftpromptError('malformed_file', `${file} should hold exactly one <prefix>/data.pkl, found ${pkls.length}.`, { file });
  const entry = pkls[0]!;
  const prefix = entry.slice(0, -'data.pkl'.length);
  const byteorder = zip.entries.has(`${prefix}byteorder`) ? new TextDecoder().decode(zip.read(`${prefix}byteorder`)).trim() : 'little';
  if (byteorder !== 'little') throw new SoftpromptError('unsupported', `${file} stores ${byteorder}-endian tensors; only little-endian is read.`, { file, path: `${prefix}byteorder` });

  const fail = (what: string): SoftpromptError => new SoftpromptError('malformed_file', `Malformed torch pickle ${entry} in ${file}: ${what}.`, { file, path: entry });
  const persistentLoad = (pid: PyValue): PyValue => {
    const [tag, type, key, , count] = pid instanceof PyTuple ? pid.items : [];
    if (tag !== 'storage' || !(type instanceof PyGlobal) || typeof key !== 'string' || typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
      throw fail('a persistent id other than (\'storage\', type, key, location, numel)');
    }
    const dtype = STORAGE_DTYPES[type.qualified];
    if (dtype === undefined) throw fail(`unknown storage type ${type.qualified}`);
    const s: StorageRef = { opaque: 'storage', dtype, key, numel: count };
    return s;
  };
  const root = unpickle(zip.read(entry), { file, entry, callables: callables(fail), references: new Set(Object.keys(STORAGE_DTYPES)), persistentLoad });
  if (!(root instanceof PyDict)) throw fail('the top-level object is not a dict of tensors');

  const storages = new Map<string, Float32Array>(); // key → whole storage as float32 (views share storages)
  const out = new Map<string, TorchTensor>();
  for (const [name, value] of root.map) {
    if (typeof name !== 'string' || !isOpaque(value, 'tensor')) continue; // non-tensor entries carry no weights
    const t = value as TensorRef;
    let data = storages.get(t.storage.key);
    if (data === undefined) {
      data = loadStorage(zip, `${prefix}data/${t.storage.key}`, t.storage, file, name);
      storages.set(t.storage.key, data);
    }
    out.set(name, { dtype: t.storage.dtype, shape: [...t.shape], data: gather(data, t, file, name) });
  }
  return out;
}

function loadStorage(zip: ZipArchive, entry: string, s: StorageRef, file: string, tensor: string): Float32Array {
  if (!zip.entries.has(entry)) throw new SoftpromptError('missing_tensor', `Storage ${entry} of tensor "${tensor}" is missing from ${file}.`, { file, path: tensor });
  const want = s.numel * DTYPE_BYTES[s.dtype];
  const declared = zip.entries.get(entry)!.size; // checked before inflating or copying anything
  if (declared !== want) {
    throw new SoftpromptError('malformed_file', `Storage ${entry} of tensor "${tensor}" in ${file} is ${declared} bytes, expected ${s.numel} × ${s.dtype} = ${want}.`, { file, path: tensor });
  }
  const bytes = zip.read(entry);
  const f = bytesToF32(s.dtype, bytes);
  if (f !== undefined) return f;
  const copy = new Uint8Array(bytes.byteLength); // aligned (a Buffer view may not be)
  copy.set(bytes);
  if (s.dtype === 'I64') return Float32Array.from(new BigInt64Array(copy.buffer), (x) => Number(x));
  const ctor = { I32: Int32Array, I16: Int16Array, I8: Int8Array, U8: Uint8Array, BOOL: Uint8Array }[s.dtype as 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL'];
  return Float32Array.from(new ctor(copy.buffer));
}

/** C-order copy of the strided view t over `storage`. */
function gather(storage: Float32Array, t: TensorRef, file: string, tensor: string): Float32Array {
  const n = numel(t.shape);
  if (n === 0) return new Float32Array(0);
  const last = t.offset + t.shape.reduce((acc, d, i) => acc + (d - 1) * t.stride[i]!, 0);
  if (last >= storage.length) {
    throw new SoftpromptError('malformed_file', `Tensor "${tensor}" in ${file} (shape ${formatShape(t.shape)}, stride ${formatShape(t.stride)}, offset ${t.offset}) reaches element ${last} of a ${storage.length}-element storage.`, { file, path: tensor });
  }
  // a tensor never holds more elements than its storage has from its offset on: this bounds the allocation by
  // the bytes actually in the file (a stride-0 (16384, 16384) view of one float would otherwise take 1 GiB)
  if (!(n <= storage.length - t.offset)) {
    throw new SoftpromptError('malformed_file', `Tensor "${tensor}" in ${file} (shape ${formatShape(t.shape)}, stride ${formatShape(t.stride)}, offset ${t.offset}) has ${n} elements, more than the ${storage.length - t.offset} its storage holds from its offset.`, { file, path: tensor });
  }
  const out = new Float32Array(n);
  let contiguous = true;
  for (let i = t.shape.length - 1, expect = 1; i >= 0; i--) {
    if (t.shape[i]! !== 1 && t.stride[i] !== expect) contiguous = false;
    expect *= t.shape[i]!;
  }
  if (contiguous) {
    out.set(storage.subarray(t.offset, t.offset + n));
    return out;
  }
  const idx = new Array<number>(t.shape.length).fill(0); // odometer over the shape
  let src = t.offset;
  for (let k = 0; k < n; k++) {
    out[k] = storage[src]!;
    for (let d = t.shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < t.shape[d]!) {
        src += t.stride[d]!;
        break;
      }
      src -= (t.shape[d]! - 1) * t.stride[d]!;
      idx[d] = 0;
    }
  }
  return out;
}
