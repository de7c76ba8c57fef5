import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SoftpromptError } from '../errors.js';
import { AdamW } from './optimizer.js';
import { makeParam, type Param } from './params.js';

const close = (got: number, want: number, tol: number, what: string): void =>
  assert.ok(Math.abs(got - want) <= tol, `${what}: got ${got}, want ${want} (tol ${tol})`);

test('two AdamW steps match the arithmetic written out by hand', () => {
  // lr 0.1, betas (0.9, 0.999), eps 1e-6, wd 0; p0 = 1; g1 = 0.5, g2 = -0.25.
  // Step 1: m = 0.1·0.5 = 0.05;  v = 0.001·0.25 = 0.00025
  //         step_size = 0.1·sqrt(1−0.999)/(1−0.9) = 0.1·0.0316228/0.1 = 0.0316228
  //         denom = sqrt(0.00025) + 1e-6 = 0.0158114 + 0.000001 = 0.0158124
  //         p = 1 − 0.0316228·0.05/0.0158124 = 1 − 0.0999937 = 0.9000063
  // Step 2: m = 0.9·0.05 + 0.1·(−0.25) = 0.045 − 0.025 = 0.02
  //         v = 0.999·0.00025 + 0.001·0.0625 = 0.00024975 + 0.0000625 = 0.00031225
  //         step_size = 0.1·sqrt(1−0.999²)/(1−0.9²) = 0.1·sqrt(0.001999)/0.19 = 0.1·0.0447102/0.19 = 0.0235317
  //         denom = sqrt(0.00031225) + 1e-6 = 0.0176706 + 0.000001 = 0.0176716
  //         p = 0.9000063 − 0.0235317·0.02/0.0176716 = 0.9000063 − 0.0266322 = 0.8733741
  const p = makeParam('w', 'g', [1], [1]);
  const opt = new AdamW([p], [{ name: 'g', lr: 0.1, weightDecay: 0 }]);
  p.grad[0] = 0.5;
  opt.step();
  close(p.data[0]!, 0.9000063, 1e-6, 'p after step 1');
  close(opt.state().expAvg.w![0]!, 0.05, 1e-8, 'm after step 1');
  close(opt.state().expAvgSq.w![0]!, 0.00025, 1e-10, 'v after step 1');
  p.grad[0] = -0.25;
  opt.step();
  close(p.data[0]!, 0.8733741, 1e-6, 'p after step 2');
  close(opt.state().expAvg.w![0]!, 0.02, 1e-8, 'm after step 2');
  close(opt.state().expAvgSq.w![0]!, 0.00031225, 1e-10, 'v after step 2');
  assert.equal(opt.stepCount, 2);
});

test('decoupled weight decay is applied after the Adam update, at the scheduled lr', () => {
  // Step 1 as above gives 0.9000063; then p −= lr·wd·p with lr = 0.1·0.5 (factor 0.5) → here factor halves lr:
  // step_size = 0.05·0.0316228/0.1 = 0.0158114; p' = 1 − 0.0158114·0.05/0.0158124 = 0.9500032; p'' = p'·(1 − 0.05·0.01).
  const p = makeParam('w', 'g', [1], [1]);
  const opt = new AdamW([p], [{ name: 'g', lr: 0.1, weightDecay: 0.01 }]);
  p.grad[0] = 0.5;
  opt.step(0.5);
  close(p.data[0]!, 0.9500032 * (1 - 0.05 * 0.01), 1e-6, 'p');
});

/** Independent float64 reference of legacy transformers.AdamW (one tensor, one group). */
function referenceAdamW(p0: number[], grads: number[][], lrs: number[], wd: number): number[] {
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  grads.forEach((g, k) => {
    const t = k + 1;
    const lr = lrs[k]!;
    const stepSize = (lr * Math.sqrt(1 - 0.999 ** t)) / (1 - 0.9 ** t);
    for (let i = 0; i < p.length; i++) {
      m[i] = 0.9 * m[i]! + 0.1 * g[i]!;
      v[i] = 0.999 * v[i]! + 0.001 * g[i]! * g[i]!;
      p[i] = p[i]! - (stepSize * m[i]!) / (Math.sqrt(v[i]!) + 1e-6);
      p[i] = p[i]! - lr * wd * p[i]!;
    }
  });
  return p;
}

