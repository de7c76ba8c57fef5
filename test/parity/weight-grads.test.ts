/**
 * Full fine-tuning gradients of the decoder-only models against Hugging Face, for every GPT-2 / LLaMA fixture
 * folder holding weight-golden.safetensors (scripts/make-weight-goldens.py: float64 reference, eval mode): every
 * weight trainable, one lossAndGrad on the embedded batch plus embedBackward (the token-embedding rows), then
 * loss, token NLL and dLoss/dW of every HF tensor (tied weights once, GPT-2 Conv1D compared in HF [in, out] layout)
 * within 1e-3 × max|golden| per tensor. Then the model side of LoRA: PEFT's A, B from the golden as side paths
 * (test/weight-checks.ts LoraTestPath) give lora.loss, dA, dB; GPT-2's c_attn is a Conv1D (fan_in_fan_out).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openWeights } from '../../src/io/hf-folder.js';
import { GPT2Model } from '../../src/models/gpt2.js';
import { LlamaModel } from '../../src/models/llama.js';
import type { CausalBatch, CausalLM, WeightTraining } from '../../src/models/types.js';
import { hfLayout } from '../../src/models/weight-grads.js';
import { expectClose, TOL } from './golden.js';
import { gatherRows, loadWeightGolden, weightGoldenFixtures, type GoldenBatch } from './weight-golden.js';
import { LoraTestPath } from '../weight-checks.js';

type Model = CausalLM & WeightTraining;

const LOADERS: Record<string, (dir: string, config: Record<string, unknown>) => Model> = {
  gpt2: (dir, config) => GPT2Model.load(config, openWeights(join(dir, 'model.safetensors'))),
  llama: (dir, config) => LlamaModel.load(config, openWeights(join(dir, 'model.safetensors'))),
};

const names = [...weightGoldenFixtures('gpt2'), ...weightGoldenFixtures('llama')];
test('weight-gradient goldens exist for gpt2-tiny and llama-tiny', () => {
  assert.ok(names.includes('gpt2-tiny') && names.includes('llama-tiny'), `found ${JSON.stringify(names)}`);
});

function embedded(model: Model, b: GoldenBatch): CausalBatch {
  return { B: b.B, T: b.T, inputsEmbeds: model.embed(b.inputIds), attentionMask: Float32Array.from(b.attentionMask), labels: b.labels };
}

for (const name of names) {
  describe(`full fine-tuning and LoRA side-path gradients vs HF: ${name}`, () => {
    const golden = loadWeightGolden(name);
    const load = () => LOADERS[golden.modelType]!(golden.dir,
      JSON.parse(readFileSync(join(golden.dir, 'config.json'), 'utf8')) as Record<string, unknown>);

    test('every weight trainable: loss, token NLL and dLoss/dW of every HF tensor', () => {
      const model = load();
      const weights = model.weights();
      const grads = model.setTrainable(weights.map((w) => w.name));
      const b = golden.batch;
      const out = model.lossAndGrad(embedded(model, b));
      model.embedBackward(b.inputIds, out.dInputsEmbeds, b.B, b.T, 0);
      expectClose('full.loss', [out.loss], [golden.full.loss], TOL.lse);
      expectClose('full.token_nll', out.tokenNll, golden.full.tokenNll, TOL.lse);
      assert.deepEqual(weights.map((w) => w.name).sort(), [...golden.full.grads.keys()].sort(), 'every weight has a golden gradient and vice versa');
      for (const w of weights) {
        const want = golden.full.grads.get(w.name)!;
        const got = hfLayout(w, grads.get(w.name)!);
        expectClose(`grad ${w.name}`, want.rows ? gatherRows(got, w.shape[1]!, want.rows) : got, want.data, TOL.grad);
      }
    });

    test('LoRA side paths with PEFT\'s A, B: loss, token NLL, dA, dB (weights frozen)', () => {
      const model = load();
      const modules = new Map(model.linearModules().map((m) => [m.name, m]));
      const paths = new Map<string, LoraTestPath>();
      for (const g of golden.lora.modules) {
        const m = modules.get(g.module);
        assert.ok(m !== undefined, `${g.module} is not a linear module of the model`);
        paths.set(g.module, new LoraTestPath(Float32Array.from(g.A.data), Float32Array.from(g.B.data), golden.lora.config.r,
          m.inFeatures, m.outFeatures, golden.lora.config.scaling));
      }
      assert.ok(paths.size > 0);
      model.setSidePaths(paths);
      const out = model.lossAndGrad(embedded(model, golden.batch));
      expectClose('lora.loss', [out.loss], [golden.lora.loss], TOL.lse);
      expectClose('lora.token_nll', out.tokenNll, golden.lora.tokenNll, TOL.lse);
      for (const g of golden.lora.modules) {
        expectClose(`lora dA ${g.module}`, paths.get(g.module)!.dA, g.dA.data, TOL.grad);
        expectClose(`lora dB ${g.module}`, paths.get(g.module)!.dB, g.dB.data, TOL.grad);
      }
      const second = model.forward(embedded(model, golden.second.batch));
      expectClose('lora2.loss', [second.loss], [golden.second.loss], TOL.lse);
      expectClose('lora2.token_nll', second.tokenNll, golden.second.tokenNll, TOL.lse);
    });
  });
}
