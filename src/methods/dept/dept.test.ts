/**
 * DePT and prompt tuning, unit level: budget arithmetic against spec §1.6, init as PEFT/DePT define it, shapes and
 * parameter counts, validation errors, and "a step changes only the method's tensors".
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadTokenizerSync } from '../../io/tokenizer.js';
import { loadModel } from '../../models/registry.js';
import { fixture } from '../../../test/paths.js';
import { expectError } from '../../../test/expect-error.js';
import { Dept, deptParamCount, deptRankForBudget, deptScaling, validateDeptConfig } from './index.js';
import type { InitContext } from '../method.js';
import { DEPT_INIT_TEXT, textInitIds } from '../prompt-init.js';
import { PromptTuning, validatePromptTuningConfig } from '../prompt-tuning/index.js';

describe('DePT budget (spec §1.6)', () => {
  // [PT tokens, l, s, d] → r, as in the released checkpoints' table
  const rows: [number, number, number, number, number][] = [
    [100, 80, 256, 768, 15], [100, 60, 256, 768, 30], [100, 40, 256, 768, 45], [100, 20, 256, 768, 60],
    [100, 0, 256, 768, 75], [100, 60, 512, 768, 24], [100, 60, 256, 1024, 32],
  ];
  for (const [L, l, s, d, r] of rows) {
    test(`PT-${L} at s=${s}, d=${d}, l=${l} → r=${r} (76,800-style equal budget)`, () => {
      assert.equal(deptRankForBudget(L, l, s, d), r);
      assert.equal(deptParamCount(l, r, s, d), L * d);
    });
  }
  test('non-integer ranks round down (T5-Small, d=512: l=60 → r=26, under budget)', () => {
    assert.equal(deptRankForBudget(100, 60, 256, 512), 26);
    assert.ok(deptParamCount(60, 26, 256, 512) <= 100 * 512);
  });
  test('scaling = lora_alpha / sqrt(r) as in the reference (α=8)', () => {
    assert.equal(deptScaling(8, 30).toFixed(4), '1.4606');
    assert.equal(deptScaling(8, 45).toFixed(4), '1.1926');
    assert.equal(deptScaling(8, 15).toFixed(4), '2.0656');
    assert.equal(deptScaling(8, 0), 0);
  });
});

describe('init (spec §1.5)', () => {
  const model = loadModel(fixture('t5-tiny'));
  const tok = loadTokenizerSync(fixture('tokenizers', 't5'));
  let seed = 1;
  const rng = { nextFloat: () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 4294967296; }, normal: () => 0 };
  rng.normal = () => Math.sqrt(-2 * Math.log(rng.nextFloat() + 1e-12)) * Math.cos(2 * Math.PI * rng.nextFloat());
  const ctx: InitContext = {
    dModel: 64, vocabSize: model.info.vocabSize, embed: (ids) => model.embed(ids),
    tokenize: (t) => tok.encode(t, { addSpecialTokens: true }), rng,
  };

  test('TEXT: the 11 ids of the reference text, repeated cyclically to l, rows = frozen embeddings', () => {
    const ids = tok.encode(DEPT_INIT_TEXT, { addSpecialTokens: true });
    assert.deepEqual(ids, [4501, 4921, 48, 1499, 19, 442, 757, 42, 59, 10, 1]);
    const cyc = textInitIds(ids, 60);
    assert.deepEqual([...cyc.subarray(55)], [4501, 4921, 48, 1499, 19]); // 5 full repeats, then the first 5
    const pt = PromptTuning.init(validatePromptTuningConfig({ numVirtualTokens: 60 }), ctx);
    assert.deepEqual(pt.prompt.data, model.embed(cyc));
    assert.deepEqual([...textInitIds(ids, 4)], [4501, 4921, 48, 1499]); // truncation
  });

  test('SAMPLE_VOCAB: every row is some embedding row; RANDOM: N(0, 1) elements', () => {
    const pt = PromptTuning.init(validatePromptTuningConfig({ numVirtualTokens: 8, init: 'SAMPLE_VOCAB' }), ctx);
    const table = model.embed(Int32Array.from({ length: model.info.vocabSize }, (_, i) => i));
    for (let row = 0; row < 8; row++) {
      const r = pt.prompt.data.subarray(row * 64, (row + 1) * 64);
      let found = false;
      for (let v = 0; v < model.info.vocabSize && !found; v++) found = r.every((x, c) => x === table[v * 64 + c]);
      assert.ok(found, `row ${row} is not an embedding row`);
    }
    const rnd = PromptTuning.init(validatePromptTuningConfig({ numVirtualTokens: 100, init: 'RANDOM' }), ctx);
    const xs = [...rnd.prompt.data];
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
    assert.ok(Math.abs(mean) < 0.05 && Math.abs(sd - 1) < 0.05, `mean ${mean}, sd ${sd}`);
  });

  test('DePT: A ~ U(±1/sqrt r), B = 0, so it starts as prompt tuning with l tokens', () => {
    const cfg = validateDeptConfig({ numVirtualTokens: 4, rank: 12, maxLength: 200 });
    const dept = Dept.init(cfg, ctx);
    assert.deepEqual(dept.loraA.shape, [200, 12]);
    assert.deepEqual(dept.loraB.shape, [12, 64]);
    assert.equal(dept.numParams(), deptParamCount(4, 12, 200, 64));
    const bound = 1 / Math.sqrt(12);
    const a = [...dept.loraA.data];
    assert.ok(a.every((x) => Math.abs(x) <= bound));
    const varA = a.reduce((s, x) => s + x * x, 0) / a.length;
    assert.ok(Math.abs(varA - bound * bound / 3) < 0.1 * bound * bound / 3, `Var(A) ${varA}, uniform gives ${bound * bound / 3}`);
    assert.ok(dept.loraB.data.every((x) => x === 0));
    const pt = new PromptTuning(validatePromptTuningConfig({ numVirtualTokens: 4 }), 64, dept.prompt.data);
    const E = model.embed(Int32Array.from([5, 6, 7, 1, 0, 0]));
    const mask = Float32Array.from([1, 1, 1, 1, 0, 0]);
    assert.deepEqual(dept.apply(E, mask, 1, 6), pt.apply(E, mask, 1, 6));
    assert.equal(dept.prompt.group, 'prompt');
    assert.equal(dept.loraA.group, 'lowrank');
  });

  test('an input longer than max_length s is refused, naming max_length', () => {
    const dept = Dept.init(validateDeptConfig({ numVirtualTokens: 2, rank: 2, maxLength: 4 }), ctx);
    expectError(() => dept.apply(new Float32Array(5 * 64), new Float32Array(5), 1, 5), 'invalid_data', 'max_length');
  });

  test('one training step changes the method tensors and nothing in the model', () => {
    const before = model.embed(Int32Array.from([3, 4, 5]));
    const dept = Dept.init(validateDeptConfig({ numVirtualTokens: 2, rank: 3, maxLength: 8 }), ctx);
    dept.loraB.data.fill(0.01);
    const ids = Int32Array.from([3, 4, 5, 1, 0, 0, 0, 0]);
    const x = dept.apply(model.embed(ids), Float32Array.from([1, 1, 1, 1, 0, 0, 0, 0]), 1, 8);
    const out = model.lossAndGrad({ B: 1, Te: x.Te, inputsEmbeds: x.inputsEmbeds, encoderMask: x.mask, S: 2, labels: Int32Array.from([209, 1]) });
    dept.backward(out.dInputsEmbeds, 1, 8);
    for (const p of dept.params()) assert.ok(p.grad.some((g) => g !== 0), `${p.name} got no gradient`);
    assert.deepEqual(model.embed(Int32Array.from([3, 4, 5])), before);
  });
});

describe('config validation names the field', () => {
  test('negative rank', () => { expectError(() => validateDeptConfig({ numVirtualTokens: 4, rank: -1, maxLength: 8 }), 'invalid_config', 'peft.rank'); });
  test('l = r = 0', () => { expectError(() => validateDeptConfig({ numVirtualTokens: 0, rank: 0, maxLength: 8 }), 'invalid_config', 'rank'); });
  test('unknown init', () => { expectError(() => validatePromptTuningConfig({ numVirtualTokens: 4, init: 'ZEROS' }), 'invalid_config', 'peft.init'); });
  test('budget smaller than the prompt', () => { expectError(() => deptRankForBudget(50, 60, 256, 768), 'invalid_config', 'exceeds'); });
});
