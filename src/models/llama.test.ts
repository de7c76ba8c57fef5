/**
 * LLaMA beyond the golden fixture: RoPE algebra, finite-difference gradient checks on small random GQA/MQA
 * configs, KV-cache generation against recomputation, batched against unbatched generation, config parsing and
 * the loading errors a user can hit.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, openWeights } from '../io/hf-folder.js';
import { LlamaModel, llamaTensorTable, loadLlamaWeights, parseLlamaConfig, type LlamaConfig } from './llama.js';
import { Rope, ropeInvFreq } from './rope.js';
import type { CausalBatch, ForwardOptions, WeightSource } from './types.js';
import { expectError } from '../../test/expect-error.js';
import { fixture } from '../../test/paths.js';
import { editedCopy, finiteDifferenceError } from '../../test/model-checks.js';

const TINY = fixture('llama-tiny');

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return (s + 0.5) / 4294967296; };
}

/** Seeded normal weights for every tensor of `cfg` (norm weights around 1). */
function randomWeights(cfg: LlamaConfig, seed: number): WeightSource {
  const shapes = new Map(llamaTensorTable(cfg).map((r) => [r.name, r.shape]));
  const u = lcg(seed);
  const normal = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return {
    has: (n) => shapes.has(n),
    getF32Checked: (name, shape) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const norm = name.endsWith('norm.weight');
      const std = norm ? 0.1 : name.includes('embed_tokens') ? 1 : 1 / Math.sqrt(shape[shape.length - 1]!);
      return Float32Array.from({ length: n }, () => (norm ? 1 : 0) + std * normal());
    },
  };
}

function tinyConfig(over: Record<string, unknown> = {}): LlamaConfig {
  return parseLlamaConfig({
    model_type: 'llama', vocab_size: 40, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, head_dim: 6, rms_norm_eps: 1e-6, pad_token_id: 0, eos_token_id: null,
    ...over,
  });
}

function tinyModel(over: Record<string, unknown> = {}, seed = 7): LlamaModel {
  const cfg = tinyConfig(over);
  return new LlamaModel(cfg, loadLlamaWeights(cfg, randomWeights(cfg, seed)));
}

/** B=2, T=7; row 1 is right-padded after 4 tokens. */
function randomBatch(C: number, seed: number): CausalBatch {
  const B = 2, T = 7, u = lcg(seed);
  return {
    B, T,
    inputsEmbeds: Float32Array.from({ length: B * T * C }, () => u() * 2 - 1),
    attentionMask: Float32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]),
    labels: Int32Array.from([-100, -100, -100, 5, 9, 1, 7, -100, 3, 8, 2, -100, -100, -100]),
  };
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!; return s; };

