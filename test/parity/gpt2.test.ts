/**
 * GPT-2 parity against the Hugging Face reference, for every GPT-2 fixture folder in test/fixtures (conventions and
 * tolerances: test/fixtures/gpt2-tiny/README.md). Cases: plain, vanilla prompt tuning (PT), DePT, greedy generation.
 * The prompt transforms and parameter gradients come from src/methods (PromptTuning, Dept); causal PEFT also
 * prepends l labels of -100, which the methods leave to the caller, so it is done here.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openWeights } from '../../src/io/hf-folder.js';
import { GPT2Model } from '../../src/models/gpt2.js';
import { Dept, validateDeptConfig } from '../../src/methods/dept/index.js';
import { PromptTuning, validatePromptTuningConfig } from '../../src/methods/prompt-tuning/index.js';
import type { CausalBatch } from '../../src/models/types.js';
import { causalNllFromLogits, expectClose, f32, type Fixture, goldenFixtures, i32, logitSummaries, shape, TOL, withPromptLabels } from './golden.js';




function stack(xs: Float32Array[]): Float32Array {
  const r = new Float32Array(xs.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of xs) { r.set(x, o); o += x.length; }
  return r;
}

/** logits, argmax, token NLL (checked against the golden logits) and loss of one case. */
function checkOutputs(prefix: string, fx: Fixture, logits: Float32Array, tokenNll: Float32Array, loss: number,
  labels: Int32Array, B: number, T: number, V: number): void {
  const golden = f32(fx, `${prefix}.logits`);
  expectClose(`${prefix}.logits`, logits, golden, TOL.logits);
  expectClose(`${prefix}.logits argmax`, logitSummaries(logits, B * T, V).argmax, logitSummaries(golden, B * T, V).argmax, TOL.exact);
  expectClose(`${prefix}.token_nll (from golden logits)`, tokenNll, causalNllFromLogits(golden, labels, B, T, V), TOL.lse);
  expectClose(`${prefix}.loss`, [loss], f32(fx, `${prefix}.loss`), TOL.lse);
}

const fixtures = goldenFixtures('gpt2');
test('gpt2 golden fixtures are present', () => {
  assert.ok(fixtures.some((f) => f.name === 'gpt2-tiny'), 'test/fixtures/gpt2-tiny is missing');
});

