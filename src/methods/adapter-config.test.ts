import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SoftpromptError } from '../errors.js';
import {
  deptAdapterConfig, deptConfigFromAdapter, formatAdapterConfig, parseAdapterConfig, peftAdapterConfig, promptTuningConfigFromAdapter,
  readAdapterConfig, type AdapterBaseInfo,
} from './adapter-config.js';
import type { DeptConfig } from './dept/index.js';
import { DEPT_INIT_TEXT } from './prompt-init.js';
import { fixture } from '../../test/paths.js';
import { expectError } from '../../test/expect-error.js';

const COLA_CONFIG = fixture('dept-cola', 'adapter_config.json');
const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-adapter-config-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));

const T5_BASE: AdapterBaseInfo = { baseModel: 't5-base', tokenizer: 't5-base', modelInfo: { dModel: 768, numLayers: 12, numHeads: 12, kind: 'seq2seq' } };
const COLA: DeptConfig = { numVirtualTokens: 80, rank: 15, maxLength: 256, loraAlpha: 8, init: 'TEXT', initText: DEPT_INIT_TEXT };


const typeOf = (v: unknown): string => (v === null ? 'null' : typeof v);

describe('DePT (PROMPT_TUNING_LORA) config', () => {
  it('reproduces the released cola adapter_config.json byte for byte', () => {
    assert.equal(formatAdapterConfig(deptAdapterConfig(COLA, T5_BASE)), fs.readFileSync(COLA_CONFIG, 'utf8'));
  });

  it('has the key set and value types of the released config for any settings', () => {
    const real = JSON.parse(fs.readFileSync(COLA_CONFIG, 'utf8')) as Record<string, unknown>;
    const ours = deptAdapterConfig({ numVirtualTokens: 60, rank: 30, maxLength: 256, loraAlpha: 8, init: 'RANDOM', initText: 'x' },
      { baseModel: 'gpt2', tokenizer: null, modelInfo: { dModel: 768, numLayers: 12, numHeads: 12, kind: 'causal' } });
    assert.deepEqual(Object.keys(ours).sort(), Object.keys(real).sort());
    for (const k of Object.keys(real)) assert.equal(typeOf(ours[k]), typeOf(real[k]), k);
    assert.equal(ours['task_type'], 'CAUSAL_LM');
    assert.equal(ours['tokenizer_name_or_path'], 'gpt2'); // DePT's train.py: tokenizer = model name
    assert.equal(ours['prompt_tuning_init'], 'RANDOM');
  });

  it('parses back into the same method config, tolerating unknown keys', () => {
    const json = { ...deptAdapterConfig(COLA, T5_BASE), peft_version: '0.5.0', some_future_key: [1, 2] };
    const c = parseAdapterConfig(JSON.stringify(json), 'x/adapter_config.json');
    assert.equal(c.peftType, 'PROMPT_TUNING_LORA');
    assert.ok(c.peftType === 'PROMPT_TUNING_LORA');
    assert.deepEqual(deptConfigFromAdapter(c), COLA);
    assert.equal(c.tokenDim, 768);
    assert.equal(c.numTransformerSubmodules, 1);
    assert.equal(c.saveLoraEmbeddings, true);
    assert.equal(c.baseModel, 't5-base');
  });

  it('reads the released file', () => {
    const c = readAdapterConfig(COLA_CONFIG);
    assert.ok(c.peftType === 'PROMPT_TUNING_LORA');
    assert.deepEqual([c.numVirtualTokens, c.rank, c.maxLength, c.loraAlpha, c.taskType], [80, 15, 256, 8, 'SEQ_2_SEQ_LM']);
  });
});

describe('PEFT (PROMPT_TUNING) config', () => {
  it("equals spec §4.4's minimal config for a T5-Base-like 100-token RANDOM prompt", () => {
    const expected = {
      auto_mapping: null,
      base_model_name_or_path: 't5-base',
      inference_mode: true,
      modules_to_save: null,
      num_attention_heads: 12,
      num_layers: 12,
      num_transformer_submodules: 1,
      num_virtual_tokens: 100,
      peft_type: 'PROMPT_TUNING',
      prompt_tuning_init: 'RANDOM',
      prompt_tuning_init_text: null,
      revision: null,
      task_type: 'SEQ_2_SEQ_LM',
      token_dim: 768,
      tokenizer_kwargs: null,
      tokenizer_name_or_path: null,
    };
    const json = peftAdapterConfig({ numVirtualTokens: 100, init: 'RANDOM', initText: DEPT_INIT_TEXT }, { ...T5_BASE, tokenizer: null });
    assert.deepEqual(json, expected);
    assert.equal(formatAdapterConfig(json), JSON.stringify(expected, null, 2)); // keys already sorted there
  });

  it('TEXT init writes the tokenizer and text PEFT requires, or RANDOM when no tokenizer is known', () => {
    const cfg = { numVirtualTokens: 20, init: 'TEXT' as const, initText: 'Classify:' };
    const withTok = peftAdapterConfig(cfg, T5_BASE);
    assert.deepEqual([withTok['prompt_tuning_init'], withTok['prompt_tuning_init_text'], withTok['tokenizer_name_or_path']], ['TEXT', 'Classify:', 't5-base']);
    const noTok = peftAdapterConfig(cfg, { ...T5_BASE, tokenizer: null });
    assert.deepEqual([noTok['prompt_tuning_init'], noTok['prompt_tuning_init_text'], noTok['tokenizer_name_or_path']], ['RANDOM', null, null]);
    const sv = peftAdapterConfig({ ...cfg, init: 'SAMPLE_VOCAB' }, T5_BASE);
    assert.deepEqual([sv['prompt_tuning_init'], sv['prompt_tuning_init_text']], ['SAMPLE_VOCAB', null]);
  });

  it('parses back (TEXT round-trips its text; no text gives the default)', () => {
    const c = parseAdapterConfig(formatAdapterConfig(peftAdapterConfig({ numVirtualTokens: 20, init: 'TEXT', initText: 'Classify:' }, T5_BASE)), 'a.json');
    assert.ok(c.peftType === 'PROMPT_TUNING');
    assert.deepEqual(promptTuningConfigFromAdapter(c), { numVirtualTokens: 20, init: 'TEXT', initText: 'Classify:' });
    const r = parseAdapterConfig('{"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 7}', 'b.json');
    assert.ok(r.peftType === 'PROMPT_TUNING');
    assert.deepEqual(promptTuningConfigFromAdapter(r), { numVirtualTokens: 7, init: 'RANDOM', initText: DEPT_INIT_TEXT });
  });

  it('resolves num_transformer_submodules as PEFT does: null is 2 for SEQ_2_SEQ_LM, else 1', () => {
    const parse = (extra: object) => parseAdapterConfig(JSON.stringify({ peft_type: 'PROMPT_TUNING', num_virtual_tokens: 5, ...extra }), 'c.json');
    assert.equal(parse({ task_type: 'SEQ_2_SEQ_LM', num_transformer_submodules: null }).numTransformerSubmodules, 2);
    assert.equal(parse({ task_type: 'SEQ_2_SEQ_LM' }).numTransformerSubmodules, 2);
    assert.equal(parse({ task_type: 'SEQ_2_SEQ_LM', num_transformer_submodules: 1 }).numTransformerSubmodules, 1);
    assert.equal(parse({ task_type: 'CAUSAL_LM', num_transformer_submodules: null }).numTransformerSubmodules, 1);
    assert.equal(parse({ num_transformer_submodules: 2 }).numTransformerSubmodules, 2);
  });
});

