/**
 * T5 parity against the Hugging Face reference, for every T5 fixture folder in test/fixtures (conventions and
 * tolerances: test/fixtures/t5-tiny/README.md). Cases: plain, vanilla prompt tuning (PT), DePT, greedy generation.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openWeights } from '../../src/io/hf-folder.js';
import { T5Model } from '../../src/models/t5.js';
import { computePositionBias, relativePositionBucket } from '../../src/models/t5-position.js';
import type { Seq2SeqBatch } from '../../src/models/types.js';
import { expectClose, f32, type Fixture, goldenFixtures, i32, logitSummaries, shape, TOL } from './golden.js';


function checkLogits(prefix: string, fx: Fixture, logits: Float32Array, rows: number, V: number): void {
  const s = logitSummaries(logits, rows, V, i32(fx, 'vocab_probe_ids'));
  expectClose(`${prefix}.logits_probe`, s.probe, f32(fx, `${prefix}.logits_probe`), TOL.logits);
  expectClose(`${prefix}.logits_max`, s.max, f32(fx, `${prefix}.logits_max`), TOL.logits);
  expectClose(`${prefix}.logits_top1_minus_top2`, s.gap, f32(fx, `${prefix}.logits_top1_minus_top2`), TOL.logits);
  expectClose(`${prefix}.logits_logsumexp`, s.lse, f32(fx, `${prefix}.logits_logsumexp`), TOL.lse);
  expectClose(`${prefix}.logits_argmax`, s.argmax, i32(fx, `${prefix}.logits_argmax`), TOL.exact);
}

/** concat(P (l, C) broadcast over B, E (B, T, C)) along the sequence, and the extended mask. */
function prependPrompt(P: Float32Array, l: number, E: Float32Array, mask: Int32Array, B: number, T: number, C: number) {
  const X = new Float32Array(B * (l + T) * C);
  const M = new Float32Array(B * (l + T));
  for (let b = 0; b < B; b++) {
    X.set(P, b * (l + T) * C);
    X.set(E.subarray(b * T * C, (b + 1) * T * C), (b * (l + T) + l) * C);
    for (let t = 0; t < l + T; t++) M[b * (l + T) + t] = t < l ? 1 : mask[b * T + t - l]!;
  }
  return { X, M };
}

/** Sum over the batch of dX[:, rows] → (len, C). */
function sumRows(dX: Float32Array, B: number, Ttot: number, start: number, len: number, C: number): Float32Array {
  const g = new Float32Array(len * C);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < len; t++)
      for (let c = 0; c < C; c++) g[t * C + c] += dX[(b * Ttot + start + t) * C + c]!;
  return g;
}

const fixtures = goldenFixtures('t5');
test('t5 golden fixtures are present', () => {
  assert.ok(fixtures.some((f) => f.name === 't5-tiny'), 'test/fixtures/t5-tiny is missing');
});

