import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bf16Weight, bf16Available, engine } from '../engine/index.js';
import { SoftpromptError } from '../errors.js';
import { linearBackwardFull, linearForward } from './frozen-weight.js';

test('linearBackwardFull: a bf16 weight gives dinp and dbias like its fp32 widening, and refuses a dweight', { skip: bf16Available() ? false : 'no native bf16 on this CPU' }, () => {
  const e = engine(), N = 5, C = 6, OC = 4;
  const W32 = Float32Array.from({ length: OC * C }, (_, i) => ((i * 7) % 11) / 8 - 0.6);
  const Wb = Bf16Weight.fromF32(W32, OC, C), Wr = Wb.toF32(); // Wr: the bf16 values, exactly
  const dout = Float32Array.from({ length: N * OC }, (_, i) => ((i * 5) % 9) / 4 - 1); // exact in bf16
  const di1 = new Float32Array(N * C), di2 = new Float32Array(N * C), db1 = new Float32Array(OC), db2 = new Float32Array(OC);
  linearBackwardFull(e, di1, null, db1, dout, null, Wb, N, C, OC);
  linearBackwardFull(e, di2, null, db2, dout, null, Wr, N, C, OC);
  // bf16 operands with short significands and at most 6 terms: every sum is exact in fp32, in any order
  assert.deepEqual(di1, di2);
  assert.deepEqual(db1, db2);
  assert.throws(() => linearBackwardFull(e, di1, new Float32Array(OC * C), null, dout, new Float32Array(N * C), Wb, N, C, OC),
    (err: unknown) => err instanceof SoftpromptError && /frozen/.test(err.message));
  const y1 = new Float32Array(N * OC), y2 = new Float32Array(N * OC), x = Float32Array.from({ length: N * C }, (_, i) => (i % 4) / 2);
  const bias = Float32Array.of(0.5, -1, 2, 0);
  linearForward(e, y1, x, Wb, N, C, OC, bias);
  linearForward(e, y2, x, Wr, N, C, OC, bias);
  assert.deepEqual(y1, y2);
});
