/**
 * `softprompt train --method full` from the command line on the committed tiny T5: --train-modules as a comma
 * list (flag and config file), the saved folder evaluated as an adapter on its base model and as its own model.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { repoRoot } from '../../test/paths.js';
import { resolveTrainConfig } from './train-config.js';

const ROOT = repoRoot();
const BIN = path.join(ROOT, 'bin', 'softprompt.js');
const TINY = path.join(ROOT, 'test', 'fixtures', 't5-tiny');
const TOKENIZER = path.join(ROOT, 'test', 'fixtures', 'tokenizers', 't5');
let tmp = '';
before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-cli-full-')); });
after(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

function cli(args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['SOFTPROMPT_DEBUG'];
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, encoding: 'utf8', env, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, show: `status ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}` };
}

test('--train-modules is a comma list on the command line and in a config file', () => {
  const file = path.join(tmp, 'run.json');
  fs.writeFileSync(file, JSON.stringify({ model: 'm', method: 'full', train_modules: 'encoder, lm_head' }));
  assert.deepEqual(resolveTrainConfig({}, file).config['trainModules'], ['encoder', 'lm_head']);
  assert.deepEqual(resolveTrainConfig({ trainModules: ['decoder'] }, file).config['trainModules'], ['decoder']);
});

test('train --method full, then eval the folder as an adapter on its base model and as its own model: the same loss', () => {
  const out = path.join(tmp, 'run');
  const r = cli(['train', '--model', TINY, '--tokenizer', TOKENIZER, '--task', 'sst2', '--method', 'full', '--train-modules', 'decoder.block.1,final_layer_norm',
    '--steps', '3', '--warmup-steps', '1', '--lr', '1e-3', '--eval-every', '0', '--max-eval-examples', '8', '--max-length', '32', '--eval-mode', 'rank', '--output', out]);
  assert.equal(r.status, 0, r.show);
  assert.match(r.stderr, /full fine-tuning: \d+ weight tensors \(decoder\.block\.1, final_layer_norm\)/);
  const dir = path.join(out, 'adapter');
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'README.md']) assert.ok(fs.existsSync(path.join(dir, f)), `${f}\n${r.show}`);
  assert.ok(!fs.existsSync(path.join(dir, 'adapter_config.json')));

  const evalArgs = ['--tokenizer', TOKENIZER, '--task', 'sst2', '--eval-mode', 'rank', '--max-eval-examples', '8', '--json'];
  const onBase = cli(['eval', '--adapter', dir, '--model', TINY, ...evalArgs]);
  assert.equal(onBase.status, 0, onBase.show);
  const onItself = cli(['eval', '--adapter', dir, '--model', dir, ...evalArgs]);
  assert.equal(onItself.status, 0, onItself.show);
  const base = cli(['eval', '--adapter', TINY, '--model', TINY, ...evalArgs]);
  assert.equal(base.status, 0, base.show);
  const loss = (s: string) => (JSON.parse(s) as { loss: number }).loss;
  assert.equal(loss(onBase.stdout), loss(onItself.stdout));
  assert.notEqual(loss(onBase.stdout), loss(base.stdout), 'the trained weights are used');
});
