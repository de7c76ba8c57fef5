import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pythonFloatString, rintHalfEven, STSB_LABEL_LIST, stsbTarget } from './stsb.js';

test('compat = DePT str(np.round((label*5)/5, 1)) on the float32 label', () => {
  // Expected strings from numpy 2.1.3: str(np.round((float(np.float32(x)) * 5) / 5, decimals=1)).
  // The same JS code matches all 258 distinct scores of glue/STS-B/{train,dev}.tsv (checked once).
  const cases: Array<[number, string]> = [
    [5, '5.0'],
    [0, '0.0'],
    [3.8, '3.8'],
    [4.75, '4.8'], // 47.5 → 48 (half to even)
    [3.75, '3.8'], // 37.5 → 38
    [1.25, '1.2'], // 12.5 → 12
    [0.25, '0.2'], // 2.5 → 2
    [0.85, '0.9'], // float32 0.85 = 0.85000002… (float64 0.85 would give "0.8")
    [0.067, '0.1'],
    [0.333, '0.3'],
    [2.5, '2.5'],
    [3.1, '3.1'],
  ];
  for (const [x, want] of cases) assert.equal(stsbTarget(x), want, `label ${x}`);
});

test('fixed = T5 tf.round(label*5)/5 in float32, one decimal', () => {
  // Expected strings from numpy float32: '%.1f' % (np.rint(np.float32(x) * np.float32(5)) / np.float32(5))
  const cases: Array<[number, string]> = [
    [3.75, '3.8'],
    [3.7, '3.6'],
    [2.5, '2.4'], // 12.5 → 12, ties to even
    [0.1, '0.0'], // float32 0.1·5 rounds to exactly 0.5 → 0
    [3.1, '3.2'], // float32 3.1·5 rounds to exactly 15.5 → 16
    [1.7, '1.6'],
    [5, '5.0'],
    [0.85, '0.8'],
  ];
  for (const [x, want] of cases) assert.equal(stsbTarget(x, 'fixed'), want, `label ${x}`);
});

test('helpers', () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, 2.4, 2.6].map(rintHalfEven), [0, 2, 2, -0, 2, 3]);
  assert.deepEqual([3.8, 5, -0, 0.1].map(pythonFloatString), ['3.8', '5.0', '-0.0', '0.1']);
  assert.equal(STSB_LABEL_LIST.length, 26);
  assert.deepEqual([STSB_LABEL_LIST[0], STSB_LABEL_LIST[1], STSB_LABEL_LIST[19], STSB_LABEL_LIST[25]], ['0.0', '0.2', '3.8', '5.0']);
});
