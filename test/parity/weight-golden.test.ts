/**
 * The weight-gradient goldens read back consistently: every HF parameter has a gradient of its shape, losses are
 * the means of their per-token NLLs, the batch is the plain golden batch, and the LoRA values are exactly the
 * PEFT-saved adapter's.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { FIXTURES } from './golden.js';
import { type GoldenBatch, loadWeightGolden, weightGoldenFixtures } from './weight-golden.js';

function meanNll(nll: Float64Array, b: GoldenBatch): number {
  let s = 0, n = 0;
  for (let i = 0; i < b.labels.length; i++) if (b.labels[i] !== -100) { s += nll[i]!; n++; }
  return s / n;
}

function assertNllAligned(nll: Float64Array, b: GoldenBatch, causal: boolean): void {
  assert.equal(nll.length, b.B * b.S);
  for (let i = 0; i < nll.length; i++) {
    const first = causal && i % b.S === 0;
    if (b.labels[i] === -100 || first) assert.equal(nll[i], 0, `token_nll[${i}] is ignored but ${nll[i]}`);
    else assert.ok(nll[i]! > 0, `token_nll[${i}] = ${nll[i]}`);
  }
}

const names = weightGoldenFixtures();
test('weight goldens exist for every tiny model', () => {
  assert.deepEqual(names, ['gpt2-tiny', 'llama-tiny', 't5-gated-tiny', 't5-tiny']);
});

for (const name of names) {
  describe(`weight golden: ${name}`, () => {
    const wg = loadWeightGolden(name);
    const causal = wg.modelType !== 't5';
    const model = SafetensorsFile.open(join(wg.dir, 'model.safetensors'));

    test('batch is the plain golden batch', () => {
      const golden = SafetensorsFile.open(join(FIXTURES, name === 't5-gated-tiny' ? 't5-tiny' : name, 'golden.safetensors'));
      assert.deepEqual(wg.batch.inputIds, golden.getI32('input_ids'));
      assert.deepEqual(wg.batch.attentionMask, golden.getI32('attention_mask'));
      assert.deepEqual(wg.batch.labels, golden.getI32('labels'));
    });

    test('full fine-tuning: a gradient of the right shape for every stored parameter; loss = mean token NLL', () => {
      assert.deepEqual([...wg.full.grads.keys()].sort(), model.names().sort());
      const usedIds = new Set<number>([0, ...wg.batch.inputIds, ...wg.second.batch.inputIds]);
      for (const l of [...wg.batch.labels, ...wg.second.batch.labels]) if (l !== -100) usedIds.add(l);
      for (const [hf, g] of wg.full.grads) {
        const shape = model.info(hf).shape;
        assert.deepEqual(g.full.shape, shape, hf);
        let maxAbs = 0, sumSq = 0;
        for (const x of g.data) { maxAbs = Math.max(maxAbs, Math.abs(x)); sumSq += x * x; }
        assert.ok(maxAbs > 0, `${hf}: gradient is all zero`);
        if (g.rows === undefined) {
          assert.deepEqual(g.shape, shape, hf);
          assert.equal(maxAbs, g.full.max_abs, hf);
          assert.ok(Math.abs(sumSq - g.full.sum_sq) <= 1e-12 * g.full.sum_sq, `${hf}: sum_sq ${sumSq} vs ${g.full.sum_sq}`);
        } else {
          assert.deepEqual(g.shape, [g.rows.length, shape[1]], hf);
          for (let i = 1; i < g.rows.length; i++) assert.ok(g.rows[i - 1]! < g.rows[i]!, `${hf}: rows not increasing`);
          assert.ok(g.rows[0]! >= 0 && g.rows[g.rows.length - 1]! < shape[0]!, `${hf}: row out of range`);
          const rows = new Set(g.rows);
          for (const id of usedIds) assert.ok(rows.has(id), `${hf}: row ${id} of the batch is not stored`);
          assert.ok(maxAbs <= g.full.max_abs && sumSq <= g.full.sum_sq * (1 + 1e-12), hf);
        }
      }
      assertNllAligned(wg.full.tokenNll, wg.batch, causal);
      assert.ok(Math.abs(meanNll(wg.full.tokenNll, wg.batch) - wg.full.loss) < 1e-12 * wg.full.loss);
    });

    test('LoRA: values are exactly the PEFT-saved adapter, shapes fit the wrapped modules, loss = mean token NLL', () => {
      const adapter = SafetensorsFile.open(join(wg.lora.adapterDir, 'adapter_model.safetensors'));
      const adapterConfig = JSON.parse(readFileSync(join(wg.lora.adapterDir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
      const cfg = wg.lora.config;
      assert.equal(adapterConfig['peft_type'], 'LORA');
      assert.equal(adapterConfig['r'], cfg.r);
      assert.equal(adapterConfig['lora_alpha'], cfg.lora_alpha);
      assert.equal(adapterConfig['fan_in_fan_out'], cfg.fan_in_fan_out);
      assert.deepEqual(adapterConfig['target_modules'], cfg.target_modules);
      assert.equal(cfg.scaling, cfg.lora_alpha / cfg.r);
      assert.deepEqual(adapter.names().sort(), [...wg.lora.values.keys()].sort());
      assert.deepEqual([...wg.lora.grads.keys()].sort(), [...wg.lora.values.keys()].sort());
      for (const [key, v] of wg.lora.values) {
        assert.equal(adapter.info(key).dtype, 'F32');
        assert.deepEqual(adapter.info(key).shape, v.shape, key);
        assert.deepEqual(Float64Array.from(adapter.getF32(key)), v.data, `${key}: golden value differs from the adapter file`);
      }
      assert.equal(wg.lora.modules.length * 2, wg.lora.values.size);
      for (const m of wg.lora.modules) {
        assert.ok(cfg.target_modules.includes(m.module.split('.').pop()!), m.module);
        const w = model.info(`${m.module}.weight`).shape as [number, number];
        const [inF, outF] = cfg.fan_in_fan_out ? w : [w[1], w[0]];
        assert.deepEqual(m.A.shape, [cfg.r, inF], `${m.module} A`);
        assert.deepEqual(m.B.shape, [outF, cfg.r], `${m.module} B`);
        assert.deepEqual(m.dA.shape, m.A.shape);
        assert.deepEqual(m.dB.shape, m.B.shape);
        assert.ok(m.dA.data.some((x) => x !== 0) && m.dB.data.some((x) => x !== 0), `${m.module}: zero LoRA gradient`);
      }
      assertNllAligned(wg.lora.tokenNll, wg.batch, causal);
      assert.ok(Math.abs(meanNll(wg.lora.tokenNll, wg.batch) - wg.lora.loss) < 1e-12 * wg.lora.loss);
      assert.notEqual(wg.lora.loss, wg.full.loss, 'the adapter changes the loss');
    });

    test('second batch with the LoRA: loss = mean token NLL', () => {
      const b = wg.second.batch;
      assert.deepEqual(b.inputIds.length, b.B * b.T);
      assertNllAligned(wg.second.tokenNll, b, causal);
      assert.ok(Math.abs(meanNll(wg.second.tokenNll, b) - wg.second.loss) < 1e-12 * wg.second.loss);
    });
  });
}
