/** Assert that a resumed run ended exactly where an uninterrupted one did: params, last loss, per-step log. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readMetrics } from '../src/train/metrics-log.js';
import type { TrainRunResult } from '../src/train/run.js';

export function assertSameRun(full: TrainRunResult, resumed: TrainRunResult): void {
  assert.equal(resumed.lastLoss, full.lastLoss);
  const pa = full.trained!.params(), pb = resumed.trained!.params();
  for (let i = 0; i < pa.length; i++) assert.deepEqual(pb[i]!.data, pa[i]!.data, `${pa[i]!.name} differs after resume`);
  // same per-step losses and eval results; the resumed log also records the resume event itself
  const records = (dir: string) => readMetrics(join(dir, 'metrics.jsonl')).filter((r) => r['event'] === undefined)
    .map((r) => JSON.stringify([r.step, r.loss, r['eval']]));
  assert.deepEqual(records(resumed.runDir), records(full.runDir));
}
