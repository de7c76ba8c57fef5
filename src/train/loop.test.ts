import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import { latestCheckpoint, listCheckpoints, loadCheckpoint } from './checkpoint.js';
import { trainLoop, type TrainBatch, type TrainLoopOptions } from './loop.js';
import { readMetrics } from './metrics-log.js';
import { makeParam, type Param } from './params.js';
import type { Rng } from './rng.js';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'sp-loop-'));

/**
 * Toy problem: a "prompt" x (C=6) and a "low-rank" y (C=3) fit per-example targets. Example i has target
 * t_i[j] = 1.5 + 0.5·sin(i + j); loss = mean over the batch of 0.5·||x − t_i||² + 0.5·||y − t_i[:3]||², with an inverted-dropout
 * mask drawn from the step Rng (so restoring the Rng matters). Gradients are exact.
 */
const N = 10;
const target = (i: number, j: number): number => 1.5 + 0.5 * Math.sin(i + j);

function makeParams(): Param[] {
  return [makeParam('x', 'prompt', [2, 3]), makeParam('y', 'lora', [3], [1, 1, 1])];
}

function computeLossAndGrads(params: Param[]) {
  return (rng: Rng, batch: TrainBatch): { loss: number; tokens: number } => {
    let loss = 0;
    const scale = 1 / batch.indices.length;
    for (const i of batch.indices) {
      for (const p of params) {
        for (let j = 0; j < p.data.length; j++) {
          const keep = rng.nextFloat() < 0.9 ? 1 / 0.9 : 0; // dropout on the residual
          const r = (p.data[j]! - target(i, j)) * keep;
          loss += 0.5 * r * r * scale;
          p.grad[j]! += r * keep * scale;
        }
      }
    }
    return { loss, tokens: 7 * batch.indices.length };
  };
}

/** Greater is better: minus the distance of x to the mean target. */
function evaluate(params: Param[]) {
  return (): Record<string, number> => {
    let d = 0;
    const x = params[0]!;
    for (let j = 0; j < x.data.length; j++) {
      let mean = 0;
      for (let i = 0; i < N; i++) mean += target(i, j) / N;
      d += (x.data[j]! - mean) ** 2;
    }
    return { score: -Math.sqrt(d), distance: Math.sqrt(d) };
  };
}

function options(params: Param[], runDir: string, over: Partial<TrainLoopOptions> = {}): TrainLoopOptions {
  return {
    params,
    groups: [
      { name: 'prompt', lr: 0.1, weightDecay: 0 },
      { name: 'lora', lr: 0.05, weightDecay: 0.01 },
    ],
    steps: 40,
    warmupSteps: 5,
    maxGradNorm: 1.0,
    numExamples: N,
    batchSize: 4,
    evalEvery: 10,
    saveEvery: 10,
    keep: 2,
    runDir,
    seed: 42,
    resume: false,
    computeLossAndGrads: computeLossAndGrads(params),
    evaluate: evaluate(params),
    primaryMetric: 'score',
    quiet: true,
    log: () => {},
    ...over,
  };
}

const lossCurve = (dir: string): [number, number][] =>
  readMetrics(path.join(dir, 'metrics.jsonl'))
    .filter((r) => r.loss !== undefined)
    .map((r) => [r.step, r.loss!]);
const evalCurve = (dir: string): [number, number][] =>
  readMetrics(path.join(dir, 'metrics.jsonl'))
    .filter((r) => r.eval !== undefined)
    .map((r) => [r.step, r.eval!.score!]);
const bits = (params: Param[]): number[] => params.flatMap((p) => [...new Uint32Array(p.data.buffer)]);

test('loss decreases; metrics.jsonl, curves and checkpoints are written', () => {
  const dir = tmp();
  const params = makeParams();
  const lines: string[] = [];
  const res = trainLoop(options(params, dir, { steps: 60, log: (l) => lines.push(l) }));
  assert.equal(res.step, 60);
  const curve = lossCurve(dir);
  assert.equal(curve.length, 60);
  const head = curve.slice(0, 5).reduce((a, [, l]) => a + l, 0) / 5;
  const tail = curve.slice(-5).reduce((a, [, l]) => a + l, 0) / 5;
  assert.ok(tail < head * 0.6, `loss ${head} → ${tail}`);

  const recs = readMetrics(path.join(dir, 'metrics.jsonl'));
  const first = recs[0]!;
  assert.deepEqual(first.lr, { prompt: 0, lora: 0 }); // warmup: the 1st update runs at lrFactor(0) = 0
  assert.deepEqual(recs[5]!.lr, { prompt: 0.1, lora: 0.05 });
  assert.equal(typeof first.grad_norm, 'number');
  assert.equal(first.tokens, 28);
  assert.equal(recs.filter((r) => r.eval !== undefined).length, 6);
  for (const f of ['loss.svg', 'eval.svg']) assert.match(fs.readFileSync(path.join(dir, f), 'utf8'), /^<svg /);
  // keep=2 newest plus the best
  const kept = listCheckpoints(dir).map((c) => c.step);
  assert.ok(kept.includes(60) && kept.includes(50) && kept.includes(res.bestStep!), `kept ${kept}`);
  assert.ok(kept.length <= 3);
  assert.ok(lines.some((l) => l.startsWith('eval step 10: score')));
});

