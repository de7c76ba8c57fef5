/**
 * Child process of binding.fuzz.test.ts: calls every binding function with arguments drawn from a hostile pool
 * (fractional, NaN, huge and negative numbers; short, empty, shared and mistyped arrays; junk dims objects), a
 * seeded stream of `runs` calls. Throwing is fine; the parent only checks that this process exits normally.
 */
import fc from 'fast-check';
import { nativeEngine } from '../../src/engine/native.js';

const n = nativeEngine() as unknown as Record<string, (...args: unknown[]) => unknown>;
const SKIP = new Set(['watchSignals', 'setThreads']); // signal handlers; thread counts are tested on their own
const fns = Object.keys(n).filter((k) => typeof n[k] === 'function' && !SKIP.has(k)).sort();
const nums = [-1, 0, 1, 2, 3, 4, 7, 8, 16, 64, 1.5, 1.9, NaN, Infinity, -Infinity, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 31), 1e308, -0];
const num = fc.constantFrom(...nums);
const len = fc.constantFrom(0, 1, 3, 4, 16, 64, 256);
const array = fc.oneof(
  len.map((k) => new Float32Array(k)), len.map((k) => new Uint16Array(k)), len.map((k) => new Int32Array(k).fill(k - 1)),
  len.map((k) => new Uint8Array(k)), len.map((k) => new Float64Array(k)), len.map((k) => new Float32Array(new SharedArrayBuffer(4 * k))),
  len.map((k) => new Float32Array(k + 8).subarray(8)),
);
const dims = fc.record({
  B: num, NH: num, NKV: num, Tq: num, Tk: num, HS: num, qRow: num, kRow: num, vRow: num, qBatch: num, kBatch: num, vBatch: num,
  causal: fc.boolean(), scale: num, dropP: num, dropSeed: num,
}, { requiredKeys: [] });
const arg = fc.oneof({ weight: 4, arbitrary: num }, { weight: 4, arbitrary: array }, { weight: 1, arbitrary: dims },
  { weight: 1, arbitrary: fc.constantFrom(null, undefined, true, 'x', {}, [], () => 0) });
const call = fc.record({ fn: fc.constantFrom(...fns), args: fc.array(arg, { maxLength: 14 }) });

const runs = Number(process.argv[2] ?? 200), seed = Number(process.argv[3] ?? 1);
const handles: unknown[] = [];
let threw = 0, returned = 0;
for (const c of fc.sample(call, { numRuns: runs, seed })) {
  // give weight handles a chance: replace argument 0 by a real handle sometimes
  if (c.fn.startsWith('bf16Weight') || c.fn === 'bf16Matmul') if (handles.length > 0 && c.args.length > 0 && seed % 2 === 0) c.args[0] = handles[0];
  if (process.env['FUZZ_TRACE'] !== undefined) console.error(c.fn, c.args.map((a) => (ArrayBuffer.isView(a) ? `${a.constructor.name}(${(a as Float32Array).length})` : typeof a === 'object' && a !== null ? JSON.stringify(a) : String(a))).join(', '));
  try {
    const r = n[c.fn]!(...c.args);
    if (c.fn === 'bf16WeightCreate' && r !== undefined) handles.push(r);
    returned++;
  } catch {
    threw++;
  }
}
console.log(JSON.stringify({ calls: runs, threw, returned, functions: fns.length }));
