/**
 * T5 beyond the golden fixture: finite-difference gradient checks on small random configs (ReLU + tied head,
 * gated-GELU + untied head, gated-SiLU), generation consistency, and the loading errors a user can hit.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { bf16Available } from '../engine/index.js';
import { SoftpromptError } from '../errors.js';
import { loadModel } from './registry.js';
import { T5Model, loadT5Weights, parseT5Config, t5TensorTable, type T5Config } from './t5.js';
import type { Seq2SeqBatch, WeightSource } from './types.js';
import { expectError } from '../../test/expect-error.js';
import { editedCopy, finiteDifferenceError } from '../../test/model-checks.js';
import { fixture } from '../../test/paths.js';

const TINY = fixture('t5-tiny');

/** Seeded normal weights for every tensor of `cfg` (norm weights around 1). */
function randomWeights(cfg: T5Config, seed: number): WeightSource {
  const shapes = new Map(t5TensorTable(cfg).map((r) => [r.name, r.shape]));
  let s = seed;
  const u = () => { s = (s * 1664525 + 1013904223) >>> 0; return (s + 0.5) / 4294967296; };
  const normal = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return {
    has: (n) => shapes.has(n),
    getF32Checked: (name, shape) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const out = new Float32Array(n);
      const std = name.includes('layer_norm') ? 0.1 : name.includes('relative_attention_bias') ? 0.5 : 1 / Math.sqrt(shape[shape.length - 1]!);
      for (let i = 0; i < n; i++) out[i] = (name.includes('layer_norm') ? 1 : 0) + std * normal();
      return out;
    },
  };
}

function tinyConfig(over: Record<string, unknown>): T5Config {
  return parseT5Config({ model_type: 't5', vocab_size: 50, d_model: 16, d_kv: 4, d_ff: 24, num_layers: 2, num_decoder_layers: 2, num_heads: 4, dropout_rate: 0, ...over });
}

function randomBatch(model: T5Model, seed: number): Seq2SeqBatch {
  const B = 2, Te = 7, S = 3, C = model.config.d_model;
  let s = seed;
  const u = () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 4294967296; };
  const inputsEmbeds = Float32Array.from({ length: B * Te * C }, () => u() * 2 - 1);
  const encoderMask = Float32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
  const labels = Int32Array.from([5, 9, 1, 7, 1, -100]);
  return { B, Te, inputsEmbeds, encoderMask, S, labels };
}

const CASES: [string, Record<string, unknown>][] = [
  ['relu, tied head', { feed_forward_proj: 'relu', tie_word_embeddings: true }],
  ['gated-gelu, untied head', { feed_forward_proj: 'gated-gelu', tie_word_embeddings: false }],
  ['gated-silu, untied head, 3+1 layers', { feed_forward_proj: 'gated-silu', tie_word_embeddings: false, num_layers: 3, num_decoder_layers: 1 }],
  // num_heads × d_kv ≠ d_model, as in flan-t5-small (6 × 64 = 384 vs 512)
  ['gated-gelu, heads × d_kv = 24 ≠ d_model = 16', { feed_forward_proj: 'gated-gelu', tie_word_embeddings: false, d_kv: 6 }],
];

describe('T5 backward to inputs_embeds vs central finite differences', () => {
  for (const [name, over] of CASES) {
    test(name, () => {
      const cfg = tinyConfig(over);
      const model = new T5Model(cfg, loadT5Weights(cfg, randomWeights(cfg, 7)));
      const batch = randomBatch(model, 3);
      const { loss, dInputsEmbeds } = model.lossAndGrad(batch);
      assert.ok(Number.isFinite(loss));
      let maxG = 0;
      for (const g of dInputsEmbeds) maxG = Math.max(maxG, Math.abs(g));
      assert.ok(maxG > 1e-4, 'gradient should not vanish');
      // 40 coordinates spread over both examples, including padded positions (their gradient must be ~0)
      // small step: ReLU kinks near a pre-activation of 0 break wider central differences
      const eps = name.startsWith("relu") ? 5e-4 : 3e-3;
      const worst = finiteDifferenceError(() => model.forward(batch).loss, batch.inputsEmbeds, dInputsEmbeds, eps);
      console.log(`  ${name}: max |analytic - FD| / max|grad| = ${worst.toExponential(2)}`);
      // smooth activations agree to ~1e-4; with ReLU a probe can straddle a kink, so it gets a looser bound
      assert.ok(worst < (name.startsWith('relu') ? 1e-2 : 1e-3), `finite-difference mismatch ${worst}`);
      // padded encoder positions are masked keys: no gradient reaches them
      const C = cfg.d_model;
      for (let t = 4; t < 7; t++) for (let c = 0; c < C; c++) assert.ok(Math.abs(dInputsEmbeds[(7 + t) * C + c]!) < 1e-7);
    });
  }
});

