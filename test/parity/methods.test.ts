/**
 * The PEFT methods (src/methods) against the golden fixture's PT and DePT tensors: the method's transform must
 * build the reference inputs_embeds, and its backward must turn the model's dLoss/dInputsEmbeds into the
 * reference gradients of P, A and B.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openWeights } from '../../src/io/hf-folder.js';
import { T5Model } from '../../src/models/t5.js';
import { Dept, validateDeptConfig } from '../../src/methods/dept/index.js';
import { PromptTuning, validatePromptTuningConfig } from '../../src/methods/prompt-tuning/index.js';
import { TOL, expectClose, f32, goldenFixtures, i32, shape } from './golden.js';

const fixtures = goldenFixtures('t5');
test('methods parity has fixtures', () => assert.ok(fixtures.length > 0));

for (const fx of fixtures) {
  describe(`methods parity: ${fx.name}`, () => {
    const model = T5Model.load(fx.config, openWeights(join(fx.dir, 'model.safetensors')));
    const C = model.config.d_model;
    const [B, T] = shape(fx, 'input_ids') as [number, number];
    const E = model.embed(i32(fx, 'input_ids'));
    const mask = Float32Array.from(i32(fx, 'attention_mask'));
    const labels = i32(fx, 'labels');
    const S = shape(fx, 'labels')[1]!;

    test('prompt tuning transform and grad_P', () => {
      const l = shape(fx, 'pt.P')[0]!;
      const pt = new PromptTuning(validatePromptTuningConfig({ numVirtualTokens: l }), C, f32(fx, 'pt.P'));
      const x = pt.apply(E, mask, B, T);
      expectClose('pt.inputs_embeds', x.inputsEmbeds, f32(fx, 'pt.inputs_embeds'), TOL.embeds);
      expectClose('pt.attention_mask', x.mask, i32(fx, 'pt.attention_mask'), TOL.exact);
      const out = model.lossAndGrad({ B, Te: x.Te, inputsEmbeds: x.inputsEmbeds, encoderMask: x.mask, S, labels });
      pt.backward(out.dInputsEmbeds, B, T);
      expectClose('pt.grad_P', pt.prompt.grad, f32(fx, 'pt.grad_P'), TOL.grad);
    });

    test('DePT transform (fixed padding to s) and grads of P, A, B', () => {
      const [l] = shape(fx, 'dept.P') as [number];
      const [s, r] = shape(fx, 'dept.A') as [number, number];
      const cfg = validateDeptConfig({ numVirtualTokens: l, rank: r, maxLength: s, loraAlpha: 8 });
      const dept = new Dept(cfg, C, f32(fx, 'dept.P'), f32(fx, 'dept.A'), f32(fx, 'dept.B'));
      expectClose('dept.lora_offset', dept.offset(s), f32(fx, 'dept.lora_offset'), TOL.embeds);
      const x = dept.apply(E, mask, B, T);
      expectClose('dept.inputs_embeds', x.inputsEmbeds, f32(fx, 'dept.inputs_embeds'), TOL.embeds);
      expectClose('dept.attention_mask', x.mask, i32(fx, 'dept.attention_mask'), TOL.exact);
      const out = model.lossAndGrad({ B, Te: x.Te, inputsEmbeds: x.inputsEmbeds, encoderMask: x.mask, S, labels });
      dept.backward(out.dInputsEmbeds, B, T);
      expectClose('dept.grad_P', dept.prompt.grad, f32(fx, 'dept.grad_P'), TOL.grad);
      expectClose('dept.grad_A', dept.loraA.grad, f32(fx, 'dept.grad_A'), TOL.grad);
      expectClose('dept.grad_B', dept.loraB.grad, f32(fx, 'dept.grad_B'), TOL.grad);
    });

    test('DePT dynamic padding: A[:L] on the batch trimmed to its longest row equals padding to s', () => {
      const [l] = shape(fx, 'dept.P') as [number];
      const [s, r] = shape(fx, 'dept.A') as [number, number];
      const cfg = validateDeptConfig({ numVirtualTokens: l, rank: r, maxLength: s });
      const full = new Dept(cfg, C, f32(fx, 'dept.P'), f32(fx, 'dept.A'), f32(fx, 'dept.B'));
      const dyn = new Dept(cfg, C, f32(fx, 'dept.P'), f32(fx, 'dept.A'), f32(fx, 'dept.B'));
      // rows 1 and 2 (lengths 13 and 5) padded only to L = 13
      const L = 13, rows = [1, 2];
      const Ed = new Float32Array(rows.length * L * C), md = new Float32Array(rows.length * L);
      const Ef = new Float32Array(rows.length * T * C), mf = new Float32Array(rows.length * T);
      const lab = new Int32Array(rows.length * S);
      rows.forEach((b, i) => {
        Ed.set(E.subarray(b * T * C, b * T * C + L * C), i * L * C);
        md.set(mask.subarray(b * T, b * T + L), i * L);
        Ef.set(E.subarray(b * T * C, (b + 1) * T * C), i * T * C);
        mf.set(mask.subarray(b * T, (b + 1) * T), i * T);
        lab.set(labels.subarray(b * S, (b + 1) * S), i * S);
      });
      const xf = full.apply(Ef, mf, rows.length, T), xd = dyn.apply(Ed, md, rows.length, L);
      const of = model.lossAndGrad({ B: rows.length, Te: xf.Te, inputsEmbeds: xf.inputsEmbeds, encoderMask: xf.mask, S, labels: lab });
      const od = model.lossAndGrad({ B: rows.length, Te: xd.Te, inputsEmbeds: xd.inputsEmbeds, encoderMask: xd.mask, S, labels: lab });
      full.backward(of.dInputsEmbeds, rows.length, T);
      dyn.backward(od.dInputsEmbeds, rows.length, L);
      expectClose('dynamic.loss', [od.loss], [of.loss], { kind: 'abs', atol: 1e-5, rtol: 1e-6 });
      expectClose('dynamic.grad_P', dyn.prompt.grad, full.prompt.grad, { kind: 'rel_to_max', atol: 1e-5 });
      expectClose('dynamic.grad_A', dyn.loraA.grad, full.loraA.grad, { kind: 'rel_to_max', atol: 1e-5 });
      expectClose('dynamic.grad_B', dyn.loraB.grad, full.loraB.grad, { kind: 'rel_to_max', atol: 1e-5 });
      // rows past L got no gradient in either case: they only ever saw padding (spec §1.10)
      for (let i = L * r; i < s * r; i++) assert.equal(full.loraA.grad[i], dyn.loraA.grad[i]);
    });
  });
}
