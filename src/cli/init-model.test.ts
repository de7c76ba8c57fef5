/**
 * `softprompt init-model`: decoder-only models to try from the bundled files. The folder is sized to the real
 * tokenizer's vocabulary (read independently here from tokenizer.json / tokenizer.model), DePT and prompt
 * tuning train on it for a few steps, and a tokenizer that does not belong to a model is named at load (exit 3).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { SafetensorsFile } from '../io/safetensors.js';
import { fixture, repoRoot } from '../../test/paths.js';

const BIN = path.join(repoRoot(), 'bin', 'softprompt.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-init-model-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, encoding: 'utf8', timeout: 180_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, show: `status ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}` };
}

/** tokenizer.json: the largest id in the model's vocab and added tokens, + 1 */
function jsonVocabSize(file: string): number {
  const j = JSON.parse(fs.readFileSync(file, 'utf8')) as { model: { vocab: Record<string, number> }; added_tokens?: Array<{ id: number }> };
  return Math.max(...Object.values(j.model.vocab), ...(j.added_tokens ?? []).map((t) => t.id)) + 1;
}

const train = (model: string, method: string, out: string) => cli(['train', '--model', model, '--task', 'sst2', '--method', method,
  '--prompt-length', '4', ...(method === 'dept' ? ['--budget', '8'] : []), '--steps', '3', '--batch-size', '2', '--warmup-steps', '1',
  '--max-length', '32', '--eval-every', '0', '--max-eval-examples', '4', '--eval-mode', 'rank', '--output', out]);

describe('init-model', () => {
  test('gpt2: sized to the bundled GPT-2 tokenizer; DePT and prompt tuning train on it', () => {
    const model = path.join(tmp, 'gpt2');
    const r = cli(['init-model', '--family', 'gpt2', '--output', model]);
    assert.equal(r.status, 0, r.show);
    const V = jsonVocabSize(fixture('tokenizers', 'gpt2', 'tokenizer.json'));
    assert.equal(V, 50257);
    const config = JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual([config['model_type'], config['vocab_size'], config['n_embd']], ['gpt2', V, 32]);
    const st = SafetensorsFile.open(path.join(model, 'model.safetensors'));
    assert.deepEqual(st.info('transformer.wte.weight').shape, [V, 32]);
    assert.ok(fs.statSync(path.join(model, 'model.safetensors')).size < 8e6); // small
    assert.deepEqual(fs.readFileSync(path.join(model, 'tokenizer.json')), fs.readFileSync(fixture('tokenizers', 'gpt2', 'tokenizer.json')));
    for (const method of ['dept', 'pt']) {
      const t = train(model, method, path.join(tmp, `gpt2-${method}`));
      assert.equal(t.status, 0, t.show);
      assert.match(t.stdout, /Trained .* 3 steps/);
    }
    // a second init into the same folder is refused (nothing overwritten)
    const again = cli(['init-model', '--family', 'gpt2', '--output', model]);
    assert.equal(again.status, 3, again.show);
  });

  test('llama: sized to the bundled LLaMA-2 SentencePiece tokenizer (32,000 pieces); DePT trains on it', () => {
    const model = path.join(tmp, 'llama');
    const r = cli(['init-model', '--family', 'llama', '--output', model, '--hidden', '16', '--heads', '2']);
    assert.equal(r.status, 0, r.show);
    const config = JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual([config['model_type'], config['vocab_size'], config['hidden_size']], ['llama', 32000, 16]);
    assert.ok(fs.existsSync(path.join(model, 'tokenizer.model')));
    const t = train(model, 'dept', path.join(tmp, 'llama-dept'));
    assert.equal(t.status, 0, t.show);
  });

  test('a tokenizer that does not belong to the model: exit 3, naming both and their vocabulary sizes', () => {
    const r = cli(['train', '--model', fixture('gpt2-tiny'), '--tokenizer', fixture('tokenizers', 'gpt2'), '--task', 'sst2', '--steps', '1',
      '--output', path.join(tmp, 'mismatch')]);
    assert.equal(r.status, 3, r.show);
    assert.ok(r.stderr.includes(`The tokenizer ${fixture('tokenizers', 'gpt2')} (50,257 tokens) and the model ${fixture('gpt2-tiny')} (vocab_size 1,024) do not belong together`), r.show);
    assert.match(r.stderr, /softprompt init-model --family gpt2\|llama/);
  });
});