describe('RoPE', () => {
  const HS = 8, heads = 3, stride = 30, rows = 5; // 3 rotated heads (24 values) + 6 untouched values per row
  const rope = Rope.fromParams(HS, { type: 'default', theta: 10000 });
  const positions = Int32Array.from([0, 1, 7, 31, 100]);
  const rand = (seed: number) => { const u = lcg(seed); return Float64Array.from({ length: rows * stride }, () => u() * 2 - 1); };

  test('rotation preserves every head\'s norm, leaves the rest of the row alone, is the identity at position 0', () => {
    const x0 = Float32Array.from(rand(1)), x = x0.slice();
    rope.apply(x, positions, heads, stride);
    for (let r = 0; r < rows; r++) {
      for (let h = 0; h < heads; h++) {
        const o = r * stride + h * HS;
        const n0 = dot(x0.subarray(o, o + HS), x0.subarray(o, o + HS)), n1 = dot(x.subarray(o, o + HS), x.subarray(o, o + HS));
        assert.ok(Math.abs(n1 - n0) < 1e-5 * n0, `row ${r} head ${h}: |x|² ${n0} -> ${n1}`);
      }
      for (let i = heads * HS; i < stride; i++) assert.equal(x[r * stride + i], x0[r * stride + i]);
    }
    for (let i = 0; i < heads * HS; i++) assert.equal(x[i], x0[i]);
    assert.notEqual(x[stride], x0[stride]);
  });

  test('backward is the adjoint: <R x, y> = <x, Rᵀ y>, and Rᵀ R = I', () => {
    const x = Float32Array.from(rand(2)), y = Float32Array.from(rand(3));
    const Rx = x.slice(), RTy = y.slice();
    rope.apply(Rx, positions, heads, stride);
    rope.apply(RTy, positions, heads, stride, true);
    const lhs = dot(Rx, y), rhs = dot(x, RTy);
    assert.ok(Math.abs(lhs - rhs) < 1e-5 * Math.sqrt(dot(x, x) * dot(y, y)), `${lhs} vs ${rhs}`);
    const back = Rx.slice();
    rope.apply(back, positions, heads, stride, true);
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(back[i]! - x[i]!) < 1e-5);
  });

  test('linear and llama3 frequency scaling', () => {
    const base = ropeInvFreq(64, { type: 'default', theta: 500000 });
    const lin = ropeInvFreq(64, { type: 'linear', theta: 500000, factor: 4 });
    for (let i = 0; i < 32; i++) assert.equal(lin[i], Math.fround(base[i]! / 4));
    // Llama 3.2 parameters: wavelengths below 8192/4 kept, above 8192/1 divided by 32, smooth in between
    const l3 = ropeInvFreq(64, { type: 'llama3', theta: 500000, factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    let kept = 0, divided = 0, medium = 0;
    for (let i = 0; i < 32; i++) {
      const wavelen = (2 * Math.PI) / base[i]!;
      if (wavelen < 2048) { assert.equal(l3[i], base[i]); kept++; } else if (wavelen > 8192) { assert.equal(l3[i], Math.fround(base[i]! / 32)); divided++; } else {
        assert.ok(l3[i]! < base[i]! && l3[i]! > base[i]! / 32, `medium frequency ${i}`);
        medium++;
      }
    }
    assert.ok(kept > 0 && divided > 0 && medium > 0, `${kept} kept, ${divided} divided, ${medium} smoothed`);
  });
});

const FD_CASES: [string, Record<string, unknown>, ForwardOptions, boolean][] = [
  ['GQA 4 heads / 2 kv heads, head_dim 6 (NH·HS = 24 ≠ C = 16), untied head', {}, {}, false],
  ['MQA (1 kv head), tied head, llama3 rope, explicit position ids', {
    num_key_value_heads: 1, tie_word_embeddings: true, rope_theta: 500000,
    rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 },
  }, {}, true],
  ['attention_dropout 0.2 in training mode (fixed seed)', { attention_dropout: 0.2 }, { train: true, seed: 42 }, false],
];

describe('LLaMA backward to inputs_embeds vs central finite differences', () => {
  for (const [name, over, opts, withPositions] of FD_CASES) {
    test(name, () => {
      const model = tinyModel(over);
      const C = model.config.hidden_size;
      const batch = randomBatch(C, 3);
      if (withPositions) batch.positionIds = Int32Array.from([3, 4, 5, 6, 7, 8, 9, 0, 2, 4, 6, 0, 0, 0]);
      const { loss, dInputsEmbeds } = model.lossAndGrad(batch, opts);
      assert.ok(Number.isFinite(loss));
      const again = model.forward(batch, opts).loss;
      assert.equal(again, loss, 'forward is deterministic for a fixed seed');
      let maxG = 0;
      for (const g of dInputsEmbeds) maxG = Math.max(maxG, Math.abs(g));
      assert.ok(maxG > 1e-4, 'gradient should not vanish');
      const eps = 3e-3;
      const worst = finiteDifferenceError(() => model.forward(batch, opts).loss, batch.inputsEmbeds, dInputsEmbeds, eps);
      console.log(`  ${name}: max |analytic - FD| / max|grad| = ${worst.toExponential(2)}`);
      assert.ok(worst < 1e-3, `finite-difference mismatch ${worst}`);
      // row 1's padded positions are masked keys with ignored labels, and the last position predicts nothing
      for (let t = 4; t < 7; t++) for (let c = 0; c < C; c++) assert.equal(dInputsEmbeds[(7 + t) * C + c], 0);
      for (let c = 0; c < C; c++) assert.equal(dInputsEmbeds[6 * C + c], 0);
    });
  }
});

/** Three prompts of lengths 5, 3 (right-padded) and 4 (left-padded) in one (3, 5) batch. */
function mixedPrompts(model: LlamaModel) {
  const C = model.config.hidden_size, T = 5, u = lcg(17);
  const masks = [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 1, 1, 1, 1]];
  const X = Float32Array.from({ length: 3 * T * C }, () => u() * 2 - 1);
  const M = Float32Array.from(masks.flat());
  /** the real rows of prompt b alone */
  const alone = (b: number) => {
    const rows = masks[b]!.flatMap((m, t) => (m ? [t] : []));
    const x = new Float32Array(rows.length * C);
    rows.forEach((t, i) => x.set(X.subarray((b * T + t) * C, (b * T + t + 1) * C), i * C));
    return x;
  };
  return { X, M, T, B: 3, alone };
}

