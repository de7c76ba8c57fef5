import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { SoftpromptError } from '../errors.js';
import type { AdapterModelInfo } from './adapter-config.js';
import { saveAdapter } from './registry.js';
import { Dept } from './dept/index.js';
import { MODEL_CARD_FILE, portableName, writeModelCard } from './model-card.js';
import { DEPT_INIT_TEXT } from './prompt-init.js';
import { PromptTuning } from './prompt-tuning/index.js';

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-model-card-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));

const T5: AdapterModelInfo = { dModel: 16, numLayers: 2, numHeads: 2, kind: 'seq2seq' };
const ramp = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => (i % 7) - 3);

/** The YAML front matter as lines, and the body. */
function split(card: string): { front: string[]; body: string } {
  assert.ok(card.startsWith('---\n'), 'front matter first');
  const end = card.indexOf('\n---\n', 4);
  assert.ok(end > 0, 'front matter closed');
  return { front: card.slice(4, end).split('\n'), body: card.slice(end + 5) };
}

describe('writeModelCard', () => {
  it('DePT: PEFT-style front matter, hyperparameters, the numbers passed in, how to load it', () => {
    const dir = path.join(ROOT, 'dept adapter');
    const m = new Dept({ numVirtualTokens: 6, rank: 3, maxLength: 10, loraAlpha: 8, init: 'TEXT', initText: DEPT_INIT_TEXT }, 16, ramp(96), ramp(30), ramp(48));
    saveAdapter(dir, m, { baseModel: 'google/t5-v1_1-base', tokenizer: null, modelInfo: T5, format: 'dept' });
    const file = writeModelCard(dir, {
      task: 'glue/cola',
      datasets: ['nyu-mll/glue'],
      training: { steps: 30000, lr: 0.3, lrLowrank: 0.0001, seed: 42 },
      metrics: { validation_matthews_correlation: 63.82, test_matthews_correlation: 61.57 },
    });
    assert.equal(file, path.join(dir, MODEL_CARD_FILE));
    const card = fs.readFileSync(file, 'utf8');
    const { front, body } = split(card);
    assert.deepEqual(front, [
      'base_model: google/t5-v1_1-base',
      'library_name: peft',
      'pipeline_tag: text2text-generation',
      'tags:',
      '- softprompt',
      '- dept',
      '- base_model:adapter:google/t5-v1_1-base',
      'datasets:',
      '- nyu-mll/glue',
    ]);
    for (const s of ['63.82', '61.57', 'validation_matthews_correlation', '30000', '0.0001', 'glue/cola']) assert.ok(body.includes(s), s);
    // l, r, s, α and the trainable count l·d + r·(s + d) = 96 + 3·26 = 174
    for (const row of ['| virtual tokens l (num_virtual_tokens) | 6 |', '| rank r | 3 |', '| max input length s (max_length) | 10 |', '| lora_alpha α | 8 |', '| trainable parameters | 174 (l·d + r·(s + d)) |']) {
      assert.ok(body.includes(row), row);
    }
    // the adapter folder was given as an absolute path of this machine: the card names it by its folder name
    assert.ok(body.includes('PeftModel.from_pretrained(model, "dept adapter")'));
    assert.ok(!card.includes(ROOT), 'no path of the training machine in the card');
    assert.ok(body.includes('AutoModelForSeq2SeqLM'));
    assert.ok(body.includes('github.com/ZhengxiangShi/DePT'), 'points at the DePT fork');
    assert.ok(body.includes('upstream `peft` cannot load it'));
    assert.ok(body.includes(`softprompt predict --model google/t5-v1_1-base --adapter 'dept adapter'`));
  });

  it('prompt tuning: upstream peft, no fork, causal model class; no metrics is said plainly', () => {
    const dir = path.join(ROOT, 'pt');
    const m = new PromptTuning({ numVirtualTokens: 4, init: 'RANDOM', initText: DEPT_INIT_TEXT }, 16, ramp(64));
    saveAdapter(dir, m, { baseModel: 'gpt2', tokenizer: 'gpt2', modelInfo: { ...T5, kind: 'causal' }, format: 'peft' });
    const card = fs.readFileSync(writeModelCard(dir), 'utf8');
    const { front, body } = split(card);
    assert.ok(front.includes('library_name: peft') && front.includes('base_model: gpt2') && front.includes('- prompt-tuning') && front.includes('- softprompt'));
    assert.ok(front.includes('pipeline_tag: text-generation'));
    assert.ok(!front.includes('- dept'));
    assert.ok(body.includes('| trainable parameters | 64 (l·d) |'));
    assert.ok(body.includes('AutoModelForCausalLM') && body.includes('Load it with upstream `peft`'));
    assert.ok(!body.includes('DePT fork'));
    assert.ok(body.includes('No final metrics were recorded'));
  });

  it('a base model given as a local folder is named by its folder (or the Hub id of a Hugging Face cache path)', () => {
    const local = path.join(ROOT, 'models', 'my-t5');
    fs.mkdirSync(local, { recursive: true });
    const dir = path.join(ROOT, 'local-base');
    const m = new PromptTuning({ numVirtualTokens: 4, init: 'RANDOM', initText: DEPT_INIT_TEXT }, 16, ramp(64));
    saveAdapter(dir, m, { baseModel: local, tokenizer: local, modelInfo: T5, format: 'peft' });
    const card = fs.readFileSync(writeModelCard(dir), 'utf8');
    const { front } = split(card);
    assert.ok(front.includes('base_model: my-t5') && front.includes('- base_model:adapter:my-t5'), front.join('\n'));
    assert.ok(!card.includes(ROOT), 'no path of the training machine in the card');
    assert.ok(card.includes('AutoTokenizer.from_pretrained("my-t5")'));
    // the adapter's own config keeps the path: predict finds the base model through it
    assert.equal((JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')) as { base_model_name_or_path: string }).base_model_name_or_path, local);

    assert.equal(portableName('google/flan-t5-small'), 'google/flan-t5-small');
    assert.equal(portableName('t5-base'), 't5-base');
    assert.equal(portableName('/home/me/.cache/huggingface/hub/models--google--flan-t5-small/snapshots/0123abcd/'), 'google/flan-t5-small');
    assert.equal(portableName('/srv/models/t5-base/'), 't5-base');
    assert.equal(portableName('./t5-base'), 't5-base');
    assert.equal(portableName(path.relative(process.cwd(), local)), 'my-t5'); // a relative folder that exists here
  });

  it('needs a saved adapter in the folder', () => {
    const dir = path.join(ROOT, 'empty');
    fs.mkdirSync(dir);
    assert.throws(() => writeModelCard(dir), (e: unknown) => e instanceof SoftpromptError && e.code === 'file_not_found' && e.message.includes(dir));
  });
});
