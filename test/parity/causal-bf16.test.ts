/**
 * GPT-2 and LLaMA in precision 'bf16' (frozen GEMM weights held in bf16, GEMMs on oneDNN) against the fp32 golden
 * values of prompt tuning: loss and grad_P. As for T5 (t5-bf16.test.ts), the bound is relative to the fixture's
 * own sensitivity, measured here: the error of fp32 arithmetic on weights rounded to bf16 (only the GEMM weights,
 * as bf16 mode holds them; norms, biases and position tables stay fp32).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { bf16Available, toBf16 } from '../../src/engine/index.js';
import { openWeights } from '../../src/io/hf-folder.js';
import { GPT2Model } from '../../src/models/gpt2.js';
import { LlamaModel } from '../../src/models/llama.js';
import { PromptTuning, validatePromptTuningConfig } from '../../src/methods/prompt-tuning.js';
import type { CausalLM, WeightSource } from '../../src/models/types.js';
import { f32, goldenFixtures, i32, shape, withPromptLabels, type Fixture } from './golden.js';

type Loader = (fx: Fixture, src: WeightSource, precision: 'fp32' | 'bf16') => CausalLM & { precision: 'fp32' | 'bf16' };
const MODELS: { type: string; load: Loader; gemm: RegExp }[] = [
  { type: 'gpt2', load: (fx, src, p) => GPT2Model.load(fx.config, src, 'config.json', p), gemm: /(c_attn|c_proj|c_fc)\.weight$|wte\.weight$|lm_head\.weight$/ },
  { type: 'llama', load: (fx, src, p) => LlamaModel.load(fx.config, src, 'config.json', p), gemm: /_proj\.weight$|embed_tokens\.weight$|lm_head\.weight$/ },
];

/** the tensors matching `which`, rounded to bf16 (nearest even) and widened back */
function roundedSource(src: WeightSource, which: RegExp): WeightSource {
  return {
    has: (n) => src.has(n),
    getF32Checked: (n, s, h) => {
      const x = src.getF32Checked(n, s, h);
      if (!which.test(n)) return x;
      const bits = toBf16(x), u = new Uint32Array(bits.length);
      for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
      return new Float32Array(u.buffer);
    },
  };
}

function relToMax(got: Float32Array, want: Float32Array): number {
  let d = 0, m = 0;
  for (let i = 0; i < want.length; i++) { d = Math.max(d, Math.abs(got[i]! - want[i]!)); m = Math.max(m, Math.abs(want[i]!)); }
  return d / m;
}

function ptErrors(fx: Fixture, model: CausalLM): { loss: number; grad_P: number } {
  const C = model.info.dModel;
  const [B, T] = shape(fx, 'input_ids') as [number, number];
  const l = shape(fx, 'pt.P')[0]!;
  const pt = new PromptTuning(validatePromptTuningConfig({ numVirtualTokens: l }), C, f32(fx, 'pt.P'));
  const x = pt.apply(model.embed(i32(fx, 'input_ids')), Float32Array.from(i32(fx, 'attention_mask')), B, T);
  const out = model.lossAndGrad({ B, T: x.Te, inputsEmbeds: x.inputsEmbeds, attentionMask: x.mask, labels: withPromptLabels(i32(fx, 'labels'), B, T, l) });
  pt.backward(out.dInputsEmbeds, B, T);
  return { loss: Math.abs(out.loss - f32(fx, 'pt.loss')[0]!), grad_P: relToMax(pt.prompt.grad, f32(fx, 'pt.grad_P')) };
}

for (const { type, load, gemm } of MODELS) {
  for (const fx of goldenFixtures(type)) {
    describe(`${type} bf16 error vs fp32 golden: ${fx.name}`, { skip: bf16Available() ? false : 'no native bf16 on this CPU' }, () => {
      test('prompt tuning loss and grad_P with bf16 weights and GEMMs, within a few times what rounding the weights alone causes', () => {
        const src = () => openWeights(join(fx.dir, 'model.safetensors'));
        const bf16 = load(fx, src(), 'bf16');
        assert.equal(bf16.precision, 'bf16');
        const got = ptErrors(fx, bf16);
        const weightsOnly = ptErrors(fx, load(fx, roundedSource(src(), gemm), 'fp32'));
        const exact = ptErrors(fx, load(fx, src(), 'fp32'));
        const fmt = (e: { loss: number; grad_P: number }) => `loss ${e.loss.toExponential(2)}, grad_P ${e.grad_P.toExponential(2)}`;
        console.log(`  bf16 path: ${fmt(got)}; weights rounded (fp32): ${fmt(weightsOnly)}; fp32: ${fmt(exact)}`);
        assert.ok(got.loss <= 4 * weightsOnly.loss + 1e-3, `loss error ${got.loss}`);
        assert.ok(got.grad_P <= 4 * weightsOnly.grad_P + 2e-2, `grad_P error ${got.grad_P}`);
        assert.ok(exact.grad_P < got.grad_P, 'the bf16 path changed nothing: is it really on?');
      });
    });
  }
}
