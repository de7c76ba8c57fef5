import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture } from '../../test/paths.js';
import { expectError } from '../../test/expect-error.js';
import { loadCausalModel, loadModel } from './registry.js';

test('the registry picks the model file from config.json model_type', () => {
  assert.equal(loadModel(fixture('t5-tiny')).info.architecture, 't5');
  const gpt2 = loadCausalModel(fixture('gpt2-tiny'));
  assert.deepEqual([gpt2.info.architecture, gpt2.info.kind, gpt2.info.dModel], ['gpt2', 'causal', 64]);
  const llama = loadCausalModel(fixture('llama-tiny'));
  assert.deepEqual([llama.info.architecture, llama.info.kind, llama.info.vocabSize], ['llama', 'causal', 512]);
});

test('asking for the wrong family names the file and the model_type', () => {
  expectError(() => loadModel(fixture('gpt2-tiny')), 'unsupported', 'config.json', 'decoder-only gpt2');
  expectError(() => loadCausalModel(fixture('t5-tiny')), 'unsupported', 'config.json', '"t5"');
});
