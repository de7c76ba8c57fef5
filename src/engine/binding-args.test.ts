/**
 * JS-reachable arguments that used to crash the process (abort, segfault, V8 fatal error) now throw a RangeError
 * naming the kernel and the argument (issue 10). Each call runs in a child process, so a regression shows up as a
 * failed test with its exit signal instead of killing the test runner.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

const NATIVE = new URL('./native.js', import.meta.url).href;

/** Run `call` (an expression over `n`, the native engine) in a child; its outcome as one line. */
function outcome(call: string): { status: number | null; signal: string | null; out: string } {
  const script = `const { nativeEngine } = await import(${JSON.stringify(NATIVE)}); const n = nativeEngine();
    try { const r = ${call}; console.log('returned ' + (typeof r === 'string' ? r : (r?.length ?? r))); } catch (e) { console.log(e.constructor.name + ': ' + e.message); }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, signal: r.signal, out: `${r.stdout}${r.stderr}`.trim() };
}

describe('native binding: hostile arguments', () => {
  const f32 = (k: number): string => `new Float32Array(${k})`;
  const cases: [name: string, call: string, mention: string][] = [
    ['setThreads(100000)', 'n.setThreads(100000)', 'setThreads: threads must be in [1, 1024]'],
    ['setThreads(0)', 'n.setThreads(0)', 'setThreads: threads must be in [1, 1024]'],
    ['transposeToBf16 with 2^32 × 2^32 (int64 overflow to 0)', `n.transposeToBf16(new Uint16Array(4), ${f32(4)}, 2 ** 32, 2 ** 32)`, 'transposeToBf16: argument 2 must be an integer'],
    ['gemmBf16 with 2^32 dims', `n.gemmBf16(${f32(4)}, new Uint16Array(4), new Uint16Array(4), 2 ** 32, 2 ** 32, 2 ** 32, 2 ** 32, 0)`, 'gemmBf16: argument 3'],
    ['alloc(2^62)', 'n.alloc(2 ** 62)', 'alloc: argument 0'],
    ['alloc(2^31 - 1) (an 8 GiB external buffer was a double free)', 'n.alloc(2 ** 31 - 1)', 'alloc: n must be in [0, 2^30]'],
    ['a fractional count', `n.add(${f32(4)}, ${f32(4)}, ${f32(4)}, 1.9)`, 'add: argument 3 must be an integer'],
    ['a NaN count', `n.add(${f32(4)}, ${f32(4)}, ${f32(4)}, NaN)`, 'add: argument 3 must be an integer'],
    ['dropout p = NaN', `n.dropoutForward(${f32(4)}, new Uint8Array(4), ${f32(4)}, NaN, 1, 4)`, 'dropoutForward: p must be in [0, 1)'],
    ['dropout p = -1', `n.dropoutBackward(${f32(4)}, ${f32(4)}, new Uint8Array(4), -1, 4)`, 'dropoutBackward: p must be in [0, 1)'],
    ['attention dims whose 4-way product overflows int64', `n.attentionForward(${f32(4)}, ${f32(4)}, ${f32(4)}, ${f32(4)}, ${f32(4)}, null, null, { B: 2 ** 30, NH: 2 ** 15, NKV: 2 ** 15, Tq: 2 ** 30, Tk: 2 ** 30, HS: 2 ** 15, qRow: 2 ** 30, kRow: 2 ** 30, vRow: 2 ** 30, qBatch: 0, kBatch: 0, vBatch: 0 })`, 'attentionForward: argument 0 needs -1'],
  ];
  for (const [name, call, mention] of cases) {
    it(`${name}: RangeError, process alive`, () => {
      const r = outcome(call);
      assert.equal(r.signal, null, r.out);
      assert.equal(r.status, 0, r.out);
      assert.ok(r.out.startsWith('RangeError: ') && r.out.includes(mention), r.out);
    });
  }

  it('a Float32Array on a SharedArrayBuffer is read, not a fatal error (and the result is right)', () => {
    const r = outcome('(() => { const o = new Float32Array(new SharedArrayBuffer(16)); n.add(o, Float32Array.of(1, 2, 3, 4), Float32Array.of(10, 20, 30, 40).subarray(0), 4); return [...o].join(","); })()');
    assert.equal(r.status, 0, r.out);
    assert.equal(r.out, 'returned 11,22,33,44');
  });
});

describe('engine: setThreads', () => {
  it('an out-of-range thread count is a usage error naming --threads (CLI exit 2, not a crash)', async () => {
    const { setThreads } = await import('./index.js');
    const { expectError } = await import('../../test/expect-error.js');
    for (const v of [100000, -3, 2.5]) expectError(() => setThreads(v), 'usage', '--threads', String(v));
  });
});
