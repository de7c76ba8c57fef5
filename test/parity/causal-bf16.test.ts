/**
 * GPT-2 and LLaMA in precision 'bf16' (frozen GEMM weights and the token embedding held only in bf16, GEMMs on
 * oneDNN) against the fp32 golden values of prompt tuning and DePT. As for T5 (t5-bf16.test.ts) the bound is
 * relative to the fixture's own sensitivity, measured here: the error of fp32 arithmetic on the same weights
 * rounded to bf16 (the tensors bf16 mode holds in bf16; norms, biases and wpe stay fp32). The bf16 path also rounds
 * the activations entering each GEMM, so it may move the result a few times as much, never by an order of
 * magnitude; the absolute floor covers fixtures where weight rounding happens to cancel.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { bf16Available, toBf16 } from '../../src/engine/index.js';
import { openWeights } from '../../src/io/hf-folder.js';
import { GPT2Model } from '../../src/models/gpt2.js';
import { LlamaModel } from '../../src/models/llama.js';
import { hfLayout } from '../../src/models/weight-grads.js';
import { Dept, validateDeptConfig } from '../../src/methods/dept/index.js';
import { PromptTuning, validatePromptTuningConfig } from '../../src/methods/prompt-tuning/index.js';
import type { CausalLM, WeightSource, WeightTraining } from '../../src/models/types.js';
import { expectError } from '../expect-error.js';
import { f32, goldenFixtures, i32, shape, withPromptLabels, type Fixture } from './golden.js';

type Model = CausalLM & WeightTraining & { precision: 'fp32' | 'bf16' };
type Loader = (fx: Fixture, src: WeightSource, precision: 'fp32' | 'bf16') => Model;
const MODELS: { type: string; load: Loader; held: RegExp; fp32Weight: string }[] = [
  {
    type: 'gpt2', load: (fx, src, p) => GPT2Model.load(fx.config, src, 'config.json', p),
    held: /(c_attn|c_proj|c_fc)\.weight$|wte\.weight$|lm_head\.weight$/, fp32Weight: 'transformer.ln_f.bias',
  },
  {
    type: 'llama', load: (fx, src, p) => LlamaModel.load(fx.config, src, 'config.json', p),
    held: /_proj\.weight$|embed_tokens\.weight$|lm_head\.weight$/, fp32Weight: 'model.norm.weight',
  },
];

/** the tensors matching `which`, rounded to bf16 (nearest even) and widened back */
function roundedSource(src: WeightSource, which: RegExp): WeightSource {
  return {
    has: (n) => src.has(n),
    getF32Checked: (n, s, h) => {
      const x = src.getF32Checked(n, s, h);
      return which.test(n) ? widen(toBf16(x)) : x;
    },
  };
}

function widen(bits: Uint16Array): Float32Array {
  const u = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  return new Float32Array(u.buffer);
}

/** max |got - want| / max |want| */
function relToMax(got: Float32Array, want: Float32Array): number {
  let d = 0, m = 0;
  for (let i = 0; i < want.length; i++) { d = Math.max(d, Math.abs(got[i]! - want[i]!)); m = Math.max(m, Math.abs(want[i]!)); }
  return d / m;
}

const KEYS = ['pt_loss', 'pt_grad_P', 'dept_loss', 'dept_grad_P', 'dept_grad_A', 'dept_grad_B'] as const;
type Errors = Record<(typeof KEYS)[number], number>;
const FLOOR: Errors = { pt_loss: 1e-3, pt_grad_P: 2e-2, dept_loss: 1e-3, dept_grad_P: 2e-2, dept_grad_A: 2e-2, dept_grad_B: 2e-2 };

/** PT and DePT loss and gradients of the fixture on `model`, as errors against the fp32 golden values */
function methodErrors(fx: Fixture, model: CausalLM): Errors {
  const C = model.info.dModel;
  const [B, T] = shape(fx, 'input_ids') as [number, number];
  const E = model.embed(i32(fx, 'input_ids')), mask = Float32Array.from(i32(fx, 'attention_mask'));
  const l = shape(fx, 'pt.P')[0]!;
  const pt = new PromptTuning(validatePromptTuningConfig({ numVirtualTokens: l }), C, f32(fx, 'pt.P'));
  const xp = pt.apply(E, mask, B, T);
  const op = model.lossAndGrad({ B, T: xp.Te, inputsEmbeds: xp.inputsEmbeds, attentionMask: xp.mask, labels: withPromptLabels(i32(fx, 'labels'), B, T, l) });
  pt.backward(op.dInputsEmbeds, B, T);
  const [ld] = shape(fx, 'dept.P') as [number];
  const [s, r] = shape(fx, 'dept.A') as [number, number];
  const dept = new Dept(validateDeptConfig({ numVirtualTokens: ld, rank: r, maxLength: s }), C, f32(fx, 'dept.P'), f32(fx, 'dept.A'), f32(fx, 'dept.B'));
  const xd = dept.apply(E, mask, B, T);
  const od = model.lossAndGrad({ B, T: xd.Te, inputsEmbeds: xd.inputsEmbeds, attentionMask: xd.mask, labels: withPromptLabels(i32(fx, 'labels'), B, T, ld) });
  dept.backward(od.dInputsEmbeds, B, T);
  return {
    pt_loss: Math.abs(op.loss - f32(fx, 'pt.loss')[0]!), pt_grad_P: relToMax(pt.prompt.grad, f32(fx, 'pt.grad_P')),
    dept_loss: Math.abs(od.loss - f32(fx, 'dept.loss')[0]!), dept_grad_P: relToMax(dept.prompt.grad, f32(fx, 'dept.grad_P')),
    dept_grad_A: relToMax(dept.loraA.grad, f32(fx, 'dept.grad_A')), dept_grad_B: relToMax(dept.loraB.grad, f32(fx, 'dept.grad_B')),
  };
}