test('greedy generation with the KV cache equals re-running the decoder on the whole prefix', () => {
  const cfg = tinyConfig({ feed_forward_proj: 'gated-gelu', tie_word_embeddings: false, d_kv: 6 });
  const model = new T5Model(cfg, loadT5Weights(cfg, randomWeights(cfg, 11)));
  const batch = randomBatch(model, 5);
  const gen = model.generate(batch.inputsEmbeds, batch.encoderMask, 2, 7, { maxNewTokens: 6 });
  for (let b = 0; b < 2; b++) {
    const prefix: number[] = [];
    for (let t = 0; t < gen.steps; t++) {
      // teacher-force the prefix generated so far and take the argmax at its last position
      const S = t + 1;
      const labels = new Int32Array(S);
      labels.set(prefix.concat([0]).slice(0, S));
      const one: Seq2SeqBatch = {
        B: 1, Te: 7, S, labels,
        inputsEmbeds: batch.inputsEmbeds.subarray(b * 7 * 16, (b + 1) * 7 * 16), encoderMask: batch.encoderMask.subarray(b * 7, (b + 1) * 7),
      };
      const out = model.forward(one, { keepLogits: true });
      const row = out.logits!.subarray(t * cfg.vocab_size, (t + 1) * cfg.vocab_size);
      let best = 0;
      for (let j = 1; j < row.length; j++) if (row[j]! > row[best]!) best = j;
      const got = gen.ids[b * gen.steps + t]!;
      if (prefix.includes(cfg.eos_token_id)) { assert.equal(got, cfg.pad_token_id); continue; }
      assert.equal(got, best, `row ${b} step ${t}`);
      prefix.push(got);
    }
  }
});



describe('loading errors name the file and the tensor or field', () => {
  test('unknown feed_forward_proj', () => {
    expectError(() => loadModel(editedCopy(TINY, { config: { feed_forward_proj: 'gated-swishy' } })), 'unsupported', 'feed_forward_proj', 'config.json', 'gated-swishy');
  });
  test('missing tensor', () => {
    const name = 'encoder.block.1.layer.1.DenseReluDense.wo.weight';
    expectError(() => loadModel(editedCopy(TINY, { drop: name })), 'missing_tensor', name, 'model.safetensors');
  });
  test('shape that disagrees with config.json', () => {
    expectError(() => loadModel(editedCopy(TINY, { config: { d_ff: 96 } })), 'shape_mismatch', 'DenseReluDense.wi.weight', 'model.safetensors', '96');
  });
  test('truncated model.safetensors', () => {
    const dir = editedCopy(TINY, {});
    const file = join(dir, 'model.safetensors');
    truncateSync(file, statSync(file).size - 1000);
    expectError(() => loadModel(dir), 'malformed_file', 'model.safetensors');
  });
  test('model_type that is not T5', () => {
    expectError(() => loadModel(editedCopy(TINY, { config: { model_type: 'bert' } })), 'unsupported', 'bert', 'config.json');
  });
});

test('absorbed cross-attention equals the standard K/V projection form (loss, dInputsEmbeds; dropout on)', () => {
  const cfg = tinyConfig({ feed_forward_proj: 'gated-gelu', tie_word_embeddings: false, d_kv: 8, dropout_rate: 0.1 });
  const model = new T5Model(cfg, loadT5Weights(cfg, randomWeights(cfg, 5)));
  const batch = randomBatch(model, 9);
  const run = (mode: 'standard' | 'absorbed', train: boolean) => {
    model.crossAttention = mode;
    const r = model.lossAndGrad(batch, { train, seed: 1234 });
    return { loss: r.loss, grad: r.dInputsEmbeds };
  };
  for (const train of [false, true]) {
    const a = run('standard', train), b = run('absorbed', train);
    assert.ok(Math.abs(a.loss - b.loss) < 1e-5 * Math.abs(a.loss), `loss ${a.loss} vs ${b.loss}`);
    let d = 0, m = 0;
    for (let i = 0; i < a.grad.length; i++) { d = Math.max(d, Math.abs(a.grad[i]! - b.grad[i]!)); m = Math.max(m, Math.abs(a.grad[i]!)); }
    assert.ok(d < 1e-4 * m, `dInputsEmbeds differ by ${d} (max ${m}), train=${train}`);
  }
  model.crossAttention = 'auto';
});

test('bf16 weights: keepFp32 leaves the named tensors fp32 (trainable masters) and the rest bf16', { skip: bf16Available() ? false : 'no native bf16 on this CPU' }, () => {
  const cfg = parseT5Config({ model_type: 't5', vocab_size: 40, d_model: 16, d_kv: 4, d_ff: 24, num_layers: 1, num_heads: 4, dropout_rate: 0 });
  const keep = new Set(['encoder.block.0.layer.1.DenseReluDense.wo.weight', 'decoder.block.0.layer.0.SelfAttention.k.weight']);
  const w = loadT5Weights(cfg, randomWeights(cfg, 3), 'bf16', (n) => keep.has(n));
  assert.ok(w.encoder[0]!.ffn.wo instanceof Float32Array, 'kept: fp32');
  assert.ok(!(w.encoder[0]!.ffn.wi instanceof Float32Array), 'not kept: bf16');
  assert.ok(w.decoder[0]!.selfAttn.qkv instanceof Float32Array, 'one kept q/k/v keeps its fused projection fp32');
  assert.ok(!(w.decoder[0]!.selfAttn.o instanceof Float32Array));
  assert.ok(!(w.lmHead instanceof Float32Array) && w.shared instanceof Uint16Array);
  // the mixed model runs: fp32 GEMMs for the kept tensors, oneDNN for the rest
  const model = new T5Model(cfg, w);
  assert.equal(model.precision, 'bf16');
  const B = 2, Te = 5, S = 3;
  const out = model.forward({ B, Te, inputsEmbeds: model.embed(Int32Array.from({ length: B * Te }, (_, i) => (i * 7) % 40)), encoderMask: new Float32Array(B * Te).fill(1), S, labels: Int32Array.from({ length: B * S }, (_, i) => (i * 3) % 40) });
  assert.ok(Number.isFinite(out.loss) && out.loss > 0);
});