test('stop at step k, resume to N: bit-identical to an uninterrupted N-step run', () => {
  const dirA = tmp();
  const a = makeParams();
  const resA = trainLoop(options(a, dirA));

  const dirB = tmp();
  const b1 = makeParams();
  const part = trainLoop(options(b1, dirB, { stopAtStep: 17 }));
  assert.equal(part.step, 17);
  assert.equal(part.interrupted, true);
  assert.equal(latestCheckpoint(dirB), path.join(dirB, 'checkpoint-17'));

  const b2 = makeParams(); // a fresh process: nothing carried over but the run folder
  const resB = trainLoop(options(b2, dirB, { resume: true }));
  assert.equal(resB.resumedFrom, 17);
  assert.deepEqual(bits(b2), bits(a));
  assert.equal(resB.lastLoss, resA.lastLoss);
  assert.deepEqual(lossCurve(dirB), lossCurve(dirA));
  assert.deepEqual(evalCurve(dirB), evalCurve(dirA));
  assert.equal(resB.bestStep, resA.bestStep);
  assert.equal(resB.bestMetric, resA.bestMetric);
  const ckA = loadCheckpoint(path.join(dirA, 'checkpoint-40'));
  const ckB = loadCheckpoint(path.join(dirB, 'checkpoint-40'));
  assert.deepEqual(ckB.optimizerState, ckA.optimizerState);
  assert.deepEqual(ckB.state.rngState, ckA.state.rngState);
  assert.deepEqual(ckB.state.dataCursor, ckA.state.dataCursor);
});

test('group by length: batches of similar lengths, longest first; stop + resume = uninterrupted, batch for batch', () => {
  const lengths = Array.from({ length: 40 }, (_, i) => 1 + ((i * 7919) % 23)); // 1..23, scattered
  const run = (params: Param[], dir: string, over: Partial<TrainLoopOptions>) => {
    const seen: number[][] = [];
    const inner = computeLossAndGrads(params);
    const res = trainLoop(options(params, dir, {
      numExamples: 40, lengths, steps: 25, evalEvery: 0, saveEvery: 0, ...over,
      computeLossAndGrads: (rng, batch) => { seen.push([...batch.indices]); return inner(rng, batch); },
    }));
    return { res, seen };
  };
  const a = makeParams(), dirA = tmp();
  const full = run(a, dirA, {});
  assert.equal(lengths[full.seen[0]![0]!], Math.max(...lengths), 'the longest example is in the first batch');
  // within each megabatch (min(50, 40 / 16) = 2 batches of 4) lengths fall; a plain shuffle rarely does
  for (let m = 0; m < 5; m++) {
    const mb = [...full.seen[2 * m]!, ...full.seen[2 * m + 1]!].map((i) => lengths[i]!);
    for (let k = 2; k < mb.length; k++) assert.ok(mb[k]! <= mb[k - 1]!, `megabatch ${m}: ${mb}`);
  }
  const plain = run(makeParams(), tmp(), { lengths: undefined });
  assert.notDeepEqual(plain.seen, full.seen);
  assert.deepEqual(plain.seen.slice(0, 10).flat().sort((x, y) => x - y), full.seen.slice(0, 10).flat().sort((x, y) => x - y),
    'an epoch visits the same examples, in another order');
  const isCode = (c: string) => (e: unknown) => e instanceof SoftpromptError && e.code === c;

  const dirB = tmp(), b1 = makeParams();
  const part = run(b1, dirB, { stopAtStep: 13 });
  const b2 = makeParams();
  const rest = run(b2, dirB, { resume: true });
  assert.equal(rest.res.resumedFrom, 13);
  assert.deepEqual([...part.seen, ...rest.seen], full.seen);
  assert.deepEqual(bits(b2), bits(a));
  assert.deepEqual(lossCurve(dirB), lossCurve(dirA));
  // resuming without grouping (or the other way round) is refused, not silently reordered
  assert.throws(() => run(makeParams(), dirB, { resume: true, lengths: undefined, steps: 30 }), isCode('invalid_config'));
});

test('a crash between checkpoints resumes from the last one, still bit-identical', () => {
  const dirA = tmp();
  const a = makeParams();
  trainLoop(options(a, dirA));

  const dirC = tmp();
  const c1 = makeParams();
  const inner = computeLossAndGrads(c1);
  assert.throws(
    () =>
      trainLoop(
        options(c1, dirC, {
          computeLossAndGrads: (rng, batch) => {
            if (batch.step === 23) throw new Error('killed');
            return inner(rng, batch);
          },
        }),
      ),
    /killed/,
  );
  assert.equal(latestCheckpoint(dirC), path.join(dirC, 'checkpoint-20'));
  assert.equal(lossCurve(dirC).length, 22); // steps 21, 22 were logged past the checkpoint…
  const c2 = makeParams();
  trainLoop(options(c2, dirC, { resume: true }));
  assert.deepEqual(lossCurve(dirC), lossCurve(dirA)); // …and trimmed on resume
  assert.deepEqual(bits(c2), bits(a));
});

