/**
 * PEFT-trained LoRA adapters through softprompt's own LoRA method: for every fixture with weight goldens, the
 * adapter PEFT saved (test/fixtures/<name>/lora-adapter, scripts/make-weight-goldens.py) is read by the method
 * registry, attached to the frozen model, and must give HF's float64 loss, per-token NLL and dA / dB on the
 * golden batch, and the golden loss on a second batch. Then the method's own save writes the same PEFT key set,
 * shapes and config fields, and reading that back gives bit-identical tensors.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { getMethod, readAdapter, saveAdapter } from '../../src/methods/registry.js';
import { withMethod } from '../../src/methods/method.js';
import { loadAnyModel, type AnyModel } from '../../src/models/registry.js';
import { expectClose, TOL } from './golden.js';
import { loadWeightGolden, weightGoldenFixtures, type GoldenBatch } from './weight-golden.js';

function lossAndGrad(lm: AnyModel, b: GoldenBatch): { loss: number; tokenNll: Float32Array } {
  if (lm.kind === 'seq2seq') {
    const m = lm.model;
    return m.lossAndGrad({ B: b.B, Te: b.T, inputsEmbeds: m.embed(b.inputIds), encoderMask: Float32Array.from(b.attentionMask), S: b.S, labels: b.labels });
  }
  const m = lm.model;
  return m.lossAndGrad({ B: b.B, T: b.T, inputsEmbeds: m.embed(b.inputIds), attentionMask: Float32Array.from(b.attentionMask), labels: b.labels });
}

const fixtures = weightGoldenFixtures();
test('LoRA goldens exist for T5, GPT-2 and LLaMA fixtures', () => {
  for (const f of ['t5-tiny', 't5-gated-tiny', 'gpt2-tiny', 'llama-tiny']) assert.ok(fixtures.includes(f), f);
});

for (const name of fixtures) {
  describe(`PEFT LoRA adapter through the lora method: ${name}`, () => {
    const g = loadWeightGolden(name);

    test('loads by peft_type LORA; loss, token NLL, dA and dB match HF float64; the second batch too', () => {
      const lm = loadAnyModel(g.dir);
      const loaded = readAdapter(g.lora.adapterDir);
      assert.equal(loaded.entry.name, 'lora');
      const m = loaded.method;
      const out = withMethod(lm.model, m, () => lossAndGrad(lm, g.batch));
      expectClose('lora.loss', [out.loss], [g.lora.loss], TOL.lse);
      expectClose('lora.token_nll', out.tokenNll, g.lora.tokenNll, TOL.lse);
      const byName = new Map(m.params().map((p) => [`base_model.model.${p.name}`, p]));
      assert.deepEqual([...byName.keys()].sort(), [...g.lora.grads.keys()].sort(), 'same PEFT keys');
      for (const [key, want] of g.lora.grads) expectClose(`grad ${key}`, byName.get(key)!.grad, want.data, TOL.grad);
      const second = withMethod(lm.model, m, () => lossAndGrad(lm, g.second.batch));
      expectClose('second batch loss', [second.loss], [g.second.loss], TOL.lse);
      // detached again: the frozen model is back to its own loss
      const base = lossAndGrad(lm, g.second.batch);
      assert.notEqual(base.loss, second.loss);
    });

    test('saved by softprompt: the same PEFT keys, shapes and config fields; re-read bit-identical', () => {
      const lm = loadAnyModel(g.dir);
      const loaded = readAdapter(g.lora.adapterDir);
      loaded.method.attach(lm.model);
      loaded.method.detach(lm.model);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-lora-'));
      const info = lm.model.info;
      saveAdapter(dir, loaded.method, { baseModel: g.dir, tokenizer: null, modelInfo: { dModel: info.dModel, numLayers: info.numLayers, numHeads: info.numHeads, kind: info.kind } });
      const peft = SafetensorsFile.open(path.join(g.lora.adapterDir, 'adapter_model.safetensors'));
      const ours = SafetensorsFile.open(path.join(dir, 'adapter_model.safetensors'));
      assert.deepEqual(ours.names().sort(), peft.names().sort());
      for (const n of peft.names()) {
        assert.deepEqual(ours.info(n), peft.info(n), n);
        assert.deepEqual(ours.getF32(n), peft.getF32(n), n);
      }
      const pc = JSON.parse(fs.readFileSync(path.join(g.lora.adapterDir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
      const oc = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
      // PEFT wrote these goldens without a task type; softprompt records CAUSAL_LM for decoder-only models
      for (const k of Object.keys(oc)) if (!['base_model_name_or_path', 'init_lora_weights', 'auto_mapping', 'task_type'].includes(k)) assert.deepEqual(oc[k], pc[k], `adapter_config.json ${k}`);
      assert.equal(oc['task_type'], info.kind === 'causal' ? 'CAUSAL_LM' : null);
      assert.equal(getMethod('lora').name, readAdapter(dir).entry.name);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  });
}