describe('generation', () => {
  const model = tinyModel({}, 11);
  const C = model.config.hidden_size, V = model.config.vocab_size;
  const { X, M, T, B, alone } = mixedPrompts(model);
  const steps = 6;
  const gen = model.generate(X, M, B, T, { maxNewTokens: steps, keepStepLogits: true });

  test('KV-cache decoding equals re-running the model on the whole prefix', () => {
    assert.equal(gen.steps, steps);
    for (let b = 0; b < B; b++) {
      const prompt = alone(b), n = prompt.length / C;
      for (let k = 0; k < steps; k++) {
        // prompt + the k tokens generated so far, one forward without cache; argmax at the last position
        const Tk = n + k;
        const x = new Float32Array(Tk * C);
        x.set(prompt);
        if (k > 0) x.set(model.embed(gen.ids.subarray(b * steps, b * steps + k)), n * C);
        const out = model.forward({ B: 1, T: Tk, inputsEmbeds: x, attentionMask: new Float32Array(Tk).fill(1), labels: new Int32Array(Tk).fill(-100) }, { keepLogits: true });
        const row = out.logits!.subarray((Tk - 1) * V, Tk * V);
        const cached = gen.stepLogits!.subarray((k * B + b) * V, (k * B + b + 1) * V);
        let best = 0, diff = 0;
        for (let j = 0; j < V; j++) { if (row[j]! > row[best]!) best = j; diff = Math.max(diff, Math.abs(row[j]! - cached[j]!)); }
        assert.equal(gen.ids[b * steps + k], best, `row ${b} step ${k}`);
        assert.ok(diff < 1e-4, `row ${b} step ${k}: cached logits differ by ${diff}`);
      }
    }
  });

  test('batched (left- and right-padded) equals each prompt alone', () => {
    for (let b = 0; b < B; b++) {
      const x = alone(b), n = x.length / C;
      const one = model.generate(x, new Float32Array(n).fill(1), 1, n, { maxNewTokens: steps, keepStepLogits: true });
      assert.deepEqual([...one.ids], [...gen.ids.subarray(b * steps, (b + 1) * steps)], `row ${b}`);
      let diff = 0;
      for (let k = 0; k < steps; k++)
        for (let j = 0; j < V; j++) diff = Math.max(diff, Math.abs(one.stepLogits![k * V + j]! - gen.stepLogits![(k * B + b) * V + j]!));
      assert.ok(diff < 1e-5, `row ${b}: logits differ by ${diff}`);
    }
  });

  test('eosId stops a row and pads it; generation ends when every row has stopped', () => {
    const eos = gen.ids[1]!; // row 0's second token
    const out = model.generate(X, M, B, T, { maxNewTokens: steps, eosId: eos });
    for (let b = 0; b < B; b++) {
      const row = [...out.ids.subarray(b * out.steps, (b + 1) * out.steps)];
      const want = [...gen.ids.subarray(b * steps, b * steps + out.steps)];
      const stop = want.indexOf(eos);
      for (let k = 0; k < out.steps; k++) assert.equal(row[k], stop >= 0 && k > stop ? model.info.padId : want[k], `row ${b} step ${k}`);
    }
    const single = model.generate(alone(0), new Float32Array(5).fill(1), 1, 5, { maxNewTokens: steps, eosId: eos });
    assert.equal(single.steps, 2);
    assert.deepEqual([...single.ids], [gen.ids[0], eos]);
  });

  test('bad arguments', () => {
    expectError(() => model.generate(X, M, B, T, { maxNewTokens: 0 }), 'invalid_config', 'maxNewTokens');
    expectError(() => model.generate(X, new Float32Array(B * T), B, T, { maxNewTokens: 2 }), 'invalid_data', 'no unmasked position');
    expectError(() => model.generate(X, M, B, T + 1, { maxNewTokens: 2 }), 'shape_mismatch', 'inputsEmbeds');
    const batch = randomBatch(C, 1);
    batch.labels[3] = V;
    expectError(() => model.forward(batch), 'invalid_data', `Label ${V}`);
  });
});

