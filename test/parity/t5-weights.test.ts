/**
 * T5 full fine-tuning gradients against the Hugging Face float64 reference (test/fixtures/<t5 folder>/
 * weight-golden.*, layout in test/fixtures/README.md): every weight trainable, one lossAndGrad + embedBackward
 * on the fixture's batch, each dLoss/dW within 1e-3 of its own max|golden| (TOL.grad; vocabulary-sized tensors
 * on the stored rows, plus the whole tensor's sum and sum of squares); and PEFT's LoRA through side paths (a
 * reference LoRA path written here: loss, dA, dB, and the loss on a second batch).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openWeights } from '../../src/io/hf-folder.js';
import { T5Model } from '../../src/models/t5.js';
import type { LinearSidePath, Seq2SeqBatch, SideCall } from '../../src/models/types.js';
import { expectClose, TOL } from './golden.js';
import { gatherRows, loadWeightGolden, weightGoldenFixtures, type GoldenBatch } from './weight-golden.js';
import { readFileSync } from 'node:fs';

/** PEFT LoRA, y += scaling · (x Aᵀ) Bᵀ with A (r, in), B (out, r); accumulates dA, dB. */
class LoraPath implements LinearSidePath {
  readonly dA: Float64Array;
  readonly dB: Float64Array;
  private x = new Float64Array(0);
  private h = new Float64Array(0);

  constructor(readonly A: Float64Array, readonly B: Float64Array, readonly r: number, readonly inF: number,
    readonly outF: number, readonly scaling: number) {
    this.dA = new Float64Array(A.length);
    this.dB = new Float64Array(B.length);
  }

  forward(x: Float32Array, y: Float32Array, ldy: number, N: number, call: SideCall): void {
    const { A, B, r, inF, outF, scaling } = this;
    const h = new Float64Array(N * r);
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < r; k++) {
        let s = 0;
        for (let i = 0; i < inF; i++) s += x[n * inF + i]! * A[k * inF + i]!;
        h[n * r + k] = s;
      }
      for (let o = 0; o < outF; o++) {
        let s = 0;
        for (let k = 0; k < r; k++) s += h[n * r + k]! * B[o * r + k]!;
        y[n * ldy + o] += scaling * s;
      }
    }
    if (call.saveForBackward) { this.x = Float64Array.from(x.subarray(0, N * inF)); this.h = h; }
  }

  backward(dy: Float32Array, ldy: number, dx: Float32Array, N: number): void {
    const { A, B, r, inF, outF, scaling, x, h } = this;
    const dh = new Float64Array(r);
    for (let n = 0; n < N; n++) {
      dh.fill(0);
      for (let o = 0; o < outF; o++) {
        const g = scaling * dy[n * ldy + o]!;
        for (let k = 0; k < r; k++) { dh[k] += g * B[o * r + k]!; this.dB[o * r + k] += g * h[n * r + k]!; }
      }
      for (let k = 0; k < r; k++) {
        for (let i = 0; i < inF; i++) { this.dA[k * inF + i] += dh[k]! * x[n * inF + i]!; dx[n * inF + i] += dh[k]! * A[k * inF + i]!; }
      }
    }
  }
}

function embedded(model: T5Model, b: GoldenBatch): Seq2SeqBatch {
  return { B: b.B, Te: b.T, inputsEmbeds: model.embed(b.inputIds), encoderMask: Float32Array.from(b.attentionMask), S: b.S, labels: b.labels };
}

const fixtures = weightGoldenFixtures('t5');
test('t5 weight-gradient goldens are present', () => {
  assert.ok(fixtures.includes('t5-tiny') && fixtures.includes('t5-gated-tiny'), `found ${fixtures.join(', ')}`);
});