for (const fx of fixtures) {
  describe(`t5 parity: ${fx.name}`, () => {
    const model = T5Model.load(fx.config, openWeights(join(fx.dir, 'model.safetensors')), join(fx.dir, 'config.json'));
    const C = model.config.d_model, V = model.config.vocab_size, NH = model.config.num_heads;
    const ids = i32(fx, 'input_ids');
    const [B, T] = shape(fx, 'input_ids') as [number, number];
    const mask = i32(fx, 'attention_mask');
    const labels = i32(fx, 'labels');
    const S = shape(fx, 'labels')[1]!;
    const E = model.embed(ids); // (B, T, C)

    test('relative position buckets and bias', () => {
      const nb = model.config.relative_attention_num_buckets, md = model.config.relative_attention_max_distance;
      for (const [name, bidi] of [['encoder', true], ['decoder', false]] as const) {
        const [q, k] = shape(fx, `rel_bias.${name}_buckets`) as [number, number];
        const buckets = new Int32Array(q * k);
        for (let i = 0; i < q; i++) for (let j = 0; j < k; j++) buckets[i * k + j] = relativePositionBucket(j - i, bidi, nb, md);
        expectClose(`rel_bias.${name}_buckets`, buckets, i32(fx, `rel_bias.${name}_buckets`), TOL.exact);
        const w = name === 'encoder' ? model.tensors.encRelBias : model.tensors.decRelBias;
        expectClose(`rel_bias.${name}`, computePositionBias(w, NH, q, k, 0, bidi, nb, md), f32(fx, `rel_bias.${name}`), TOL.gather);
      }
    });

    test('plain forward: hidden states, logits, loss', () => {
      const batch: Seq2SeqBatch = { B, Te: T, inputsEmbeds: E, encoderMask: Float32Array.from(mask), S, labels };
      const out = model.forward(batch, { keepLogits: true, outputHiddenStates: true });
      expectClose('plain.encoder_last_hidden_state', out.encoderOut, f32(fx, 'plain.encoder_last_hidden_state'), TOL.hidden);
      const stack = (xs: Float32Array[]) => { const r = new Float32Array(xs.reduce((n, x) => n + x.length, 0)); let o = 0; for (const x of xs) { r.set(x, o); o += x.length; } return r; };
      expectClose('plain.encoder_hidden_states', stack(out.encoderHiddenStates!), f32(fx, 'plain.encoder_hidden_states'), TOL.hidden);
      expectClose('plain.decoder_hidden_states', stack(out.decoderHiddenStates!), f32(fx, 'plain.decoder_hidden_states'), TOL.hidden);
      checkLogits('plain', fx, out.logits!, B * S, V);
      expectClose('plain.token_nll', out.tokenNll, f32(fx, 'plain.token_nll'), TOL.lse);
      expectClose('plain.loss', [out.loss], f32(fx, 'plain.loss'), TOL.lse);
    });

    test('prompt tuning: inputs_embeds, logits, loss, grad_P', () => {
      const P = f32(fx, 'pt.P');
      const l = shape(fx, 'pt.P')[0]!;
      const { X, M } = prependPrompt(P, l, E, mask, B, T, C);
      expectClose('pt.inputs_embeds', X, f32(fx, 'pt.inputs_embeds'), TOL.embeds);
      expectClose('pt.attention_mask', M, i32(fx, 'pt.attention_mask'), TOL.exact);
      const out = model.lossAndGrad({ B, Te: l + T, inputsEmbeds: X, encoderMask: M, S, labels }, { keepLogits: true });
      expectClose('pt.encoder_last_hidden_state', out.encoderOut, f32(fx, 'pt.encoder_last_hidden_state'), TOL.hidden);
      checkLogits('pt', fx, out.logits!, B * S, V);
      expectClose('pt.token_nll', out.tokenNll, f32(fx, 'pt.token_nll'), TOL.lse);
      expectClose('pt.loss', [out.loss], f32(fx, 'pt.loss'), TOL.lse);
      expectClose('pt.grad_P', sumRows(out.dInputsEmbeds, B, l + T, 0, l, C), f32(fx, 'pt.grad_P'), TOL.grad);
    });

    test('DePT: offset, inputs_embeds, logits, loss, grads of P, A, B, greedy generation', () => {
      const P = f32(fx, 'dept.P'), A = f32(fx, 'dept.A'), Bm = f32(fx, 'dept.B');
      const l = shape(fx, 'dept.P')[0]!;
      const [s, r] = shape(fx, 'dept.A') as [number, number];
      assert.equal(s, T, 'DePT fixture pads inputs to exactly s rows');
      const scaling = 8 / Math.sqrt(r);
      const offset = new Float32Array(s * C); // scaling * A @ B
      for (let i = 0; i < s; i++) for (let c = 0; c < C; c++) {
        let acc = 0;
        for (let k = 0; k < r; k++) acc += A[i * r + k]! * Bm[k * C + c]!;
        offset[i * C + c] = scaling * acc;
      }
      expectClose('dept.lora_offset', offset, f32(fx, 'dept.lora_offset'), TOL.embeds);
      const Eoff = E.slice();
      for (let b = 0; b < B; b++) for (let i = 0; i < s * C; i++) Eoff[b * s * C + i]! += offset[i]!;
      const { X, M } = prependPrompt(P, l, Eoff, mask, B, T, C);
      expectClose('dept.inputs_embeds', X, f32(fx, 'dept.inputs_embeds'), TOL.embeds);
      const out = model.lossAndGrad({ B, Te: l + T, inputsEmbeds: X, encoderMask: M, S, labels }, { keepLogits: true });
      expectClose('dept.encoder_last_hidden_state', out.encoderOut, f32(fx, 'dept.encoder_last_hidden_state'), TOL.hidden);
      checkLogits('dept', fx, out.logits!, B * S, V);
      expectClose('dept.token_nll', out.tokenNll, f32(fx, 'dept.token_nll'), TOL.lse);
      expectClose('dept.loss', [out.loss], f32(fx, 'dept.loss'), TOL.lse);
      expectClose('dept.grad_P', sumRows(out.dInputsEmbeds, B, l + T, 0, l, C), f32(fx, 'dept.grad_P'), TOL.grad);
      const dOff = sumRows(out.dInputsEmbeds, B, l + T, l, s, C); // dLoss/d(offset) (s, C)
      const gA = new Float32Array(s * r), gB = new Float32Array(r * C);
      for (let i = 0; i < s; i++) for (let k = 0; k < r; k++) {
        let acc = 0;
        for (let c = 0; c < C; c++) acc += dOff[i * C + c]! * Bm[k * C + c]!;
        gA[i * r + k] = scaling * acc;
      }
      for (let k = 0; k < r; k++) for (let c = 0; c < C; c++) {
        let acc = 0;
        for (let i = 0; i < s; i++) acc += A[i * r + k]! * dOff[i * C + c]!;
        gB[k * C + c] = scaling * acc;
      }
      expectClose('dept.grad_A', gA, f32(fx, 'dept.grad_A'), TOL.grad);
      expectClose('dept.grad_B', gB, f32(fx, 'dept.grad_B'), TOL.grad);

      const steps = shape(fx, 'dept.generated_ids')[1]!;
      const gen = model.generate(X, M, B, l + T, { maxNewTokens: steps, keepStepLogits: true });
      expectClose('dept.generated_ids', gen.ids, i32(fx, 'dept.generated_ids'), TOL.exact);
      const sm = logitSummaries(gen.stepLogits!, gen.steps * B, V, i32(fx, 'vocab_probe_ids'));
      expectClose('dept.gen_step_logits_probe', sm.probe, f32(fx, 'dept.gen_step_logits_probe'), TOL.logits);
      expectClose('dept.gen_step_logsumexp', sm.lse, f32(fx, 'dept.gen_step_logsumexp'), TOL.lse);
      expectClose('dept.gen_step_top1_minus_top2', sm.gap, f32(fx, 'dept.gen_step_top1_minus_top2'), TOL.logits);
      // batched == unbatched: each row alone gives the same ids
      for (let b = 0; b < B; b++) {
        const one = model.generate(X.subarray(b * (l + T) * C, (b + 1) * (l + T) * C), M.subarray(b * (l + T), (b + 1) * (l + T)), 1, l + T, { maxNewTokens: steps });
        const want = gen.ids.subarray(b * gen.steps, b * gen.steps + one.steps);
        assert.deepEqual([...one.ids], [...want], `row ${b} generated alone differs from the batch`);
      }
    });
  });
}
