import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SoftpromptError } from '../errors.js';
import { PyDict, PyTuple, unpickle, type PyValue, type UnpickleOptions } from './unpickle.js';

// Pickles written by CPython 3.11 `pickle.dumps` (an independent encoder), as hex.
// {'a': [1, -2, 300, 70000, -70000, 3.5, True, False, None, 'é€', (1, 2), 2**70, -2**63], 'b': ()}, protocol 2
const PY_P2 =
  '80027d71002858010000006171015d7102284b014afeffffff4d2c014a701101004a90eefeff47400c00000000000088894e5805000000c3a9e282ac71034b014b028671048a090000000000000000408a08000000000000008065580100000062710529752e';
// the same dict plus b'xy' after 'é€', protocol 4 (FRAME, SHORT_BINUNICODE, MEMOIZE, SHORT_BINBYTES)
const PY_P4 =
  '8004955a000000000000007d94288c0161945d94284b014afeffffff4d2c014a701101004a90eefeff47400c00000000000088894e8c05c3a9e282ac9443027879944b014b0286948a090000000000000000408a080000000000000080658c01629429752e';
// OrderedDict([('x', 1), ('y', [2])]), protocol 2 (GLOBAL + REDUCE) and protocol 4 (STACK_GLOBAL)
const PY_OD2 = '800263636f6c6c656374696f6e730a4f726465726564446963740a7100295271012858010000007871024b0158010000007971035d71044b0261752e';
const PY_OD4 = '80049533000000000000008c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c0178944b018c0179945d944b0261752e';
// class E: __reduce__ = lambda self: (os.system, ('echo pwned',)), protocols 2 and 4 (os.system pickles as posix.system)
const PY_EVIL2 = '800263706f7369780a73797374656d0a7100580a0000006563686f2070776e656471018571025271032e';
const PY_EVIL4 = '80049525000000000000008c05706f736978948c0673797374656d9493948c0a6563686f2070776e656494859452942e';
// {'a': b'xy'} at protocol 2 goes through _codecs.encode: a real, harmless global that is still not allow-listed
const PY_BYTES_P2 = '80027d71005801000000617101635f636f646563730a656e636f64650a710258020000007879710358060000006c6174696e317104867105527106732e';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

const ORDERED_DICT: UnpickleOptions['callables'] = new Map([['collections.OrderedDict', () => new PyDict()]]);
const opts = (callables: UnpickleOptions['callables'] = ORDERED_DICT): UnpickleOptions => ({ file: 'test.bin', entry: 'archive/data.pkl', callables, references: new Set() });