for (const name of fixtures) {
  describe(`t5 full fine-tuning gradients vs HF float64: ${name}`, () => {
    const g = loadWeightGolden(name);
    const config = JSON.parse(readFileSync(join(g.dir, 'config.json'), 'utf8')) as unknown;
    const model = T5Model.load(config, openWeights(join(g.dir, 'model.safetensors')), join(g.dir, 'config.json'));
    const { B, T, inputIds } = g.batch;
    const grads = model.setTrainable(model.weights().map((w) => w.name));
    const out = model.lossAndGrad(embedded(model, g.batch));
    model.embedBackward(inputIds, out.dInputsEmbeds, B, T, 0);
    model.setTrainable([]);

    test('loss', () => {
      expectClose('full.loss', [out.loss], [g.full.loss], { kind: 'abs', atol: 1e-4, rtol: 0 });
      expectClose('full.token_nll', out.tokenNll, g.full.tokenNll, TOL.logits);
    });

    test('every weight gradient, by HF name', () => {
      assert.deepEqual([...g.full.grads.keys()].sort(), [...grads.keys()].sort(), 'the same tensor names');
      for (const w of model.weights()) {
        const want = g.full.grads.get(w.name)!, got = grads.get(w.name)!;
        assert.deepEqual(want.shape.slice(-1), w.shape.slice(-1), w.name);
        if (want.rows === undefined) {
          expectClose(w.name, got, want.data, TOL.grad);
          continue;
        }
        // vocabulary-sized: the stored rows, relative to the whole tensor's max|grad|, and the whole tensor's stats
        const cols = w.shape[1]!;
        const mode = { kind: 'abs', atol: 1e-3 * want.full.max_abs, rtol: 0 } as const;
        expectClose(`${w.name} (${want.rows.length} rows)`, gatherRows(got, cols, want.rows), want.data, mode);
        let sum = 0, sumSq = 0, maxAbs = 0;
        for (const v of got) { sum += v; sumSq += v * v; maxAbs = Math.max(maxAbs, Math.abs(v)); }
        expectClose(`${w.name} max|grad|`, [maxAbs], [want.full.max_abs], { kind: 'abs', atol: 0, rtol: 1e-3 });
        expectClose(`${w.name} sum of squares`, [sumSq], [want.full.sum_sq], { kind: 'abs', atol: 0, rtol: 2e-3 });
        expectClose(`${w.name} sum`, [sum], [want.full.sum], { kind: 'abs', atol: 1e-3 * want.full.max_abs, rtol: 1e-3 });
      }
    });
  });
}

for (const name of fixtures) {
  test(`t5 PEFT LoRA (q, v of self- and cross-attention) as side paths vs HF float64: ${name}`, () => {
    const g = loadWeightGolden(name);
    const config = JSON.parse(readFileSync(join(g.dir, 'config.json'), 'utf8')) as unknown;
    const model = T5Model.load(config, openWeights(join(g.dir, 'model.safetensors')), join(g.dir, 'config.json'));
    const dims = new Map(model.linearModules().map((m) => [m.name, m]));
    const { r, scaling } = g.lora.config;
    const paths = new Map(g.lora.modules.map((m) => {
      const lin = dims.get(m.module)!;
      assert.deepEqual([m.A.shape, m.B.shape], [[r, lin.inFeatures], [lin.outFeatures, r]], m.module);
      return [m.module, new LoraPath(m.A.data, m.B.data, r, lin.inFeatures, lin.outFeatures, scaling)];
    }));
    assert.equal(paths.size, 12); // q, v of every self- and cross-attention (24 tensors: A and B)
    model.setSidePaths(paths);
    const out = model.lossAndGrad(embedded(model, g.batch));
    expectClose('lora.loss', [out.loss], [g.lora.loss], { kind: 'abs', atol: 1e-4, rtol: 0 });
    expectClose('lora.token_nll', out.tokenNll, g.lora.tokenNll, TOL.logits);
    for (const m of g.lora.modules) {
      const p = paths.get(m.module)!;
      expectClose(`${m.module} dA`, p.dA, m.dA.data, TOL.grad);
      expectClose(`${m.module} dB`, p.dB, m.dB.data, TOL.grad);
    }
    const second = model.forward(embedded(model, g.second.batch));
    expectClose('lora2.loss', [second.loss], [g.second.loss], { kind: 'abs', atol: 1e-4, rtol: 0 });
    expectClose('lora2.token_nll', second.tokenNll, g.second.tokenNll, TOL.logits);
  });
}