describe('formatAdapterConfig', () => {
  it("sorts keys and escapes non-ASCII like Python's json.dumps(indent=2, sort_keys=True)", () => {
    assert.equal(formatAdapterConfig({ b: 1, a: 'Ünï 😀', c: null, B: true }),
      '{\n  "B": true,\n  "a": "\\u00dcn\\u00ef \\ud83d\\ude00",\n  "b": 1,\n  "c": null\n}');
    assert.equal(JSON.parse(formatAdapterConfig({ a: 'Ünï 😀' })).a, 'Ünï 😀');
  });
});

describe('adapter config errors name the file and the key', () => {
  const F = 'some/adapter/adapter_config.json';
  const dept = (patch: Record<string, unknown>) => JSON.stringify({ ...deptAdapterConfig(COLA, T5_BASE), ...patch });

  it('an unknown peft_type is unsupported', () => {
    const e = expectError(() => parseAdapterConfig('{"peft_type": "LORA", "r": 8}', F), 'unsupported', F, '"LORA"', 'softprompt loads PROMPT_TUNING and PROMPT_TUNING_LORA adapters');
    assert.equal(e.file, F);
    assert.equal(e.path, 'adapter_config.peft_type');
  });

  it('a missing peft_type, bad JSON or a non-object', () => {
    expectError(() => parseAdapterConfig('{"num_virtual_tokens": 3}', F), 'invalid_config', F, 'peft_type');
    expectError(() => parseAdapterConfig('{"peft_type": ', F), 'malformed_file', F);
    expectError(() => parseAdapterConfig('[1]', F), 'malformed_file', F, 'an array');
  });

  it('wrong types and ranges, via zod', () => {
    let e = expectError(() => parseAdapterConfig(dept({ r: '15' }), F), 'invalid_config', F, 'adapter_config.r');
    assert.equal(e.path, 'adapter_config.r');
    e = expectError(() => parseAdapterConfig(dept({ max_length: 0 }), F), 'invalid_config', F, 'adapter_config.max_length');
    e = expectError(() => parseAdapterConfig(dept({ prompt_tuning_init: 'VOCAB' }), F), 'invalid_config', F, 'adapter_config.prompt_tuning_init');
    e = expectError(() => parseAdapterConfig(dept({ num_transformer_submodules: 3 }), F), 'invalid_config', F, 'adapter_config.num_transformer_submodules');
    e = expectError(() => parseAdapterConfig('{"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 0}', F), 'invalid_config', F, 'adapter_config.num_virtual_tokens');
    e = expectError(() => parseAdapterConfig(dept({ num_virtual_tokens: 0, r: 0 }), F), 'invalid_config', F, 'both 0');
    e = expectError(() => parseAdapterConfig(dept({ hidden_size: 512 }), F), 'invalid_config', F, 'hidden_size 512');
    assert.equal(e.path, 'adapter_config.hidden_size');
  });

  it('a task type without a head we run, and load flags the fork would honour by re-initialising', () => {
    expectError(() => parseAdapterConfig(dept({ task_type: 'SEQ_CLS' }), F), 'unsupported', F, '"SEQ_CLS"');
    expectError(() => parseAdapterConfig(dept({ load_lora_embeddings: false }), F), 'unsupported', F, 'load_lora_embeddings');
    expectError(() => parseAdapterConfig(dept({ load_lora_embedding_B: false }), F), 'unsupported', F, 'load_lora_embedding_B');
  });

  it('a missing file is file_not_found', () => {
    const f = path.join(ROOT, 'none', 'adapter_config.json');
    expectError(() => readAdapterConfig(f), 'file_not_found', f);
  });
});