const fmt = (e: Errors) => KEYS.map((k) => `${k} ${e[k].toExponential(2)}`).join(', ');

for (const { type, load, held, fp32Weight } of MODELS) {
  for (const fx of goldenFixtures(type)) {
    describe(`${type} bf16 error vs fp32 golden: ${fx.name}`, { skip: bf16Available() ? false : 'no native bf16 on this CPU' }, () => {
      const src = () => openWeights(join(fx.dir, 'model.safetensors'));

      test('PT and DePT loss and gradients with bf16 weights and GEMMs, within a few times what rounding the weights alone causes', () => {
        const bf16 = load(fx, src(), 'bf16');
        assert.equal(bf16.precision, 'bf16');
        const got = methodErrors(fx, bf16);
        const weightsOnly = methodErrors(fx, load(fx, roundedSource(src(), held), 'fp32'));
        const exact = methodErrors(fx, load(fx, src(), 'fp32'));
        console.log(`  bf16 path:              ${fmt(got)}\n  weights rounded (fp32): ${fmt(weightsOnly)}\n  fp32:                   ${fmt(exact)}`);
        for (const k of KEYS) {
          const bound = 4 * weightsOnly[k] + FLOOR[k];
          assert.ok(got[k] <= bound, `bf16 ${k} error ${got[k]} > 4 x ${weightsOnly[k]} (weights rounded alone) + ${FLOOR[k]}`);
        }
        assert.ok(exact.pt_grad_P < got.pt_grad_P, 'the bf16 path changed nothing: is it really on?');
      });

      test('weights() lists the bf16-held tensors widened (= the rounded checkpoint, bit for bit), the rest live', () => {
        const bf16 = load(fx, src(), 'bf16'), rounded = roundedSource(src(), held);
        const ref = load(fx, src(), 'fp32').weights();
        const ws = bf16.weights();
        assert.deepEqual(ws.map((w) => w.name), ref.map((w) => w.name));
        for (const w of ws) {
          const want = rounded.getF32Checked(w.name, w.shape, '');
          assert.deepEqual(hfLayout(w), want, w.name);
        }
        assert.ok(ws.filter((w) => held.test(w.name)).length >= 4 * bf16.info.numLayers);
      });

      test('training: a bf16-held weight is refused naming it; an fp32-held one trains, its gradient within the bf16 bound', () => {
        const bf16 = load(fx, src(), 'bf16');
        const heldName = bf16.weights().find((w) => held.test(w.name))!.name;
        expectError(() => bf16.setTrainable([heldName]), 'invalid_config', heldName);
        const grad = (m: Model) => {
          const g = m.setTrainable([fp32Weight]).get(fp32Weight)!;
          const [B, T] = shape(fx, 'input_ids') as [number, number];
          m.lossAndGrad({ B, T, inputsEmbeds: m.embed(i32(fx, 'input_ids')), attentionMask: Float32Array.from(i32(fx, 'attention_mask')), labels: i32(fx, 'labels') });
          return g.slice();
        };
        const exact = grad(load(fx, src(), 'fp32'));
        const got = relToMax(grad(bf16), exact), weightsOnly = relToMax(grad(load(fx, roundedSource(src(), held), 'fp32')), exact);
        console.log(`  d ${fp32Weight}: bf16 ${got.toExponential(2)}, weights rounded ${weightsOnly.toExponential(2)}`);
        assert.ok(got > 0 && got <= 4 * weightsOnly + 2e-2, `d ${fp32Weight}: bf16 error ${got}, weights rounded alone ${weightsOnly}`);
      });

      test('greedy generation: first-step logits within the bf16 bound (KV-cache path and bf16 embedding rows)', () => {
        const [B, T] = shape(fx, 'input_ids') as [number, number];
        const mask = Float32Array.from(i32(fx, 'attention_mask'));
        const first = (m: CausalLM) => m.generate(m.embed(i32(fx, 'input_ids')), mask, B, T, { maxNewTokens: 2, keepStepLogits: true }).stepLogits!;
        const exact = first(load(fx, src(), 'fp32'));
        const got = relToMax(first(load(fx, src(), 'bf16')), exact);
        const weightsOnly = relToMax(first(load(fx, roundedSource(src(), held), 'fp32')), exact);
        assert.ok(got <= 4 * weightsOnly + 2e-2, `generation logits: bf16 ${got}, weights rounded alone ${weightsOnly}`);
      });
    });
  }
}
