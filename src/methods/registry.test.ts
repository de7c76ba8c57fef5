import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { SoftpromptError } from '../errors.js';
import { Rng } from '../train/rng.js';
import { loadAdapter, saveAdapter } from './adapter-files.js';
import { Dept } from './dept.js';
import type { InitContext } from './method.js';
import { PromptTuning } from './prompt-tuning.js';
import { METHODS, createMethod, describeMethod, getMethod, methodNames } from './registry.js';

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-registry-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));

const C = 8, V = 50;
const TABLE = Float32Array.from({ length: V * C }, (_, i) => Math.sin(i));
function ctx(seed = 1): InitContext {
  return {
    dModel: C,
    vocabSize: V,
    embed: (ids) => {
      const out = new Float32Array(ids.length * C);
      ids.forEach((id, k) => out.set(TABLE.subarray(id * C, (id + 1) * C), k * C));
      return out;
    },
    tokenize: (text) => [...text].map((ch) => ch.charCodeAt(0) % V),
    rng: new Rng(seed),
  };
}

describe('getMethod', () => {
  it('finds each method by name and alias, case-insensitively', () => {
    for (const [name, want] of [['dept', 'dept'], ['DePT', 'dept'], ['prompt_tuning_lora', 'dept'], ['prompt_tuning', 'prompt_tuning'], ['pt', 'prompt_tuning'], ['prompt-tuning', 'prompt_tuning'], ['PROMPT_TUNING', 'prompt_tuning']]) {
      assert.equal(getMethod(name!).name, want, name);
    }
    assert.deepEqual(Object.keys(METHODS), ['dept', 'prompt_tuning']);
    assert.ok(methodNames().includes('pt'));
  });

  it('an unknown name is invalid_config listing the known ones', () => {
    assert.throws(() => getMethod('lora'), (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_config' && e.path === 'method'
      && e.message.includes('"lora"') && ['dept', 'prompt_tuning', 'pt', 'prompt-tuning'].every((n) => e.message.includes(n)));
  });
});

describe('createMethod', () => {
  it('validates and initialises (DePT starts as PT: B = 0)', () => {
    const d = createMethod('dept', { numVirtualTokens: 4, rank: 2, maxLength: 6 }, ctx());
    assert.ok(d instanceof Dept);
    assert.deepEqual(d.config, { numVirtualTokens: 4, rank: 2, maxLength: 6, loraAlpha: 8, init: 'TEXT', initText: 'Classify this text is postive or not:' });
    assert.ok(d.loraB.data.every((x) => x === 0) && d.loraA.data.some((x) => x !== 0));
    const p = createMethod('pt', { numVirtualTokens: 3, init: 'RANDOM' }, ctx());
    assert.ok(p instanceof PromptTuning);
    assert.equal(p.numParams(), 3 * C);
  });

  it('a bad config throws invalid_config naming the field', () => {
    assert.throws(() => createMethod('dept', { numVirtualTokens: 4, rank: -1, maxLength: 6 }, ctx()), (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_config' && e.path === 'peft.rank');
    assert.throws(() => createMethod('pt', { numVirtualTokens: 0 }, ctx()), (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_config' && e.path === 'peft.numVirtualTokens');
    assert.throws(() => createMethod('nope', {}, ctx()), (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_config');
  });

  it('describe() gives the numbers, and the parameter count when d is known', () => {
    assert.equal(describeMethod('dept', { numVirtualTokens: 60, rank: 30, maxLength: 256 }, 768),
      'DePT: 60 virtual tokens + rank-30 offset over s=256 input positions (α=8, scaling α/√r=1.4606), TEXT init "Classify this text is postive or not:", 76800 trainable parameters');
    assert.equal(METHODS.prompt_tuning.describe({ numVirtualTokens: 100, init: 'SAMPLE_VOCAB', initText: '' }, 768), 'prompt tuning: 100 virtual tokens, SAMPLE_VOCAB init, 76800 trainable parameters');
    assert.equal(describeMethod('pt', { numVirtualTokens: 100, init: 'RANDOM' }), 'prompt tuning: 100 virtual tokens, RANDOM init');
  });
});

// One (method, config) table through the same checks: init, a fake training step, save → load in each format.
const ROWS: [label: string, name: string, config: object, formats: ('dept' | 'peft')[]][] = [
  ['prompt tuning, TEXT', 'prompt_tuning', { numVirtualTokens: 5 }, ['peft', 'dept']],
  ['prompt tuning, SAMPLE_VOCAB', 'pt', { numVirtualTokens: 2, init: 'SAMPLE_VOCAB' }, ['peft']],
  ['DePT l=4 r=2 s=6', 'dept', { numVirtualTokens: 4, rank: 2, maxLength: 6, loraAlpha: 3 }, ['dept']],
  ['DePT l=0 r=2 (offset only)', 'dept', { numVirtualTokens: 0, rank: 2, maxLength: 6 }, ['dept']],
  ['DePT r=0 (PT with a length limit)', 'dept', { numVirtualTokens: 3, rank: 0, maxLength: 6 }, ['dept', 'peft']],
];

describe('every method: save → load round trip', () => {
  for (const [label, name, config, formats] of ROWS) {
    for (const format of formats) {
      it(`${label}, format ${format}`, () => {
        const m = createMethod(name, config, ctx(7));
        for (const p of m.params()) for (let i = 0; i < p.data.length; i++) p.data[i] += 0.001 * (i % 5); // "trained"
        const dir = path.join(ROOT, `${label}-${format}`.replace(/[^\w-]+/g, '_'));
        const saved = saveAdapter(dir, m, { baseModel: 'tiny', tokenizer: 'tiny', modelInfo: { dModel: C, numLayers: 1, numHeads: 1, kind: 'seq2seq' }, format });
        const got = loadAdapter(dir, { expectDModel: C });
        assert.equal(got.type, saved.peftType === 'PROMPT_TUNING' ? 'prompt_tuning' : 'dept');
        if (got.type === m.type) assert.deepEqual((got as Dept | PromptTuning).config, (m as Dept | PromptTuning).config);
        // same tensors, bit for bit (a zero-offset DePT saved as PEFT keeps P only)
        const want = new Map(m.params().map((p) => [p.name, p.data]));
        for (const p of got.params()) assert.deepEqual(new Uint32Array(p.data.buffer, p.data.byteOffset, p.data.length), new Uint32Array(want.get(p.name)!.buffer, want.get(p.name)!.byteOffset, p.data.length), p.name);
      });
    }
  }
});