for (const fx of fixtures) {
  describe(`gpt2 parity: ${fx.name}`, () => {
    const model = GPT2Model.load(fx.config, openWeights(join(fx.dir, 'model.safetensors')), join(fx.dir, 'config.json'));
    const C = model.config.n_embd, V = model.config.vocab_size;
    const ids = i32(fx, 'input_ids');
    const [B, T] = shape(fx, 'input_ids') as [number, number];
    const mask = Float32Array.from(i32(fx, 'attention_mask'));
    const labels = i32(fx, 'labels');
    const E = model.embed(ids); // (B, T, C) wte rows

    test('plain forward: hidden states, logits, token NLL, loss', () => {
      const batch: CausalBatch = { B, T, inputsEmbeds: E, attentionMask: mask, labels };
      const out = model.forward(batch, { keepLogits: true, outputHiddenStates: true });
      const hs = out.hiddenStates!;
      assert.equal(hs.length, model.config.n_layer + 1);
      expectClose('plain.hidden_states', stack(hs), f32(fx, 'plain.hidden_states'), TOL.hidden);
      expectClose('plain.last_hidden_state', hs[hs.length - 1]!, f32(fx, 'plain.last_hidden_state'), TOL.hidden);
      checkOutputs('plain', fx, out.logits!, out.tokenNll, out.loss, labels, B, T, V);
      let sum = 0;
      for (const x of out.tokenNll) sum += x;
      assert.ok(Math.abs(sum / out.numTokens - out.loss) < 1e-6, 'loss = mean token NLL');
      assert.equal(out.numTokens, 6);
    });

    test('prompt tuning: inputs_embeds, mask, labels, logits, loss, grad_P', () => {
      const l = shape(fx, 'pt.P')[0]!;
      const pt = new PromptTuning(validatePromptTuningConfig({ numVirtualTokens: l }), C, f32(fx, 'pt.P'));
      const x = pt.apply(E, mask, B, T);
      const lab = withPromptLabels(labels, B, T, l);
      expectClose('pt.inputs_embeds', x.inputsEmbeds, f32(fx, 'pt.inputs_embeds'), TOL.embeds);
      expectClose('pt.attention_mask', x.mask, i32(fx, 'pt.attention_mask'), TOL.exact);
      expectClose('pt.labels', lab, i32(fx, 'pt.labels'), TOL.exact);
      const out = model.lossAndGrad({ B, T: x.Te, inputsEmbeds: x.inputsEmbeds, attentionMask: x.mask, labels: lab }, { keepLogits: true });
      checkOutputs('pt', fx, out.logits!, out.tokenNll, out.loss, lab, B, x.Te, V);
      pt.backward(out.dInputsEmbeds, B, T);
      expectClose('pt.grad_P', pt.prompt.grad, f32(fx, 'pt.grad_P'), TOL.grad);
    });

    test('DePT: offset, inputs_embeds, mask, labels, logits, loss, grads of P, A, B', () => {
      const [l] = shape(fx, 'dept.P') as [number];
      const [s, r] = shape(fx, 'dept.A') as [number, number];
      assert.equal(s, T, 'the DePT fixture pads inputs to exactly s positions');
      const dept = new Dept(validateDeptConfig({ numVirtualTokens: l, rank: r, maxLength: s, loraAlpha: 8 }), C,
        f32(fx, 'dept.P'), f32(fx, 'dept.A'), f32(fx, 'dept.B'));
      expectClose('dept.lora_offset', dept.offset(s), f32(fx, 'dept.lora_offset'), TOL.embeds);
      const x = dept.apply(E, mask, B, T);
      const lab = withPromptLabels(labels, B, T, l);
      expectClose('dept.inputs_embeds', x.inputsEmbeds, f32(fx, 'dept.inputs_embeds'), TOL.embeds);
      expectClose('dept.attention_mask', x.mask, i32(fx, 'dept.attention_mask'), TOL.exact);
      expectClose('dept.labels', lab, i32(fx, 'dept.labels'), TOL.exact);
      const out = model.lossAndGrad({ B, T: x.Te, inputsEmbeds: x.inputsEmbeds, attentionMask: x.mask, labels: lab }, { keepLogits: true });
      checkOutputs('dept', fx, out.logits!, out.tokenNll, out.loss, lab, B, x.Te, V);
      dept.backward(out.dInputsEmbeds, B, T);
      expectClose('dept.grad_P', dept.prompt.grad, f32(fx, 'dept.grad_P'), TOL.grad);
      expectClose('dept.grad_A', dept.loraA.grad, f32(fx, 'dept.grad_A'), TOL.grad);
      expectClose('dept.grad_B', dept.loraB.grad, f32(fx, 'dept.grad_B'), TOL.grad);
    });

    test('greedy generation after the DePT prompt: ids, step logits, logsumexp, top1 − top2; batched == per row', () => {
      const [l] = shape(fx, 'dept.P') as [number];
      const [s, r] = shape(fx, 'dept.A') as [number, number];
      const dept = new Dept(validateDeptConfig({ numVirtualTokens: l, rank: r, maxLength: s, loraAlpha: 8 }), C,
        f32(fx, 'dept.P'), f32(fx, 'dept.A'), f32(fx, 'dept.B'));
      const steps = shape(fx, 'gen.generated_ids')[1]!;
      // README protocol: each row alone, real tokens only, no padding; output (B, steps) and (B, steps, V)
      const gotIds = new Int32Array(B * steps), gotLogits = new Float32Array(B * steps * V);
      for (let b = 0; b < B; b++) {
        let n = 0;
        while (n < T && mask[b * T + n]! > 0) n++;
        const x = dept.apply(model.embed(ids.subarray(b * T, b * T + n)), new Float32Array(n).fill(1), 1, n);
        const gen = model.generate(x.inputsEmbeds, x.mask, 1, x.Te, { maxNewTokens: steps, keepStepLogits: true, eosId: null });
        assert.equal(gen.steps, steps);
        gotIds.set(gen.ids, b * steps);
        gotLogits.set(gen.stepLogits!, b * steps * V); // (steps, 1, V) = (steps, V)
      }
      expectClose('gen.generated_ids', gotIds, i32(fx, 'gen.generated_ids'), TOL.exact);
      expectClose('gen.hf_generate_ids', gotIds, i32(fx, 'gen.hf_generate_ids'), TOL.exact);
      expectClose('gen.step_logits', gotLogits, f32(fx, 'gen.step_logits'), TOL.logits);
      const sm = logitSummaries(gotLogits, B * steps, V);
      expectClose('gen.step_logsumexp', sm.lse, f32(fx, 'gen.step_logsumexp'), TOL.lse);
      expectClose('gen.step_top1_minus_top2', sm.gap, f32(fx, 'gen.step_top1_minus_top2'), TOL.logits);

      // the right-padded batch in one call gives the same ids and logits (pads are masked keys, positions continue
      // from each row's real length)
      const xb = dept.apply(E, mask, B, T);
      const batched = model.generate(xb.inputsEmbeds, xb.mask, B, xb.Te, { maxNewTokens: steps, keepStepLogits: true, eosId: null });
      expectClose('gen.generated_ids (batched)', batched.ids, i32(fx, 'gen.generated_ids'), TOL.exact);
      const reordered = new Float32Array(B * steps * V); // (steps, B, V) → (B, steps, V)
      for (let t = 0; t < steps; t++) for (let b = 0; b < B; b++) {
        reordered.set(batched.stepLogits!.subarray((t * B + b) * V, (t * B + b + 1) * V), (b * steps + t) * V);
      }
      expectClose('gen.step_logits (batched)', reordered, f32(fx, 'gen.step_logits'), TOL.logits);
    });
  });
}