/** Plain JS view of a PyValue for deep comparison. */
function plain(v: PyValue): unknown {
  if (v instanceof PyDict) return Object.fromEntries([...v.map].map(([k, x]) => [String(k), plain(x)]));
  if (v instanceof PyTuple) return { tuple: v.items.map(plain) };
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

function expectUnsafe(bytes: Uint8Array, ...mustMention: string[]): SoftpromptError {
  let caught: unknown;
  try {
    unpickle(bytes, opts());
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof SoftpromptError, `expected a SoftpromptError, got ${String(caught)}`);
  assert.equal(caught.code, 'unsafe_pickle', caught.message);
  for (const s of ['test.bin', ...mustMention]) assert.ok(caught.message.includes(s), `message should mention ${JSON.stringify(s)}: ${caught.message}`);
  return caught;
}

describe('unpickle: data', () => {
  const expected = (withBytes: boolean): unknown => ({
    a: [1, -2, 300, 70000, -70000, 3.5, true, false, null, 'é€', ...(withBytes ? [Uint8Array.from([0x78, 0x79])] : []), { tuple: [1, 2] }, 2n ** 70n, -(2n ** 63n)],
    b: { tuple: [] },
  });

  it('decodes CPython protocol 2 and protocol 4 pickles', () => {
    assert.deepEqual(plain(unpickle(hex(PY_P2), opts())), expected(false));
    assert.deepEqual(plain(unpickle(hex(PY_P4), opts())), expected(true));
  });

  it('builds an OrderedDict only through the allow-listed callable, keeping order', () => {
    for (const p of [PY_OD2, PY_OD4]) {
      const v = unpickle(hex(p), opts());
      assert.ok(v instanceof PyDict);
      assert.deepEqual([...v.map.keys()], ['x', 'y']);
      assert.deepEqual(plain(v), { x: 1, y: [2] });
    }
  });

  it('rejects truncated and garbage pickles as malformed', () => {
    const cut = hex(PY_P2).subarray(0, 40);
    assert.throws(() => unpickle(cut, opts()), (e: unknown) => e instanceof SoftpromptError && e.code === 'malformed_file' && e.message.includes('archive/data.pkl in test.bin'));
    assert.throws(() => unpickle(Uint8Array.from([0x80, 0x02, 0xff, 0x2e]), opts()), (e: unknown) => e instanceof SoftpromptError && e.code === 'malformed_file' && e.message.includes('unknown opcode 0xff'));
  });
});

describe('unpickle: refuses code execution', () => {
  it('refuses os.system (posix.system) from CPython pickles, by GLOBAL and by STACK_GLOBAL', () => {
    const e = expectUnsafe(hex(PY_EVIL2), '"posix.system"', 'not on the allow-list');
    assert.equal(e.path, 'posix.system');
    expectUnsafe(hex(PY_EVIL4), '"posix.system"');
  });

  it('refuses a harmless-looking global that is not allow-listed (_codecs.encode)', () => {
    expectUnsafe(hex(PY_BYTES_P2), '"_codecs.encode"');
  });

  it('refuses os.system, builtins.eval, subprocess.Popen by hand-built GLOBAL + REDUCE', () => {
    for (const [mod, name] of [['os', 'system'], ['builtins', 'eval'], ['builtins', 'exec'], ['subprocess', 'Popen'], ['torch', 'load']]) {
      const pkl = Buffer.concat([Buffer.from([0x80, 0x02, 0x63]), Buffer.from(`${mod}\n${name}\n`), Buffer.from([0x8c, 4]), Buffer.from('true'), Buffer.from([0x85, 0x52, 0x2e])]);
      expectUnsafe(pkl, `"${mod}.${name}"`);
    }
  });

  it('refuses object-creating opcodes (INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT1)', () => {
    expectUnsafe(Buffer.concat([Buffer.from([0x80, 0x02, 0x28, 0x69]), Buffer.from('os\nsystem\n'), Buffer.from('.')]), 'INST');
    expectUnsafe(Buffer.from([0x80, 0x02, 0x28, 0x4e, 0x6f, 0x2e]), 'OBJ');
    expectUnsafe(Buffer.from([0x80, 0x02, 0x4e, 0x29, 0x81, 0x2e]), 'NEWOBJ');
    expectUnsafe(Buffer.from([0x80, 0x04, 0x4e, 0x29, 0x7d, 0x92, 0x2e]), 'NEWOBJ_EX');
    expectUnsafe(Buffer.from([0x80, 0x02, 0x82, 0x01, 0x2e]), 'EXT1');
  });

  it('refuses REDUCE on a referenced-only global and on a non-global, and BUILD on a non-dict', () => {
    const refOnly: UnpickleOptions = { ...opts(), references: new Set(['torch.FloatStorage']) };
    const callStorage = Buffer.concat([Buffer.from([0x80, 0x02, 0x63]), Buffer.from('torch\nFloatStorage\n'), Buffer.from([0x29, 0x52, 0x2e])]);
    assert.throws(() => unpickle(callStorage, refOnly), (e: unknown) => e instanceof SoftpromptError && e.code === 'unsafe_pickle' && e.message.includes('"torch.FloatStorage"'));
    expectUnsafe(Buffer.from([0x80, 0x02, 0x8c, 0x01, 0x78, 0x29, 0x52, 0x2e]), 'not an allow-listed global'); // 'x'()
    expectUnsafe(Buffer.from([0x80, 0x02, 0x5d, 0x7d, 0x62, 0x2e]), 'BUILD');
  });
});

describe('unpickle: large inputs (issue 10)', () => {
  it('APPENDS of 130,000 items builds the list (no stack overflow from push(...items))', () => {
    const n = 130_000;
    const items = Buffer.alloc(n, 'N'); // NONE, n times, between MARK and APPENDS
    const pkl = Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from(']('), items, Buffer.from('e.')]);
    const v = unpickle(Uint8Array.from(pkl), opts());
    assert.ok(Array.isArray(v));
    assert.equal(v.length, n);
    assert.equal(v[n - 1], null);
  });
});
