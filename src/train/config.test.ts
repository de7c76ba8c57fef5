/** The train config: common fields plus every method's options, the method canonicalised, formats checked per method. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SoftpromptError } from '../errors.js';
import { parseTrainConfig, TrainConfigSchema } from './config.js';

const isConfigError = (path: string, words: string[] = []) => (e: unknown) =>
  e instanceof SoftpromptError && e.code === 'invalid_config' && e.path === path && words.every((w) => e.message.includes(w));

test('method options are config keys with no default; the method name is canonical', () => {
  for (const k of ['promptLength', 'init', 'initText', 'rank', 'budget', 'loraAlpha', 'lrLowrank']) assert.ok(k in TrainConfigSchema.shape, k);
  const c = parseTrainConfig({ model: 'm', method: 'PT' });
  assert.equal(c.method, 'prompt_tuning');
  assert.equal(c['promptLength'], undefined, 'the method applies its own default');
  assert.equal(c.lr, undefined, 'lr defaults per group');
  assert.equal(parseTrainConfig({ model: 'm', rank: 4, lrLowrank: 0.01 })['rank'], 4);
});

test('bad values: an unknown method, a method option of the wrong type, a format the method does not write', () => {
  assert.throws(() => parseTrainConfig({ model: 'm', method: 'nope' }), isConfigError('config.method', ['"nope"', 'dept', 'prompt_tuning']));
  assert.throws(() => parseTrainConfig({ model: 'm', rank: -1 }), isConfigError('config.rank'));
  assert.throws(() => parseTrainConfig({ model: 'm', init: 'BAD' }), isConfigError('config.init'));
  assert.throws(() => parseTrainConfig({ model: 'm', method: 'dept', adapterFormat: 'hf' }), isConfigError('config.adapterFormat', ['dept or peft', '"hf"']));
  assert.equal(parseTrainConfig({ model: 'm', method: 'pt', adapterFormat: 'dept' }).adapterFormat, 'dept'); // PT writes PROMPT_TUNING either way
});
