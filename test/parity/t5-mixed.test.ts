/**
 * Mixed precision for trainable weights (precision 'bf16' with fp32 masters, `keepFp32`): forward and input
 * gradients run on bf16 copies of the masters, weight gradients on bf16 operands with fp32 accumulation (oneDNN).
 * Reference: the fp32 gradients of every weight on the same fixture. As for the frozen bf16 path the bound is
 * relative to the fixture's own sensitivity: the error of fp32 arithmetic on the weights rounded to bf16. The
 * mixed path also rounds the activations entering each GEMM (the same 2^-9 relative step), so a few times that.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { bf16Available, toBf16 } from '../../src/engine/index.js';
import { openWeights } from '../../src/io/hf-folder.js';
import { T5Model } from '../../src/models/t5.js';
import type { WeightSource } from '../../src/models/types.js';
import { expectError } from '../expect-error.js';
import { f32, goldenFixtures, i32, shape, type Fixture } from './golden.js';

/** the tensors precision 'bf16' holds in bf16 (GEMM weights and the embedding) */
const HELD = /\.(q|k|v|o|wi|wi_0|wi_1|wo)\.weight$|^shared\.weight$|^lm_head\.weight$/;

function roundedSource(src: WeightSource): WeightSource {
  return {
    has: (n) => src.has(n),
    getF32Checked: (n, s, h) => {
      const x = src.getF32Checked(n, s, h);
      if (!HELD.test(n)) return x;
      const bits = toBf16(x), u = new Uint32Array(bits.length);
      for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
      return new Float32Array(u.buffer);
    },
  };
}

/** ‖got − want‖₂ / ‖want‖₂ over all tensors, and the worst per-tensor max |got − want| / max |want| */
function errors(got: Map<string, Float32Array>, want: Map<string, Float32Array>): { l2: number; worst: number; at: string } {
  let d2 = 0, w2 = 0, worst = 0, at = '';
  for (const [name, w] of want) {
    const g = got.get(name)!;
    let dm = 0, wm = 0;
    for (let i = 0; i < w.length; i++) {
      const d = g[i]! - w[i]!;
      d2 += d * d; w2 += w[i]! * w[i]!;
      dm = Math.max(dm, Math.abs(d)); wm = Math.max(wm, Math.abs(w[i]!));
    }
    if (wm > 0 && dm / wm > worst) { worst = dm / wm; at = name; }
  }
  return { l2: Math.sqrt(d2 / w2), worst, at };
}

/** every weight's gradient (copies) and the loss of the fixture's batch */
function grads(fx: Fixture, m: T5Model): { loss: number; g: Map<string, Float32Array> } {
  const [B, T] = shape(fx, 'input_ids') as [number, number];
  const g = m.setTrainable(m.weights().map((w) => w.name));
  const ids = i32(fx, 'input_ids');
  const out = m.lossAndGrad({ B, Te: T, inputsEmbeds: m.embed(ids), encoderMask: Float32Array.from(i32(fx, 'attention_mask')), S: shape(fx, 'labels')[1]!, labels: i32(fx, 'labels') });
  m.embedBackward(ids, out.dInputsEmbeds, B, T, 0);
  return { loss: out.loss, g: new Map([...g].map(([k, v]) => [k, v.slice()])) };
}

const all = () => true;

for (const fx of goldenFixtures('t5')) {
  describe(`t5 mixed precision (trainable fp32 masters, bf16 compute): ${fx.name}`, { skip: bf16Available() ? false : 'no native bf16 on this CPU' }, () => {
    const src = () => openWeights(join(fx.dir, 'model.safetensors'));

    test('every weight gradient within a few times what rounding the weights alone causes', () => {
      const exact = grads(fx, T5Model.load(fx.config, src(), 'config.json', 'fp32'));
      const mixedModel = T5Model.load(fx.config, src(), 'config.json', 'bf16', all);
      assert.equal(mixedModel.precision, 'bf16');
      const mixed = grads(fx, mixedModel);
      const weightsOnly = grads(fx, T5Model.load(fx.config, roundedSource(src()), 'config.json', 'fp32'));
      const e = errors(mixed.g, exact.g), w = errors(weightsOnly.g, exact.g);
      const dl = Math.abs(mixed.loss - exact.loss), wl = Math.abs(weightsOnly.loss - exact.loss);
      console.log(`  mixed: loss ${dl.toExponential(2)}, grads l2 ${e.l2.toExponential(2)}, worst tensor ${e.worst.toExponential(2)} (${e.at})\n`
        + `  weights rounded (fp32): loss ${wl.toExponential(2)}, grads l2 ${w.l2.toExponential(2)}, worst tensor ${w.worst.toExponential(2)} (${w.at})`);
      assert.ok(dl <= 4 * wl + 1e-3, `loss error ${dl} vs weights rounded ${wl}`);
      assert.ok(e.l2 <= 4 * w.l2 + 5e-3, `gradient l2 error ${e.l2} vs weights rounded ${w.l2}`);
      assert.ok(e.worst <= 4 * w.worst + 2e-2, `worst tensor ${e.at}: ${e.worst} vs weights rounded ${w.worst}`);
      assert.ok(e.l2 > 1e-5, 'mixed precision changed nothing: is it really on?');
      // masters stay exact fp32: the weights the model lists are the checkpoint's, not rounded
      const file = src();
      for (const x of mixedModel.weights()) assert.deepEqual(x.data, file.getF32Checked(x.name, x.shape, ''), x.name);
    });

    test('bf16 copies follow the masters: re-rounded after a backward (the optimizer step) and on weightsChanged()', () => {
      const [B, T] = shape(fx, 'input_ids') as [number, number];
      const batch = (m: T5Model) => ({ B, Te: T, inputsEmbeds: m.embed(i32(fx, 'input_ids')), encoderMask: Float32Array.from(i32(fx, 'attention_mask')), S: shape(fx, 'labels')[1]!, labels: i32(fx, 'labels') });
      const m = T5Model.load(fx.config, src(), 'config.json', 'bf16', all);
      const g = m.setTrainable(m.weights().map((w) => w.name));
      m.lossAndGrad(batch(m));
      const step = (scale: number) => { for (const w of m.weights()) { const d = g.get(w.name)!; for (let i = 0; i < d.length; i++) w.data[i]! -= scale * d[i]!; } };
      step(0.5); // an SGD step on the masters
      const fresh = () => {
        const f = T5Model.load(fx.config, { has: (n) => src().has(n), getF32Checked: (n) => m.weights().find((w) => w.name === n)!.data.slice() }, 'config.json', 'bf16', all);
        f.setTrainable(f.weights().map((w) => w.name));
        return f.forward(batch(f)).loss;
      };
      const after = m.forward(batch(m)).loss;
      assert.equal(after, fresh(), 'forward after the step computes with the re-rounded copies');
      step(0.5); // changed without a backward: only weightsChanged() tells the model
      m.weightsChanged();
      assert.equal(m.forward(batch(m)).loss, fresh());
      assert.notEqual(m.forward(batch(m)).loss, after);
    });

    test('only fp32-held weights train: a bf16-held one is refused by name', () => {
      const m = T5Model.load(fx.config, src(), 'config.json', 'bf16', (n) => n.startsWith('decoder.'));
      expectError(() => m.setTrainable(['encoder.block.0.layer.1.DenseReluDense.wo.weight']), 'invalid_config', 'encoder.block.0.layer.1.DenseReluDense.wo.weight');
      const g = m.setTrainable(['decoder.block.0.layer.2.DenseReluDense.wo.weight']);
      assert.equal(g.size, 1);
    });
  });
}
