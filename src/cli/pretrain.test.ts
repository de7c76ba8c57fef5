import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { bf16Available } from '../engine/index.js';
import { loadConfig, openWeights } from '../io/hf-folder.js';
import { loadTokenizerSync } from '../io/tokenizer.js';
import { T5Model } from '../models/t5.js';
import { expandedLengths } from '../pretrain/span-corruption.js';
import { expectError } from '../../test/expect-error.js';
import { fixture, repoRoot } from '../../test/paths.js';
import { preparePretraining } from '../pretrain/prepare.js';
import { runPretraining } from '../pretrain/run.js';
import { resolvePretrainConfig, runPretrainCommand } from './pretrain.js';

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-pretrain-cli-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));
const CORPUS = fixture('pretrain', 'wikitext-sample.txt');
const MODEL_CONFIG = path.join(ROOT, 'cfg.json');
fs.writeFileSync(MODEL_CONFIG, JSON.stringify({ d_model: 32, d_kv: 8, num_heads: 4, d_ff: 64, num_layers: 2, num_decoder_layers: 1, feed_forward_proj: 'gated-gelu', tie_word_embeddings: true, vocab_size: 32128, dropout_rate: 0 }));
const BASE = { modelConfig: MODEL_CONFIG, corpus: [CORPUS], inputLength: 32, batchSize: 2, steps: 3, warmupSteps: 1 };

function lines(cfg: Record<string, unknown>, mode: { dryRun: boolean; initOnly: boolean }): string[] {
  const out: string[] = [];
  runPretrainCommand(resolvePretrainConfig(cfg), mode, (l) => out.push(l));
  return out;
}

