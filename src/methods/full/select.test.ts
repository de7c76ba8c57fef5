import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelWeight } from '../../models/types.js';
import { decays, selectWeights } from './select.js';

const w = (name: string): ModelWeight => ({ name, shape: [1], data: new Float32Array(1), transposed: false });
const T5 = ['shared.weight', 'encoder.block.0.layer.0.SelfAttention.q.weight', 'encoder.block.0.layer.0.layer_norm.weight',
  'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', 'decoder.block.1.layer.2.DenseReluDense.wo.weight',
  'decoder.final_layer_norm.weight', 'lm_head.weight'].map(w);

describe('full fine-tuning: weight selection and decay', () => {
  it('no patterns: every weight; patterns match whole name segments', () => {
    assert.equal(selectWeights(T5, undefined).length, T5.length);
    assert.deepEqual(selectWeights(T5, ['encoder']).map((x) => x.name), T5.slice(1, 4).map((x) => x.name));
    assert.deepEqual(selectWeights(T5, ['decoder.block.1', 'lm_head']).map((x) => x.name), [T5[4]!.name, T5[6]!.name]);
    assert.deepEqual(selectWeights(T5, ['SelfAttention']).length, 2);
  });
  it('a pattern that matches nothing is an error naming it', () => {
    assert.throws(() => selectWeights(T5, ['q_proj']), /"q_proj" matches no weight/);
    assert.throws(() => selectWeights(T5, ['enc']), /"enc" matches no weight/);
  });
  it('decay as HF Trainer: not on biases or norms', () => {
    const names = ['transformer.h.0.ln_1.weight', 'transformer.h.0.ln_1.bias', 'transformer.ln_f.weight', 'transformer.h.0.attn.c_attn.bias',
      'model.layers.0.input_layernorm.weight', 'model.norm.weight', 'encoder.block.0.layer.0.layer_norm.weight',
      'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight'];
    for (const n of names) assert.equal(decays(n), false, n);
    for (const n of ['shared.weight', 'transformer.h.0.attn.c_attn.weight', 'model.layers.0.self_attn.q_proj.weight', 'lm_head.weight']) assert.equal(decays(n), true, n);
  });
});
