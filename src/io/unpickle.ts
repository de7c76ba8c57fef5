/**
 * A restricted unpickler: it builds plain data (None, bools, ints, floats, str, bytes, tuples, lists, dicts) and
 * nothing else. A GLOBAL is resolved only if the caller allow-lists it, and REDUCE calls only the caller's own
 * TypeScript functions for those names. Everything that could instantiate arbitrary Python objects (a GLOBAL
 * outside the list, INST, OBJ, NEWOBJ, EXT*, BUILD on anything but a dict) is refused with `unsafe_pickle`
 * before anything happens. Nothing is ever executed.
 *
 * Opcodes: protocols 0–5 as torch.save writes them (protocol 2), plus the protocol 3–5 binary forms.
 * Opcode reference: CPython Lib/pickletools.py.
 */

import { SoftpromptError } from '../errors.js';

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A `module.name` reference that passed the allow-list. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** dict and collections.OrderedDict (insertion order kept). */
export class PyDict {
  readonly map = new Map<PyValue, PyValue>();
}

/** Values built by the caller's allow-listed functions (torch storages and tensors). */
export interface PyOpaque {
  readonly opaque: string;
}

export type PyValue = null | boolean | number | bigint | string | Uint8Array | PyValue[] | PyTuple | PyDict | PyGlobal | PyOpaque;

export interface UnpickleOptions {
  /** Names used in messages: the archive, and the pickle inside it. */
  file: string;
  entry: string;
  /** `module.name` → what REDUCE(global, args) returns. */
  callables: ReadonlyMap<string, (args: PyValue[]) => PyValue>;
  /** `module.name` globals allowed as plain references (never called), e.g. torch.FloatStorage. */
  references: ReadonlySet<string>;
  /** BINPERSID: resolves a persistent id (torch: ('storage', type, key, location, numel)). */
  persistentLoad?: (pid: PyValue) => PyValue;
}

/** Opcodes that create arbitrary objects: refused as unsafe. */
const UNSAFE_OPS: Readonly<Record<number, string>> = {
  0x69: 'INST',
  0x6f: 'OBJ',
  0x81: 'NEWOBJ',
  0x92: 'NEWOBJ_EX',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
};

