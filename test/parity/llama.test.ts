/**
 * LLaMA parity against the Hugging Face reference, for every LLaMA fixture folder in test/fixtures (conventions
 * and tolerances: test/fixtures/llama-tiny/README.md). Cases: RoPE tables, plain forward, vanilla prompt tuning
 * (PT), DePT (through src/methods, as methods.test.ts does for T5), greedy generation with the KV cache.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openWeights } from '../../src/io/hf-folder.js';
import { LlamaModel } from '../../src/models/llama.js';
import { Dept, validateDeptConfig } from '../../src/methods/dept/index.js';
import { PromptTuning, validatePromptTuningConfig } from '../../src/methods/prompt-tuning/index.js';
import type { CausalOutput } from '../../src/models/types.js';
import { causalNllFromLogits, expectClose, f32, type Fixture, goldenFixtures, i32, logitSummaries, shape, TOL, withPromptLabels } from './golden.js';




function checkOutput(prefix: string, fx: Fixture, out: CausalOutput, labels: Int32Array, B: number, T: number, V: number): void {
  const golden = f32(fx, `${prefix}.logits`);
  expectClose(`${prefix}.logits`, out.logits!, golden, TOL.logits);
  expectClose(`${prefix}.logits argmax`, logitSummaries(out.logits!, B * T, V).argmax, logitSummaries(golden, B * T, V).argmax, TOL.exact);
  expectClose(`${prefix}.token_nll (from golden logits)`, out.tokenNll, causalNllFromLogits(golden, labels, B, T, V), TOL.lse);
  expectClose(`${prefix}.loss`, [out.loss], f32(fx, `${prefix}.loss`), TOL.lse);
}

const stack = (xs: Float32Array[]) => {
  const r = new Float32Array(xs.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of xs) { r.set(x, o); o += x.length; }
  return r;
};

const fixtures = goldenFixtures('llama');
test('llama golden fixtures are present', () => {
  assert.ok(fixtures.some((f) => f.name === 'llama-tiny'), 'test/fixtures/llama-tiny is missing');
});

for (const fx of fixtures) {
  describe(`llama parity: ${fx.name}`, () => {
    const model = LlamaModel.load(fx.config, openWeights(join(fx.dir, 'model.safetensors')), join(fx.dir, 'config.json'));
    const C = model.config.hidden_size, V = model.config.vocab_size, HS = model.config.head_dim;
    const ids = i32(fx, 'input_ids');
    const [B, T] = shape(fx, 'input_ids') as [number, number];
    const mask = Float32Array.from(i32(fx, 'attention_mask'));
    const labels = i32(fx, 'labels');
    const E = model.embed(ids); // (B, T, C)
    const dept = fx.json['dept'] as { l: number; r: number; lora_alpha: number };

    test(`${fx.name}: RoPE inv_freq, cos, sin`, () => {
      expectClose('rope.inv_freq', model.rope.invFreq, f32(fx, 'rope.inv_freq'), TOL.gather);
      const [P] = shape(fx, 'rope.cos') as [number];
      const { cos, sin } = model.rope.tables(P); // (P, HS/2); HF's emb = cat(freqs, freqs) repeats the halves
      const full = (x: Float32Array) => {
        const out = new Float32Array(P * HS);
        for (let p = 0; p < P; p++) for (let i = 0; i < HS; i++) out[p * HS + i] = x[p * (HS / 2) + (i % (HS / 2))]!;
        return out;
      };
      const tol = { kind: 'abs', atol: 1e-6, rtol: 0 } as const;
      expectClose('rope.cos', full(cos), f32(fx, 'rope.cos'), tol);
      expectClose('rope.sin', full(sin), f32(fx, 'rope.sin'), tol);
    });

    test(`${fx.name}: plain forward: hidden states, logits, token nll, loss`, () => {
      const out = model.forward({ B, T, inputsEmbeds: E, attentionMask: mask, labels }, { keepLogits: true, outputHiddenStates: true });
      const hs = out.hiddenStates!;
      assert.equal(hs.length, model.config.num_hidden_layers + 1);
      expectClose('plain.hidden_states', stack(hs), f32(fx, 'plain.hidden_states'), TOL.hidden);
      expectClose('plain.last_hidden_state', hs[hs.length - 1]!, f32(fx, 'plain.last_hidden_state'), TOL.hidden);
      checkOutput('plain', fx, out, labels, B, T, V);
      assert.equal(out.numTokens, 6);
    });

    test(`${fx.name}: prompt tuning: inputs_embeds, mask, labels, logits, loss, grad_P`, () => {
      const l = shape(fx, 'pt.P')[0]!;
      const pt = new PromptTuning(validatePromptTuningConfig({ numVirtualTokens: l }), C, f32(fx, 'pt.P'));
      const x = pt.apply(E, mask, B, T);
      const lab = withPromptLabels(labels, B, T, l);
      expectClose('pt.inputs_embeds', x.inputsEmbeds, f32(fx, 'pt.inputs_embeds'), TOL.embeds);
      expectClose('pt.attention_mask', x.mask, i32(fx, 'pt.attention_mask'), TOL.exact);
      expectClose('pt.labels', lab, i32(fx, 'pt.labels'), TOL.exact);
      const out = model.lossAndGrad({ B, T: x.Te, inputsEmbeds: x.inputsEmbeds, attentionMask: x.mask, labels: lab }, { keepLogits: true });
      checkOutput('pt', fx, out, lab, B, x.Te, V);
      pt.backward(out.dInputsEmbeds, B, T);
      expectClose('pt.grad_P', pt.prompt.grad, f32(fx, 'pt.grad_P'), TOL.grad);
    });

    test(`${fx.name}: DePT: offset, inputs_embeds, mask, labels, logits, loss, grads of P, A, B`, () => {
      const [l] = shape(fx, 'dept.P') as [number];
      const [s, r] = shape(fx, 'dept.A') as [number, number];
      assert.equal(s, T, 'DePT fixture pads inputs to exactly s rows');
      const m = new Dept(validateDeptConfig({ numVirtualTokens: l, rank: r, maxLength: s, loraAlpha: dept.lora_alpha }), C,
        f32(fx, 'dept.P'), f32(fx, 'dept.A'), f32(fx, 'dept.B'));
      expectClose('dept.lora_offset', m.offset(s), f32(fx, 'dept.lora_offset'), TOL.embeds);
      const x = m.apply(E, mask, B, T);
      const lab = withPromptLabels(labels, B, T, l);
      expectClose('dept.inputs_embeds', x.inputsEmbeds, f32(fx, 'dept.inputs_embeds'), TOL.embeds);
      expectClose('dept.attention_mask', x.mask, i32(fx, 'dept.attention_mask'), TOL.exact);
      expectClose('dept.labels', lab, i32(fx, 'dept.labels'), TOL.exact);
      const out = model.lossAndGrad({ B, T: x.Te, inputsEmbeds: x.inputsEmbeds, attentionMask: x.mask, labels: lab }, { keepLogits: true });
      checkOutput('dept', fx, out, lab, B, x.Te, V);
      m.backward(out.dInputsEmbeds, B, T);
      expectClose('dept.grad_P', m.prompt.grad, f32(fx, 'dept.grad_P'), TOL.grad);
      expectClose('dept.grad_A', m.loraA.grad, f32(fx, 'dept.grad_A'), TOL.grad);
      expectClose('dept.grad_B', m.loraB.grad, f32(fx, 'dept.grad_B'), TOL.grad);
    });

    test(`${fx.name}: greedy generation per row (DePT prompt, real tokens only, KV cache), and the same rows batched`, () => {
      const [l] = shape(fx, 'dept.P') as [number];
      const [s, r] = shape(fx, 'dept.A') as [number, number];
      const m = new Dept(validateDeptConfig({ numVirtualTokens: l, rank: r, maxLength: s, loraAlpha: dept.lora_alpha }), C,
        f32(fx, 'dept.P'), f32(fx, 'dept.A'), f32(fx, 'dept.B'));
      const steps = shape(fx, 'gen.generated_ids')[1]!;
      const ids = new Int32Array(B * steps), logits = new Float32Array(B * steps * V); // (B, steps), (B, steps, V)
      for (let b = 0; b < B; b++) {
        let n = 0;
        while (n < T && mask[b * T + n]! > 0) n++;
        // cat(P, embed(ids[:n]) + scaling · A[:n] @ B), mask ones(l + n)
        const x = m.apply(E.subarray(b * T * C, (b * T + n) * C), new Float32Array(n).fill(1), 1, n);
        const gen = model.generate(x.inputsEmbeds, x.mask, 1, x.Te, { maxNewTokens: steps, keepStepLogits: true });
        assert.equal(gen.steps, steps);
        ids.set(gen.ids, b * steps);
        logits.set(gen.stepLogits!, b * steps * V); // (steps, 1, V) = (steps, V)
      }
      expectClose('gen.generated_ids', ids, i32(fx, 'gen.generated_ids'), TOL.exact);
      expectClose('gen.hf_generate_ids', ids, i32(fx, 'gen.hf_generate_ids'), TOL.exact);
      expectClose('gen.step_logits', logits, f32(fx, 'gen.step_logits'), TOL.logits);
      const st = logitSummaries(logits, B * steps, V);
      expectClose('gen.step_logsumexp', st.lse, f32(fx, 'gen.step_logsumexp'), TOL.lse);
      expectClose('gen.step_top1_minus_top2', st.gap, f32(fx, 'gen.step_top1_minus_top2'), TOL.logits);

      // one right-padded batch of the three rows (offset on pads too, as in training) gives the same tokens
      const xb = m.apply(E, mask, B, T);
      const gb = model.generate(xb.inputsEmbeds, xb.mask, B, xb.Te, { maxNewTokens: steps, keepStepLogits: true });
      expectClose('gen.generated_ids (batched)', gb.ids, i32(fx, 'gen.generated_ids'), TOL.exact);
      const perRow = new Float32Array(B * steps * V); // (steps, B, V) → (B, steps, V)
      for (let k = 0; k < steps; k++) for (let b = 0; b < B; b++) perRow.set(gb.stepLogits!.subarray((k * B + b) * V, (k * B + b + 1) * V), (b * steps + k) * V);
      expectClose('gen.step_logits (batched)', perRow, f32(fx, 'gen.step_logits'), TOL.logits);
    });
  });
}
