import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig, openWeights } from '../io/hf-folder.js';
import { parseT5Config, t5TensorTable, T5Model } from '../models/t5.js';
import { expectError } from '../../test/expect-error.js';
import { completeT5ConfigJson, configJsonText, initT5Weights, t5InitRule, writeNewT5Folder } from './t5-init.js';

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-init-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));

// T5 v1.1 shape (gated-GELU, untied head), small.
const V11 = { vocab_size: 2000, d_model: 48, d_kv: 20, d_ff: 96, num_layers: 2, num_decoder_layers: 1, num_heads: 3, feed_forward_proj: 'gated-gelu', tie_word_embeddings: false, dropout_rate: 0 };

/** HF _init_weights, written out per tensor from modeling_t5.py (transformers 5.18) with C=48, HS=20, NH=3, F=96. */
function hfStd(name: string, f: number): number {
  if (name === 'shared.weight' || name === 'lm_head.weight') return f;
  if (name.endsWith('.q.weight')) return f / Math.sqrt(48 * 20);
  if (name.endsWith('.k.weight') || name.endsWith('.v.weight')) return f / Math.sqrt(48);
  if (name.endsWith('.o.weight')) return f / Math.sqrt(3 * 20);
  if (name.endsWith('relative_attention_bias.weight')) return f / Math.sqrt(48);
  if (/\.wi(_[01])?\.weight$/.test(name)) return f / Math.sqrt(48);
  if (name.endsWith('.wo.weight')) return f / Math.sqrt(96);
  throw new Error(`no rule for ${name}`);
}

function moments(x: Float32Array): { mean: number; std: number } {
  let m = 0;
  for (const v of x) m += v;
  m /= x.length;
  let s = 0;
  for (const v of x) s += (v - m) ** 2;
  return { mean: m, std: Math.sqrt(s / x.length) };
}

describe('T5 initialisation (HF T5PreTrainedModel._init_weights)', () => {
  for (const factor of [1, 0.5]) {
    it(`every tensor's sample mean and std match the formula (initializer_factor ${factor})`, () => {
      const cfg = parseT5Config(V11);
      const w = initT5Weights(cfg, 11, factor);
      assert.deepEqual(Object.keys(w), t5TensorTable(cfg).map((r) => r.name));
      for (const [name, { shape, data }] of Object.entries(w)) {
        assert.equal(data.length, shape.reduce((a, b) => a * b, 1));
        if (name.endsWith('layer_norm.weight')) {
          assert.ok(data.every((v) => v === factor), name);
          continue;
        }
        const sigma = hfStd(name, factor);
        const { mean, std } = moments(data);
        // n normal draws: sd(mean) = σ/√n, sd(std) ≈ σ/√(2n); 5 of those.
        const n = data.length;
        assert.ok(Math.abs(mean) < (5 * sigma) / Math.sqrt(n), `${name}: mean ${mean} for σ=${sigma}, n=${n}`);
        assert.ok(Math.abs(std / sigma - 1) < 5 / Math.sqrt(2 * n), `${name}: std ${std} vs σ=${sigma}, n=${n}`);
        const rule = t5InitRule(name, cfg, factor);
        assert.ok(rule.kind === 'normal' && Math.abs(rule.std / sigma - 1) < 1e-12, name);
      }
    });
  }

  it('ReLU + tied config: wi/wo, no lm_head; seeds are reproducible and distinct per tensor', () => {
    const cfg = parseT5Config({ ...V11, feed_forward_proj: 'relu', tie_word_embeddings: true });
    const a = initT5Weights(cfg, 3), b = initT5Weights(cfg, 3), c = initT5Weights(cfg, 4);
    assert.ok(!('lm_head.weight' in a));
    assert.ok('encoder.block.0.layer.1.DenseReluDense.wi.weight' in a);
    assert.deepEqual(a['shared.weight']!.data, b['shared.weight']!.data);
    assert.notDeepEqual(a['shared.weight']!.data, c['shared.weight']!.data);
    const k = a['encoder.block.0.layer.0.SelfAttention.k.weight']!.data, v = a['encoder.block.0.layer.0.SelfAttention.v.weight']!.data;
    assert.notDeepEqual(k, v); // same shape and std, independent streams
  });

  it('new folder: config.json that parses back the same, bf16 weights softprompt loads as the fp32 init rounded', () => {
    const dir = path.join(ROOT, 'new');
    const r = writeNewT5Folder(dir, V11, { seed: 5, dtype: 'BF16', maxShardBytes: 100_000 });
    assert.ok(r.files.length > 2);
    const json = loadConfig(dir);
    assert.deepEqual(parseT5Config(json), r.config);
    assert.equal(json.initializer_factor, 1);
    assert.match(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'), /"initializer_factor": 1\.0,/);
    const store = openWeights(dir);
    const fp32 = initT5Weights(r.config, 5);
    for (const [name, { data }] of Object.entries(fp32)) {
      assert.equal(store.info(name).dtype, 'BF16');
      const got = store.getF32(name);
      for (let i = 0; i < data.length; i += 7) assert.ok(Math.abs(got[i]! - data[i]!) <= Math.abs(data[i]!) * 2 ** -8, name);
    }
    const model = T5Model.load(json, store);
    assert.equal(model.config.d_ff, 96);
  });

  it('configJsonText writes float fields as floats (transformers 5 checks their type)', () => {
    const text = configJsonText({ dropout_rate: 0, layer_norm_epsilon: 1e-6, initializer_factor: 2, d_model: 8 });
    assert.match(text, /"dropout_rate": 0\.0,/);
    assert.match(text, /"initializer_factor": 2\.0,/);
    assert.match(text, /"d_model": 8\n/);
    assert.deepEqual(JSON.parse(text), { dropout_rate: 0, layer_norm_epsilon: 1e-6, initializer_factor: 2, d_model: 8 });
  });

  it('bad configs are refused with the field named', () => {
    expectError(() => completeT5ConfigJson({ ...V11, initializer_factor: -1 }, 'cfg.json'), 'invalid_config', 'initializer_factor', 'cfg.json');
    expectError(() => completeT5ConfigJson({ ...V11, feed_forward_proj: 'gated-foo' }, 'cfg.json'), 'unsupported', 'feed_forward_proj');
    expectError(() => completeT5ConfigJson({ ...V11, model_type: 'bert' }, 'cfg.json'), 'unsupported', 'bert');
  });
});