describe('softprompt pretrain', () => {
  it('--dry-run: the plan names the model, the sentinels, the corpus chunks and the epochs', () => {
    const out = lines({ ...BASE, output: path.join(ROOT, 'dry') }, { dryRun: true, initOnly: false });
    const tok = loadTokenizerSync(fixture('tokenizers', 't5'));
    const docs = fs.readFileSync(CORPUS, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '');
    const tokens = docs.reduce((a, d) => a + tok.encode(d).length, 0);
    const { tokensLength, targetsLength } = expandedLengths(32);
    assert.match(out[0]!, /d_model 32, 2\+1 layers/);
    assert.match(out[1]!, /<extra_id_0> = 32099/);
    assert.ok(out[2]!.includes(`${docs.length} documents, ${tokens} tokens → ${Math.floor(tokens / tokensLength)} chunks of ${tokensLength} (inputs 32, targets ${targetsLength}`), out[2]);
    assert.ok(!fs.existsSync(path.join(ROOT, 'dry')));
  });

  it('--init-only writes an HF folder softprompt loads: config, bf16 weights, tokenizer', () => {
    const dir = path.join(ROOT, 'init');
    lines({ ...BASE, corpus: [], output: dir, maxShardMb: 0.2 }, { dryRun: false, initOnly: true }); // no corpus needed
    assert.ok(fs.existsSync(path.join(dir, 'model.safetensors.index.json')));
    for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors') && !f.startsWith('model-00001'))) {
      assert.ok(fs.statSync(path.join(dir, f)).size <= 0.2e6, f); // shared.weight (2 MB) is alone in shard 1
    }
    const model = T5Model.load(loadConfig(dir), openWeights(dir));
    assert.equal(model.config.d_model, 32);
    assert.equal(openWeights(dir).info('shared.weight').dtype, 'BF16');
    assert.equal(loadTokenizerSync(dir).vocabSize, 32100);
  });

  it('trains: 12 steps lower the span loss, save a bf16 HF folder softprompt loads; interrupted + resumed = uninterrupted', () => {
    const cfg = (output: string) => resolvePretrainConfig({ ...BASE, steps: 12, warmupSteps: 2, lr: 3e-3, batchSize: 4, output, quiet: true });
    const whole = path.join(ROOT, 'whole');
    const prep = (c: ReturnType<typeof cfg>) => preparePretraining(c, fixture('tokenizers', 't5'));
    const c1 = cfg(whole);
    const r1 = runPretraining(c1, prep(c1), () => {});
    assert.equal(r1.steps, 12);
    const losses = fs.readFileSync(path.join(whole, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"loss"')).map((l) => (JSON.parse(l) as { loss: number }).loss);
    const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
    assert.ok(mean(losses.slice(-3)) < mean(losses.slice(0, 3)) - 0.5, `loss ${mean(losses.slice(0, 3))} → ${mean(losses.slice(-3))}`);
    const report = fs.readFileSync(path.join(whole, 'report.html'), 'utf8');
    assert.match(report, /<td>12 of 12<\/td>/);
    assert.match(report, /id="loss-chart">\n<svg /);
    const model = T5Model.load(loadConfig(whole), openWeights(whole));
    assert.equal(openWeights(whole).info('shared.weight').dtype, 'BF16');
    assert.equal(model.config.d_model, 32);
    // stopped at step 5 (--stop-after: a first stage saves its model folder), then resumed: same weights as the uninterrupted run
    const split = path.join(ROOT, 'split');
    const c2 = cfg(split);
    const r2 = runPretraining(c2, prep(c2), () => {}, { stopAtStep: 5 });
    assert.equal(r2.interrupted, true);
    assert.equal(T5Model.load(loadConfig(split), openWeights(split)).config.d_model, 32);
    const c3 = { ...cfg(split), resume: true };
    const r3 = runPretraining(c3, prep(c3), () => {});
    assert.equal(r3.steps, 12);
    for (const f of fs.readdirSync(whole).filter((f) => f.endsWith('.safetensors'))) {
      assert.ok(fs.readFileSync(path.join(whole, f)).equals(fs.readFileSync(path.join(split, f))), `${f} differs after resume`);
    }
  });

  it('--precision bf16 (mixed: fp32 masters, bf16 GEMMs): the loss falls as in fp32, and interrupted + resumed = uninterrupted', { skip: bf16Available() ? false : 'no native bf16 on this CPU' }, () => {
    const cfg = (output: string, precision: 'fp32' | 'bf16') => resolvePretrainConfig({ ...BASE, steps: 12, warmupSteps: 2, lr: 3e-3, batchSize: 4, output, quiet: true, precision });
    const prep = (c: ReturnType<typeof cfg>) => preparePretraining(c, fixture('tokenizers', 't5'));
    const losses = (dir: string) => fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"loss"')).map((l) => (JSON.parse(l) as { loss: number }).loss);
    const run = (dir: string, precision: 'fp32' | 'bf16', hooks: { stopAtStep?: number } = {}, resume = false) => {
      const c = { ...cfg(path.join(ROOT, dir), precision), resume };
      return runPretraining(c, prep(c), () => {}, hooks);
    };
    run('bf16-whole', 'bf16');
    run('fp32-ref', 'fp32');
    const b = losses(path.join(ROOT, 'bf16-whole')), f = losses(path.join(ROOT, 'fp32-ref'));
    const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
    assert.ok(mean(b.slice(-3)) < mean(b.slice(0, 3)) - 0.5, `bf16 loss ${mean(b.slice(0, 3))} → ${mean(b.slice(-3))}`);
    // the first step's loss differs from fp32 only by bf16 rounding (the same masters and batch)
    assert.ok(Math.abs(b[0]! - f[0]!) < 0.02 * f[0]!, `first loss bf16 ${b[0]}, fp32 ${f[0]}`);
    assert.notEqual(b[0], f[0]);
    run('bf16-split', 'bf16', { stopAtStep: 5 });
    run('bf16-split', 'bf16', {}, true);
    const whole = path.join(ROOT, 'bf16-whole'), split = path.join(ROOT, 'bf16-split');
    for (const x of fs.readdirSync(whole).filter((x) => x.endsWith('.safetensors'))) {
      assert.ok(fs.readFileSync(path.join(whole, x)).equals(fs.readFileSync(path.join(split, x))), `${x} differs after resume`);
    }
    assert.deepEqual(losses(split), b);
  });

  it('bad configurations name the field', () => {
    const out = { output: path.join(ROOT, 'bad') };
    expectError(() => resolvePretrainConfig({ ...BASE, ...out, model: fixture('t5-tiny') }), 'invalid_config', 'exactly one of model');
    expectError(() => resolvePretrainConfig({ ...BASE, ...out, mixtureRate: 0.3 }), 'invalid_config', 'supervised');
    expectError(() => resolvePretrainConfig({ ...BASE, ...out, inputLength: 4 }), 'invalid_config', 'config.inputLength');
    expectError(() => resolvePretrainConfig({ ...BASE, ...out, warmupSteps: 9 }), 'invalid_config', 'warmupSteps');
    expectError(() => resolvePretrainConfig({ ...BASE }), 'invalid_config', 'config.output');
    expectError(() => lines({ ...BASE, ...out, corpus: [path.join(ROOT, 'none.txt')] }, { dryRun: true, initOnly: false }), 'file_not_found', 'none.txt');
    expectError(() => lines({ ...BASE, ...out, inputLength: 4000 }, { dryRun: true, initOnly: false }), 'invalid_data', 'fewer than one chunk');
    expectError(() => lines({ ...BASE, ...out, corpus: [] }, { dryRun: true, initOnly: false }), 'invalid_config', 'No corpus');
    expectError(() => lines({ ...BASE, ...out, model: fixture('t5-tiny'), modelConfig: undefined }, { dryRun: false, initOnly: true }), 'invalid_config', '--init-only');
  });

  it('continues an existing folder: t5-tiny with the bundled tokenizer', () => {
    const out = lines({ ...BASE, modelConfig: undefined, model: fixture('t5-tiny'), tokenizer: fixture('tokenizers', 't5'), output: path.join(ROOT, 'cont') }, { dryRun: true, initOnly: false });
    assert.match(out[0]!, /continue .*t5-tiny \(d_model 64/);
  });
});
