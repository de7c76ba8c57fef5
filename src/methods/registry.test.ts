import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { SoftpromptError } from '../errors.js';
import { Rng } from '../train/rng.js';
import { writeSafetensors } from '../io/safetensors.js';
import { Dept } from './dept/index.js';
import type { AnyMethodEntry } from './entry.js';
import type { InitContext } from './method.js';
import { PromptTuning } from './prompt-tuning/index.js';
import { checkEntries, entryForFolder, getMethod, loadAdapter, METHOD_ENTRIES, methodNames, methodOptions, optimizerGroups, saveAdapter } from './registry.js';

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

const createMethod = (name: string, settings: Record<string, unknown>, c: InitContext) => getMethod(name).create({ maxLength: 6, ...settings }, c);

describe('getMethod', () => {
  it('finds each method by name and alias, case-insensitively', () => {
    for (const [name, want] of [['dept', 'dept'], ['DePT', 'dept'], ['prompt_tuning_lora', 'dept'], ['prompt_tuning', 'prompt_tuning'], ['pt', 'prompt_tuning'], ['prompt-tuning', 'prompt_tuning'], ['PROMPT_TUNING', 'prompt_tuning'], ['full', 'full'], ['Full-Finetuning', 'full']]) {
      assert.equal(getMethod(name!).name, want, name);
    }
    assert.deepEqual(METHOD_ENTRIES.map((e) => e.name), ['dept', 'prompt_tuning', 'lora', 'full']);
    assert.equal(getMethod('LoRA').name, 'lora');
    assert.ok(methodNames().includes('pt'));
  });

  it('an unknown name is invalid_config listing the known ones', () => {
    assert.throws(() => getMethod('prefix'), (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_config' && e.path === 'method'
      && e.message.includes('"prefix"') && ['dept', 'prompt_tuning', 'pt', 'prompt-tuning', 'lora'].every((n) => e.message.includes(n)));
  });
});

describe('checkEntries', () => {
  const rename = (e: AnyMethodEntry, over: Partial<AnyMethodEntry>): AnyMethodEntry => ({ ...e, ...over }) as AnyMethodEntry;
  const dept = getMethod('dept'), pt = getMethod('pt');
  const rejects = (entries: AnyMethodEntry[], words: string[]) => assert.throws(() => checkEntries(entries),
    (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_config' && words.every((w) => e.message.includes(w)), words.join(' '));

  it('the registered entries pass', () => checkEntries(METHOD_ENTRIES));
  it('a duplicate name or alias is refused, naming both methods', () => {
    rejects([dept, rename(pt, { name: 'dept' })], ['"dept"', 'twice']);
    rejects([dept, rename(pt, { name: 'x', aliases: ['PROMPT_TUNING_LORA'] })], ['"prompt_tuning_lora"', 'dept', 'x']);
  });
  it('a peft_type read by two methods is refused', () => rejects([dept, rename(pt, { name: 'x', aliases: [], peftTypes: ['PROMPT_TUNING_LORA'] })], ['PROMPT_TUNING_LORA', 'dept', 'x']));
  it('a shared option key needs the same flags', () => {
    const clash = { ...dept.options.find((o) => o.key === 'rank')!, flags: '--r <n>' };
    rejects([dept, rename(pt, { name: 'x', aliases: [], peftTypes: [], options: [clash] })], ['rank', '--rank <n>', '--r <n>']);
  });
  it('a group whose lr key is not an option is refused', () => {
    rejects([rename(dept, { groups: [{ name: 'lowrank', lrKey: 'lrNowhere', defaultLr: 1, defaultWeightDecay: 0 }] })], ['lowrank', 'lrNowhere']);
  });
});

describe('options and groups', () => {
  it('prompt options are shared once; DePT adds its own', () => {
    const keys = methodOptions().map((o) => [o.option.key, o.methods.join('+')]);
    assert.deepEqual(keys, [['promptLength', 'dept+prompt_tuning'], ['init', 'dept+prompt_tuning'], ['initText', 'dept+prompt_tuning'],
      ['rank', 'dept'], ['budget', 'dept'], ['loraAlpha', 'dept+lora'], ['lrLowrank', 'dept'],
      ['loraR', 'lora'], ['loraDropout', 'lora'], ['targetModules', 'lora'], ['trainModules', 'full']]);
  });

  it('groups take their lr from their key, else the method default; every param names a declared group', () => {
    assert.deepEqual(optimizerGroups(getMethod('dept'), {}), [
      { name: 'prompt', lrKey: 'lr', lr: 0.3, weightDecay: 0 }, { name: 'lowrank', lrKey: 'lrLowrank', lr: 1e-4, weightDecay: 0 }]);
    assert.deepEqual(optimizerGroups(getMethod('dept'), { lr: 0.5, lrLowrank: 0.01, weightDecay: 0.1 }).map((g) => [g.lr, g.weightDecay]), [[0.5, 0.1], [0.01, 0.1]]);
    assert.deepEqual(optimizerGroups(getMethod('pt'), { lrLowrank: 0.01 }).map((g) => [g.name, g.lr]), [['prompt', 0.3]]);
    // a group with weightDecayKey null keeps its default weight decay (HF's no-decay group)
    const noDecay = { ...getMethod('pt'), groups: [{ name: 'decay', lrKey: 'lr', defaultLr: 5e-5, defaultWeightDecay: 0 }, { name: 'no_decay', lrKey: 'lr', defaultLr: 5e-5, defaultWeightDecay: 0, weightDecayKey: null }] } as AnyMethodEntry;
    assert.deepEqual(optimizerGroups(noDecay, { weightDecay: 0.01 }).map((g) => [g.name, g.lr, g.weightDecay]), [['decay', 5e-5, 0.01], ['no_decay', 5e-5, 0]]);
    for (const [name, settings] of [['dept', { promptLength: 4, rank: 2 }], ['pt', { promptLength: 3, init: 'RANDOM' }]] as const) {
      const groups = new Set(getMethod(name).groups.map((g) => g.name));
      for (const p of createMethod(name, settings, ctx()).params()) assert.ok(groups.has(p.group), `${name}: ${p.name} in ${p.group}`);
    }
  });
});

describe('create', () => {
  it('validates and initialises with the method defaults (DePT starts as PT: B = 0; r from the budget)', () => {
    const d = createMethod('dept', { promptLength: 4, rank: 2 }, ctx());
    assert.ok(d instanceof Dept);
    assert.deepEqual(d.config, { numVirtualTokens: 4, rank: 2, maxLength: 6, loraAlpha: 8, init: 'TEXT', initText: 'Classify this text is postive or not:' });
    assert.ok(d.loraB.data.every((x) => x === 0) && d.loraA.data.some((x) => x !== 0));
    // spec §1.6: r = floor((100 - 60)·8 / (6 + 8)) = 22
    assert.equal((createMethod('dept', {}, ctx()) as Dept).config.rank, Math.floor((100 - 60) * C / (6 + C)));
    const p = createMethod('pt', { promptLength: 3, init: 'RANDOM' }, ctx());
    assert.ok(p instanceof PromptTuning);
    assert.equal(p.numParams(), 3 * C);
  });

  it('a bad config throws invalid_config naming the field', () => {
    assert.throws(() => createMethod('dept', { promptLength: 4, rank: -1 }, ctx()), (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_config' && e.path === 'peft.rank');
    assert.throws(() => createMethod('pt', { promptLength: 0 }, ctx()), (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_config' && e.path === 'peft.numVirtualTokens');
    assert.throws(() => createMethod('nope', {}, ctx()), (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_config');
  });

  it('summary() gives the numbers and the parameter count', () => {
    const d = createMethod('dept', { promptLength: 3, rank: 2 }, ctx());
    assert.equal(getMethod('dept').summary(d), `DePT: 3 virtual tokens + rank-2 offset over s=6 input positions (α=8, scaling α/√r=5.6569), TEXT init "Classify this text is postive or not:", ${3 * C + 2 * (6 + C)} trainable parameters`);
    assert.equal(getMethod('pt').summary(createMethod('pt', { promptLength: 4, init: 'SAMPLE_VOCAB' }, ctx())), `prompt tuning: 4 virtual tokens, SAMPLE_VOCAB init, ${4 * C} trainable parameters`);
  });
});

describe('adapter folders dispatch on peft_type', () => {
  it('an unknown peft_type is unsupported, listing the ones the registry reads', () => {
    const dir = path.join(ROOT, 'lora-folder');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'IA3' }));
    writeSafetensors(path.join(dir, 'adapter_model.safetensors'), { x: { dtype: 'F32', shape: [1], data: new Float32Array(1) } });
    assert.throws(() => entryForFolder(dir), (e: unknown) => e instanceof SoftpromptError && e.code === 'unsupported' && e.message.includes('"IA3"')
      && e.message.includes('PROMPT_TUNING_LORA') && e.message.includes('PROMPT_TUNING'));
  });
});

// One (method, config) table through the same checks: init, a fake training step, save → load in each format.
const ROWS: [label: string, name: string, config: object, formats: ('dept' | 'peft')[]][] = [
  ['prompt tuning, TEXT', 'prompt_tuning', { promptLength: 5 }, ['peft', 'dept']],
  ['prompt tuning, SAMPLE_VOCAB', 'pt', { promptLength: 2, init: 'SAMPLE_VOCAB' }, ['peft']],
  ['DePT l=4 r=2 s=6', 'dept', { promptLength: 4, rank: 2, loraAlpha: 3 }, ['dept']],
  ['DePT l=0 r=2 (offset only)', 'dept', { promptLength: 0, rank: 2 }, ['dept']],
  ['DePT r=0 (PT with a length limit)', 'dept', { promptLength: 3, rank: 0 }, ['dept', 'peft']],
];

describe('every method: save → load round trip', () => {
  for (const [label, name, config, formats] of ROWS) {
    for (const format of formats) {
      it(`${label}, format ${format}`, () => {
        const m = createMethod(name, config as Record<string, unknown>, ctx(7));
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