test('NaN loss throws non_finite_loss and leaves the last checkpoint loadable', () => {
  const dir = tmp();
  const params = makeParams();
  const inner = computeLossAndGrads(params);
  const run = (): unknown =>
    trainLoop(
      options(params, dir, {
        saveEvery: 5,
        computeLossAndGrads: (rng, batch) => (batch.step === 13 ? { loss: NaN, tokens: 1 } : inner(rng, batch)),
      }),
    );
  assert.throws(run, (e: unknown) => {
    assert.ok(e instanceof SoftpromptError);
    assert.equal(e.code, 'non_finite_loss');
    assert.match(e.message, /loss is NaN at step 13/);
    assert.ok(e.message.includes(path.join(dir, 'checkpoint-10')), e.message);
    return true;
  });
  const ck = loadCheckpoint(latestCheckpoint(dir)!);
  assert.equal(ck.state.step, 10);
  assert.ok(fs.existsSync(path.join(dir, 'loss.svg'))); // curves written on the way out
});

test('early stopping keeps the best checkpoint and calls onBest; loadBestAtEnd restores it', () => {
  const dir = tmp();
  const params = makeParams();
  const best: number[] = [];
  const scores = [0.5, 0.7, 0.6, 0.65, 0.9];
  let k = 0;
  const res = trainLoop(
    options(params, dir, {
      evalEvery: 5,
      saveEvery: 0,
      patience: 2,
      keep: 1,
      evaluate: () => ({ score: scores[k++]! }),
      onBest: (step) => best.push(step),
      loadBestAtEnd: true,
    }),
  );
  assert.equal(res.stoppedEarly, true);
  assert.equal(res.step, 20); // evals at 5 (best), 10 (best), 15, 20 → 2 without improvement
  assert.deepEqual(best, [5, 10]);
  assert.equal(res.bestStep, 10);
  assert.equal(res.bestMetric, 0.7);
  assert.deepEqual(listCheckpoints(dir).map((c) => c.step), [10, 20]);
  const saved = loadCheckpoint(path.join(dir, 'checkpoint-10'));
  assert.deepEqual(params[0]!.data, saved.params['x']!.data);
  assert.ok(readMetrics(path.join(dir, 'metrics.jsonl')).some((r) => r.event === 'early_stop'));
});

test('config errors: fresh run over old checkpoints, missing metric, resume with other data', () => {
  const dir = tmp();
  trainLoop(options(makeParams(), dir, { steps: 10 }));
  const isCode = (c: string) => (e: unknown) => e instanceof SoftpromptError && e.code === c;
  assert.throws(() => trainLoop(options(makeParams(), dir, { steps: 10 })), isCode('invalid_config'));
  assert.throws(() => trainLoop(options(makeParams(), dir, { steps: 20, resume: true, numExamples: 11 })), isCode('invalid_config'));
  assert.throws(() => trainLoop(options(makeParams(), tmp(), { primaryMetric: 'accuracy' })), /returned no "accuracy"/);
  assert.throws(() => trainLoop(options(makeParams(), tmp(), { evaluate: undefined })), isCode('invalid_config'));
  assert.throws(() => trainLoop(options(makeParams(), tmp(), { steps: -1 })), isCode('invalid_config'));
  // resume: true with nothing to resume starts fresh
  const res = trainLoop(options(makeParams(), tmp(), { steps: 3, resume: true, evalEvery: 0 }));
  assert.equal(res.resumedFrom, 0);
  assert.equal(res.step, 3);
});

test('saveEveryMinutes checkpoints by wall clock (fake clock: 40 s per step → every 3rd step at 2 minutes)', () => {
  const params = makeParams();
  const dir = tmp();
  let clock = 0; // step k ends at k·40 s
  const inner = computeLossAndGrads(params);
  trainLoop(options(params, dir, {
    steps: 7, saveEvery: 0, evalEvery: 0, saveEveryMinutes: 2, keep: 10, now: () => clock,
    computeLossAndGrads: (rng, batch) => { clock = batch.step * 40_000; return inner(rng, batch); },
  }));
  const steps = listCheckpoints(dir).map((c) => c.step);
  assert.deepEqual(steps, [3, 6, 7]);
});

test('interruptible: a caught SIGINT saves the current step and stops with signal set', () => {
  const params = makeParams();
  const dir = tmp();
  const inner = computeLossAndGrads(params);
  const r = trainLoop(options(params, dir, {
    steps: 50, saveEvery: 0, evalEvery: 0, interruptible: true, resumeHint: 'again --resume',
    computeLossAndGrads: (rng, batch) => {
      if (batch.step === 4) process.kill(process.pid, 'SIGINT');
      return inner(rng, batch);
    },
  }));
  assert.equal(r.signal, 'SIGINT');
  assert.equal(r.interrupted, true);
  assert.equal(r.step, 4);
  assert.equal(latestCheckpoint(dir), path.join(dir, 'checkpoint-4'));
});
