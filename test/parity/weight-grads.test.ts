/**
 * Full fine-tuning gradients of the decoder-only models against Hugging Face, for every GPT-2 / LLaMA fixture
 * folder holding weight-golden.safetensors (scripts/make-weight-goldens.py: float64 reference, eval mode): every
 * weight trainable, one lossAndGrad on the embedded batch plus embedBackward (the token-embedding rows), then
 * loss, token NLL and dLoss/dW of every HF tensor (tied weights once, GPT-2 Conv1D compared in HF [in, out] layout)
 * within 1e-3 × max|golden| per tensor. Then the model side of LoRA: PEFT's A, B from the golden as side paths
 * (test/weight-checks.ts LoraTestPath) give lora.loss and dA, dB — GPT-2's c_attn is a Conv1D (fan_in_fan_out).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openWeights } from '../../src/io/hf-folder.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { GPT2Model } from '../../src/models/gpt2.js';
import { LlamaModel } from '../../src/models/llama.js';
import type { CausalLM, WeightTraining } from '../../src/models/types.js';
import { hfLayout } from '../../src/models/weight-grads.js';
import { expectClose, goldenFixtures, TOL } from './golden.js';
import { LoraTestPath } from '../weight-checks.js';

const cases = [
  ...goldenFixtures('gpt2').map((fx) => ({ fx, load: () => GPT2Model.load(fx.config, openWeights(join(fx.dir, 'model.safetensors'))) })),
  ...goldenFixtures('llama').map((fx) => ({ fx, load: () => LlamaModel.load(fx.config, openWeights(join(fx.dir, 'model.safetensors'))) })),
].filter(({ fx }) => existsSync(join(fx.dir, 'weight-golden.safetensors')));

// the goldens are generated on another branch; until they are merged this file only reports their absence
if (cases.length === 0) test.skip('no test/fixtures/*/weight-golden.safetensors for gpt2 / llama in this checkout');

for (const { fx, load } of cases) {
  describe(`full fine-tuning gradients vs HF: ${fx.name}`, () => {
    test('loss, token NLL and dLoss/dW of every weight', () => {
      const model: CausalLM & WeightTraining = load();
      const golden = SafetensorsFile.open(join(fx.dir, 'weight-golden.safetensors'));
      const ids = golden.getI32('input_ids');
      const [B, T] = golden.info('input_ids').shape as [number, number];
      const weights = model.weights();
      const grads = model.setTrainable(weights.map((w) => w.name));
      const out = model.lossAndGrad({
        B, T, inputsEmbeds: model.embed(ids), attentionMask: Float32Array.from(golden.getI32('attention_mask')), labels: golden.getI32('labels'),
      });
      model.embedBackward(ids, out.dInputsEmbeds, B, T, 0);
      expectClose('full.loss', [out.loss], golden.getF32('full.loss'), TOL.lse);
      expectClose('full.token_nll', out.tokenNll, golden.getF32('full.token_nll'), TOL.lse);
      const goldenNames = golden.names().filter((n) => n.startsWith('full.grad.')).map((n) => n.slice('full.grad.'.length)).sort();
      assert.deepEqual(weights.map((w) => w.name).sort(), goldenNames, 'every weight has a golden gradient and vice versa');
      for (const w of weights) {
        const g = grads.get(w.name)!;
        expectClose(`grad ${w.name}`, hfLayout(w, g), golden.getF32(`full.grad.${w.name}`), TOL.grad);
      }
    });

    test('LoRA side paths with PEFT\'s A, B: loss, token NLL, dA, dB (weights frozen)', () => {
      const model: CausalLM & WeightTraining = load();
      const golden = SafetensorsFile.open(join(fx.dir, 'weight-golden.safetensors'));
      const { scaling } = (JSON.parse(readFileSync(join(fx.dir, 'weight-golden.json'), 'utf8')) as { lora: { config: { scaling: number } } }).lora.config;
      const modules = new Map(model.linearModules().map((m) => [m.name, m]));
      const paths = new Map<string, LoraTestPath>();
      const prefix = 'lora.base_model.model.', suffix = '.lora_A.weight';
      for (const key of golden.names().filter((n) => n.startsWith(prefix) && n.endsWith(suffix))) {
        const name = key.slice(prefix.length, -suffix.length), m = modules.get(name)!;
        const [r] = golden.info(key).shape as [number, number];
        paths.set(name, new LoraTestPath(golden.getF32(key), golden.getF32(`${prefix}${name}.lora_B.weight`), r, m.inFeatures, m.outFeatures, scaling));
      }
      assert.ok(paths.size > 0);
      model.setSidePaths(paths);
      const ids = golden.getI32('input_ids');
      const [B, T] = golden.info('input_ids').shape as [number, number];
      const out = model.lossAndGrad({
        B, T, inputsEmbeds: model.embed(ids), attentionMask: Float32Array.from(golden.getI32('attention_mask')), labels: golden.getI32('labels'),
      });
      expectClose('lora.loss', [out.loss], golden.getF32('lora.loss'), TOL.lse);
      expectClose('lora.token_nll', out.tokenNll, golden.getF32('lora.token_nll'), TOL.lse);
      for (const [name, p] of paths) {
        expectClose(`lora dA ${name}`, p.dA, golden.getF32(`lora.grad.base_model.model.${name}.lora_A.weight`), TOL.grad);
        expectClose(`lora dB ${name}`, p.dB, golden.getF32(`lora.grad.base_model.model.${name}.lora_B.weight`), TOL.grad);
      }
    });
  });
}