test('AdamW agrees with a float64 reference over 50 steps, two groups', () => {
  let seed = 12345;
  const rand = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32 - 0.5;
  };
  const a0 = Array.from({ length: 7 }, rand);
  const b0 = Array.from({ length: 3 }, rand);
  const a = makeParam('a', 'prompt', [7], a0);
  const b = makeParam('b', 'lora', [3], b0);
  const opt = new AdamW([a, b], [
    { name: 'prompt', lr: 0.3, weightDecay: 0 },
    { name: 'lora', lr: 5e-3, weightDecay: 1e-2 },
  ]);
  const ga: number[][] = [];
  const gb: number[][] = [];
  const factors: number[] = [];
  for (let t = 0; t < 50; t++) {
    const f = Math.min(1, t / 10);
    factors.push(f);
    ga.push(Array.from({ length: 7 }, () => Math.fround(rand())));
    gb.push(Array.from({ length: 3 }, () => Math.fround(rand() * 10)));
    a.grad.set(ga[t]!);
    b.grad.set(gb[t]!);
    opt.step(f);
  }
  const ra = referenceAdamW(a0.map(Math.fround), ga, factors.map((f) => 0.3 * f), 0);
  const rb = referenceAdamW(b0.map(Math.fround), gb, factors.map((f) => 5e-3 * f), 1e-2);
  let maxdiff = 0;
  ra.forEach((x, i) => (maxdiff = Math.max(maxdiff, Math.abs(x - a.data[i]!))));
  rb.forEach((x, i) => (maxdiff = Math.max(maxdiff, Math.abs(x - b.data[i]!))));
  assert.ok(maxdiff < 1e-5, `maxdiff ${maxdiff}`);
});

test('state() / loadState() resume bit-for-bit', () => {
  const mk = (): Param[] => [makeParam('x', 'g', [2, 2], [1, -2, 3, -4])];
  const grads = (t: number): number[] => [Math.sin(t), Math.cos(t), t / 10, -t / 7];
  const full = mk();
  const o1 = new AdamW(full, [{ name: 'g', lr: 0.01, weightDecay: 0.1 }]);
  for (let t = 0; t < 10; t++) {
    full[0]!.grad.set(grads(t));
    o1.step();
  }
  const half = mk();
  const o2 = new AdamW(half, [{ name: 'g', lr: 0.01, weightDecay: 0.1 }]);
  for (let t = 0; t < 4; t++) {
    half[0]!.grad.set(grads(t));
    o2.step();
  }
  const saved = o2.state();
  const resumed = [makeParam('x', 'g', [2, 2], half[0]!.data)];
  const o3 = new AdamW(resumed, [{ name: 'g', lr: 0.01, weightDecay: 0.1 }]);
  o3.loadState(saved);
  assert.equal(o3.stepCount, 4);
  for (let t = 4; t < 10; t++) {
    resumed[0]!.grad.set(grads(t));
    o3.step();
  }
  assert.deepEqual([...resumed[0]!.data], [...full[0]!.data]);
});

test('bad configs and mismatched state throw coded errors', () => {
  const p = makeParam('x', 'g', [2]);
  const code = (fn: () => unknown, c: string): void =>
    assert.throws(fn, (e: unknown) => e instanceof SoftpromptError && e.code === c);
  code(() => new AdamW([p], [{ name: 'other', lr: 0.1, weightDecay: 0 }]), 'invalid_config');
  code(() => new AdamW([p], [{ name: 'g', lr: -1, weightDecay: 0 }]), 'invalid_config');
  code(() => new AdamW([p], [{ name: 'g', lr: 0.1, weightDecay: 0 }], { betas: [1, 0.999] }), 'invalid_config');
  const opt = new AdamW([p], [{ name: 'g', lr: 0.1, weightDecay: 0 }]);
  code(() => opt.loadState({ step: 1, expAvg: {}, expAvgSq: {} }), 'missing_tensor');
  code(() => opt.loadState({ step: 1, expAvg: { x: new Float32Array(3) }, expAvgSq: { x: new Float32Array(3) } }), 'shape_mismatch');
});
