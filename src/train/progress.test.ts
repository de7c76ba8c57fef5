import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createProgress, formatDuration, type ProgressStream } from './progress.js';

function sink(isTTY: boolean): { stream: ProgressStream; text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const stream = Object.assign(w, { isTTY, columns: 120 }) as ProgressStream;
  return { stream, text: () => chunks.join('') };
}

test('not a TTY: one plain line every N steps and on the last step', () => {
  const { stream, text } = sink(false);
  let t = 0;
  const p = createProgress({ total: 10, every: 4, stream, now: () => t });
  for (let s = 1; s <= 10; s++) {
    t = s * 1000;
    p.update({ step: s, loss: s, tokensPerSec: 1234.4 });
  }
  p.message('eval step 10: accuracy 0.5');
  p.stop();
  const lines = text().trimEnd().split('\n');
  assert.deepEqual(lines, [
    'step 4/10 | loss 2.5000 | 1234 tok/s | elapsed 0:00:04 | ETA 0:00:06',
    'step 8/10 | loss 6.5000 | 1234 tok/s | elapsed 0:00:08 | ETA 0:00:02',
    'step 10/10 | loss 9.5000 | 1234 tok/s | elapsed 0:00:10 | ETA 0:00:00',
    'eval step 10: accuracy 0.5',
  ]);
});

test('examples/s when there is no token count; resumed runs time only their own steps', () => {
  const { stream, text } = sink(false);
  let t = 0;
  const p = createProgress({ total: 100, startStep: 50, every: 10, stream, now: () => t });
  t = 10_000;
  p.update({ step: 60, loss: 1, examplesPerSec: 3.25 });
  assert.equal(text(), 'step 60/100 | loss 1.0000 | 3.3 ex/s | elapsed 0:00:10 | ETA 0:00:40\n');
});

test('quiet prints nothing', () => {
  const { stream, text } = sink(false);
  const p = createProgress({ total: 3, stream, quiet: true, every: 1 });
  p.update({ step: 1, loss: 1 });
  p.message('x');
  p.stop();
  assert.equal(text(), '');
});

test('a TTY gets a cli-progress bar with step/total, loss and rate', () => {
  const { stream, text } = sink(true);
  const p = createProgress({ total: 20, stream });
  for (let s = 1; s <= 20; s++) p.update({ step: s, loss: 0.5, tokensPerSec: 900 });
  p.stop();
  const out = text();
  assert.match(out, /20\/20/);
  assert.match(out, /loss 0\.5000/);
  assert.match(out, /900 tok\/s/);
  assert.match(out, /ETA/);
  assert.doesNotMatch(out, /^step \d+\/\d+ \|/m); // not the plain format
});

test('formatDuration', () => {
  assert.equal(formatDuration(3_723_000), '1:02:03');
  assert.equal(formatDuration(NaN), '?');
});