/** Valid opcodes this reader does not implement (text-mode protocol 0 forms, sets, out-of-band buffers). */
const UNSUPPORTED_OPS: Readonly<Record<number, string>> = {
  0x46: 'FLOAT',
  0x49: 'INT',
  0x4c: 'LONG',
  0x50: 'PERSID',
  0x53: 'STRING',
  0x54: 'BINSTRING',
  0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE',
  0x67: 'GET',
  0x70: 'PUT',
  0x8b: 'LONG4',
  0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS',
  0x91: 'FROZENSET',
  0x96: 'BYTEARRAY8',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function unpickle(bytes: Uint8Array, opts: UnpickleOptions): PyValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const where = `${opts.entry} in ${opts.file}`;
  let pos = 0;
  let at = 0; // start of the current opcode
  let stack: PyValue[] = [];
  const metastack: PyValue[][] = [];
  const memo = new Map<number, PyValue>();

  const malformed = (what: string): SoftpromptError =>
    new SoftpromptError('malformed_file', `Malformed pickle ${where}: ${what} at byte ${pos}.`, { file: opts.file, path: opts.entry });
  const unsafe = (what: string, name: string): SoftpromptError =>
    new SoftpromptError('unsafe_pickle', `Refusing to load ${opts.file}: ${opts.entry} ${what} at byte ${at}. Unpickling it with torch.load could run code; nothing was executed. Allowed globals: ${[...opts.callables.keys(), ...opts.references].join(', ')}.`, {
      file: opts.file,
      path: name,
      hint: 'only load adapters from sources you trust; prefer adapter_model.safetensors.',
    });

  const need = (n: number): void => {
    if (pos + n > bytes.byteLength) throw malformed(`truncated (need ${n} more bytes)`);
  };
  const u8 = (): number => {
    need(1);
    return bytes[pos++]!;
  };
  const u16 = (): number => {
    need(2);
    pos += 2;
    return view.getUint16(pos - 2, true);
  };
  const u32 = (): number => {
    need(4);
    pos += 4;
    return view.getUint32(pos - 4, true);
  };
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(bytes.byteLength)) throw malformed(`length ${v} exceeds the pickle`);
    return Number(v);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    pos += n;
    return bytes.subarray(pos - n, pos);
  };
  const text = (n: number): string => {
    try {
      return utf8.decode(take(n));
    } catch {
      throw malformed('invalid UTF-8 string');
    }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw malformed('unterminated GLOBAL line');
    const s = text(end - pos);
    pos++; // the newline
    return s;
  };
  const pop = (): PyValue => {
    if (stack.length === 0) throw malformed('stack underflow');
    return stack.pop()!;
  };
  const top = (): PyValue => {
    if (stack.length === 0) throw malformed('stack underflow');
    return stack[stack.length - 1]!;
  };
  const popMark = (): PyValue[] => {
    const items = stack;
    const prev = metastack.pop();
    if (prev === undefined) throw malformed('no MARK to pop to');
    stack = prev;
    return items;
  };
  const resolveGlobal = (module: string, name: string): PyGlobal => {
    const q = `${module}.${name}`;
    if (!opts.callables.has(q) && !opts.references.has(q)) throw unsafe(`asks for the global "${q}", which is not on the allow-list`, q);
    return new PyGlobal(module, name);
  };
  const setItems = (dict: PyValue, items: PyValue[]): void => {
    if (!(dict instanceof PyDict)) throw malformed('SETITEM(S) on a non-dict');
    if (items.length % 2 !== 0) throw malformed('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) dict.map.set(items[i]!, items[i + 1]!);
  };
  const append = (list: PyValue, items: PyValue[]): void => {
    if (!Array.isArray(list)) throw malformed('APPEND(S) on a non-list');
    for (const x of items) list.push(x); // not push(...items): a 130k-item APPENDS would overflow the stack
  };
  const getMemo = (i: number): PyValue => {
    if (!memo.has(i)) throw malformed(`memo key ${i} was never stored`);
    return memo.get(i)!;
  };
  const int = (v: bigint): number | bigint => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);

  for (;;) {
    at = pos;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw malformed('pickle protocol above 5');
        break;
      case 0x95: // FRAME (length only; the frame's bytes follow inline)
        take(8);
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || metastack.length !== 0) throw malformed(`STOP with ${stack.length} values on the stack`);
        return stack[0]!;
      case 0x28: // MARK
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT (signed)
        need(4);
        stack.push(view.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: {
        // LONG1: n-byte little-endian two's complement
        const b = take(u8());
        let v = 0n;
        for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
        if (b.length > 0 && b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
        stack.push(int(v));
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x42: // BINBYTES
        stack.push(Uint8Array.from(take(u32())));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(Uint8Array.from(take(u8())));
        break;
      case 0x8e: // BINBYTES8
        stack.push(Uint8Array.from(take(u64())));
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x74: {
        // TUPLE (popMark first: it swaps `stack`)
        const items = popMark();
        stack.push(new PyTuple(items));
        break;
      }
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const n = op - 0x84;
        if (stack.length < n) throw malformed('stack underflow');
        stack.push(new PyTuple(stack.splice(stack.length - n, n)));
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: {
        // LIST
        const items = popMark();
        stack.push(items);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        append(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x64: {
        // DICT
        const d = new PyDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
        stack.push(getMemo(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(getMemo(u32()));
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw malformed('STACK_GLOBAL without two strings');
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (opts.persistentLoad === undefined) throw malformed('persistent id without a persistent loader');
        stack.push(opts.persistentLoad(pid));
        break;
      }
      case 0x52: {
        // REDUCE: callable(*args), callable from the allow-list only
        const args = pop();
        const fn = pop();
        if (!(fn instanceof PyGlobal)) throw unsafe('calls something that is not an allow-listed global', 'REDUCE');
        const impl = opts.callables.get(fn.qualified);
        if (impl === undefined) throw unsafe(`calls "${fn.qualified}", which may be referenced but not called`, fn.qualified);
        if (!(args instanceof PyTuple)) throw malformed(`REDUCE of ${fn.qualified} without an argument tuple`);
        stack.push(impl(args.items));
        break;
      }
      case 0x62: {
        // BUILD: only a dict's attribute state (OrderedDict._metadata of a state_dict) is accepted, and dropped
        const state = pop();
        const obj = top();
        if (!(obj instanceof PyDict) || !(state === null || state instanceof PyDict || state instanceof PyTuple)) {
          throw unsafe('sets object state (BUILD) on something other than a dict', 'BUILD');
        }
        break;
      }
      default: {
        if (UNSAFE_OPS[op] !== undefined) throw unsafe(`uses opcode ${UNSAFE_OPS[op]}, which instantiates arbitrary objects`, UNSAFE_OPS[op]);
        if (UNSUPPORTED_OPS[op] !== undefined) {
          throw new SoftpromptError('unsupported', `Pickle ${where} uses opcode ${UNSUPPORTED_OPS[op]} at byte ${at}, which this reader does not implement (torch.save writes protocol 2 binary opcodes).`, { file: opts.file, path: opts.entry });
        }
        throw malformed(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
      }
    }
  }
}