describe('config.json parsing', () => {
  test('defaults, transformers 4 (rope_theta + rope_scaling) and 5 (rope_parameters) styles, eos lists', () => {
    const d = parseLlamaConfig({ model_type: 'llama', hidden_size: 64, num_attention_heads: 4 });
    assert.equal(d.num_key_value_heads, 4);
    assert.equal(d.head_dim, 16);
    assert.deepEqual(d.rope, { type: 'default', theta: 10000 });
    assert.deepEqual(d.eos_token_id, [2]);
    assert.equal(d.pad_token_id, null);
    const v4 = parseLlamaConfig({ rope_theta: 500000, eos_token_id: [128001, 128009], pad_token_id: null, rope_scaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } });
    assert.deepEqual(v4.rope, { type: 'llama3', theta: 500000, factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    const m = new LlamaModel(tinyConfig({ eos_token_id: [7, 9], pad_token_id: null }), loadLlamaWeights(tinyConfig(), randomWeights(tinyConfig(), 1)));
    assert.equal(m.info.eosId, 7);
    assert.equal(m.info.padId, 7);
    const v5 = parseLlamaConfig(JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8')));
    assert.deepEqual(v5.rope, { type: 'default', theta: 10000 });
    assert.equal(v5.eos_token_id, null);
    assert.equal(parseLlamaConfig({ rope_parameters: { rope_type: 'linear', rope_theta: 1000, factor: 2 } }).rope.type, 'linear');
  });

  test('invalid and unsupported values name config.json and the field', () => {
    expectError(() => parseLlamaConfig({ rope_scaling: { type: 'yarn', factor: 4 } }), 'unsupported', 'rope_scaling', 'yarn', 'config.json', 'llama3');
    expectError(() => parseLlamaConfig({ rope_parameters: { rope_type: 'dynamic', rope_theta: 1e4 } }), 'unsupported', 'rope_parameters', 'dynamic');
    expectError(() => parseLlamaConfig({ rope_scaling: { rope_type: 'llama3', factor: 8 } }), 'invalid_config', 'low_freq_factor', 'config.json');
    expectError(() => parseLlamaConfig({ hidden_act: 'gelu' }), 'unsupported', 'hidden_act', 'gelu', 'config.json');
    expectError(() => parseLlamaConfig({ attention_bias: true }), 'unsupported', 'attention_bias');
    expectError(() => parseLlamaConfig({ num_attention_heads: 4, num_key_value_heads: 3 }), 'invalid_config', 'num_key_value_heads', 'config.json');
    expectError(() => parseLlamaConfig({ hidden_size: 30, num_attention_heads: 4 }), 'invalid_config', 'hidden_size');
    expectError(() => parseLlamaConfig({ head_dim: 7 }), 'invalid_config', 'head_dim');
    expectError(() => parseLlamaConfig({ vocab_size: 0 }), 'invalid_config', 'vocab_size');
    expectError(() => parseLlamaConfig({ model_type: 'gpt2' }), 'unsupported', 'gpt2', 'config.json');
  });
});


const loadDir = (dir: string) => LlamaModel.load(loadConfig(dir), openWeights(dir), join(dir, 'config.json'));

describe('loading errors name the file and the tensor or field', () => {
  test('the unedited copy loads', () => {
    assert.equal(loadDir(editedCopy(TINY, {})).info.architecture, 'llama');
  });
  test('missing tensor', () => {
    const name = 'model.layers.1.mlp.down_proj.weight';
    expectError(() => loadDir(editedCopy(TINY, { drop: name })), 'missing_tensor', name, 'model.safetensors');
  });
  test('missing lm_head when the config says untied', () => {
    expectError(() => loadDir(editedCopy(TINY, { drop: 'lm_head.weight' })), 'missing_tensor', 'lm_head.weight', 'model.safetensors');
  });
  test('shape that disagrees with config.json (intermediate_size)', () => {
    expectError(() => loadDir(editedCopy(TINY, { config: { intermediate_size: 96 } })), 'shape_mismatch', 'model.layers.0.mlp.gate_proj.weight', 'model.safetensors', '96');
  });
  test('shape that disagrees with config.json (num_key_value_heads)', () => {
    const err = expectError(() => loadDir(editedCopy(TINY, { config: { num_key_value_heads: 4 } })), 'shape_mismatch', 'model.layers.0.self_attn.k_proj.weight', 'model.safetensors');
    assert.ok(err.hint?.includes('num_key_value_heads=4'), err.hint);
  });
  test('unsupported rope type', () => {
    expectError(() => loadDir(editedCopy(TINY, { config: { rope_parameters: { rope_type: 'yarn', rope_theta: 10000, factor: 4 } } })), 'unsupported', 'yarn', 'config.json');
  });
});
