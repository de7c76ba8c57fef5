import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { SoftpromptError } from '../errors.js';
import { floatArg, intArg, parseNumberStrict } from './options.js';
import { packageRoot } from './paths.js';
import { flagValues, readTrainConfigFile, resolveTrainConfig, trainDefaults } from './train-config.js';

function tempFile(name: string, content: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-cfg-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

function code(fn: () => unknown): { code: string; path: string | undefined; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SoftpromptError, `expected a SoftpromptError, got ${String(err)}`);
    return { code: err.code, path: err.path, message: err.message };
  }
  assert.fail('expected an error');
}

test('flag > config file > schema default', () => {
  const file = tempFile('run.json', { model: 'some/t5', steps: 100, lr: 0.1, promptLength: 40 });
  const r = resolveTrainConfig({ steps: 5, batchSize: 4 }, file);
  assert.equal(r.config.model, 'some/t5'); // file
  assert.equal(r.config.steps, 5); // flag over file
  assert.equal(r.config.lr, 0.1); // file over default
  assert.equal(r.config.promptLength, 40);
  assert.equal(r.config.batchSize, 4); // flag over default
  assert.equal(r.config.warmupSteps, trainDefaults().warmupSteps); // default
  assert.equal(r.quickstart, false);
  assert.equal(r.configFile, file);
});

test('config files accept snake_case / kebab-case keys, comments and lower-case enum values', () => {
  const file = tempFile('run.json', { '//': 'a comment', model: 'm', prompt_length: 7, 'lr-lowrank': 0.002, method: 'pt', init: 'sample_vocab' });
  const { config } = resolveTrainConfig({}, file);
  assert.equal(config.promptLength, 7);
  assert.equal(config.lrLowrank, 0.002);
  assert.equal(config.method, 'prompt_tuning');
  assert.equal(config.init, 'SAMPLE_VOCAB');
});

test('an unknown config key is rejected with a suggestion', () => {
  const file = tempFile('run.json', { model: 'm', promt_length: 3 });
  const e = code(() => readTrainConfigFile(file));
  assert.equal(e.code, 'invalid_config');
  assert.equal(e.path, 'config.promt_length');
  assert.match(e.message, /did you mean "promptLength"/);
});

test('a bad value names the field and where it came from', () => {
  const file = tempFile('run.json', { model: 'm', steps: 0 });
  const fromFile = code(() => resolveTrainConfig({}, file));
  assert.equal(fromFile.code, 'invalid_config');
  assert.equal(fromFile.path, 'config.steps');
  assert.ok(fromFile.message.includes(file), fromFile.message);

  const fromFlag = code(() => resolveTrainConfig({ model: 'm', steps: 0 }));
  assert.equal(fromFlag.path, 'config.steps');
  assert.match(fromFlag.message, /from --steps/);

  // the flag overrides the file's bad value, so only the flag's own bad value is reported
  const overridden = code(() => resolveTrainConfig({ steps: 3, batchSize: 0 }, file));
  assert.equal(overridden.path, 'config.batchSize');
});

test('missing and malformed config files', () => {
  assert.equal(code(() => resolveTrainConfig({}, '/no/such/config.json')).code, 'file_not_found');
  assert.equal(code(() => resolveTrainConfig({}, tempFile('bad.json', '{"model": '))).code, 'malformed_file');
  assert.equal(code(() => resolveTrainConfig({}, tempFile('arr.json', '[1, 2]'))).code, 'malformed_file');
  const noModel = code(() => resolveTrainConfig({}, tempFile('nomodel.json', { steps: 3 })));
  assert.equal(noModel.path, 'config.model');
});

test('no --model and no --config: the bundled quickstart, its paths relative to the package', () => {
  const r = resolveTrainConfig({ steps: 2 });
  assert.equal(r.quickstart, true);
  assert.equal(r.config.steps, 2);
  assert.equal(r.config.model, path.join(packageRoot(), 'models', 't5-mini'));
  assert.equal(r.config.dataDir, path.join(packageRoot(), 'data', 'sst2-4k'));
  assert.ok(fs.existsSync(path.join(r.config.model, 'config.json')));
  assert.ok(r.config.tokenizer !== undefined && fs.existsSync(r.config.tokenizer));
  assert.equal(r.config.task, 'sst2');
  assert.equal(r.config.method, 'dept');
  assert.equal(r.config.output, 'runs/quickstart'); // relative to the current directory
});

test('flagValues keeps command-line values only, not commander defaults', () => {
  const sources: Record<string, string> = { steps: 'cli', dropout: 'default', resume: 'cli' };
  const v = flagValues({ steps: 3, dropout: true, resume: true, config: 'x.json' }, (k) => sources[k]);
  assert.deepEqual(v, { steps: 3, resume: true });
});

test('numeric flag values are parsed strictly', () => {
  assert.equal(parseNumberStrict('1e-4'), 1e-4);
  assert.equal(parseNumberStrict('.5'), 0.5);
  for (const bad of ['', 'ten', '0x10', '1,5', 'Infinity', 'NaN', '3abc']) assert.equal(parseNumberStrict(bad), undefined, bad);
  assert.equal(intArg('300'), 300);
  assert.throws(() => intArg('1.5'), /expected an integer/);
  assert.throws(() => intArg('abc'), /expected an integer/);
  assert.equal(floatArg('0.3'), 0.3);
  assert.throws(() => floatArg('fast'), /expected a number/);
});
