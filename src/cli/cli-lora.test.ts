// `softprompt train --method lora` end to end on the bundled SST-2 slice with the tiny T5: the printed eval /
// predict / inspect commands, the PEFT file layout, `export --merge` giving the same logits as the adapter, and the
// errors a LoRA user meets (an unknown target module, an adapter for another base model).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile } from '../io/safetensors.js';
import { readAdapter } from '../methods/registry.js';
import { withMethod } from '../methods/method.js';
import { loadAnyModel } from '../models/registry.js';
import type { Seq2SeqLM } from '../models/types.js';

function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}
const ROOT = findRoot();
const BIN = path.join(ROOT, 'bin', 'softprompt.js');
const TINY = path.join(ROOT, 'test', 'fixtures', 't5-tiny');
const GATED = path.join(ROOT, 'test', 'fixtures', 't5-gated-tiny');
const TOKENIZER = path.join(ROOT, 'test', 'fixtures', 'tokenizers', 't5');

let tmp = '';
before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-lora-')); });
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, all: `status ${r.status}\n${r.stdout}\n${r.stderr}` };
}

describe('LoRA from the command line', () => {
  const out = () => path.join(tmp, 'run');
  const train = ['train', '--model', TINY, '--tokenizer', TOKENIZER, '--method', 'lora', '--lora-r', '4', '--target-modules', 'q,v,wo',
    '--steps', '40', '--warmup-steps', '4', '--batch-size', '8', '--max-length', '32', '--eval-every', '0', '--eval-mode', 'rank', '--max-eval-examples', '16', '--lr', '1e-3'];

  test('train writes a PEFT LORA adapter; every printed command works as printed', () => {
    const r = cli([...train, '--output', out()]);
    assert.equal(r.status, 0, r.all);
    const losses = fs.readFileSync(path.join(out(), 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"loss"')).map((l) => (JSON.parse(l) as { loss: number }).loss);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    assert.ok(mean(losses.slice(-10)) < mean(losses.slice(0, 10)) - 0.5, `loss ${mean(losses.slice(0, 10))} → ${mean(losses.slice(-10))}`);
    const cfg = JSON.parse(fs.readFileSync(path.join(out(), 'adapter', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg['peft_type'], 'LORA');
    assert.deepEqual(cfg['target_modules'], ['q', 'v', 'wo']);
    const st = SafetensorsFile.open(path.join(out(), 'adapter', 'adapter_model.safetensors'));
    // t5-tiny: 2 encoder blocks (q, v, wo) + 2 decoder blocks (self q, v; cross q, v; wo) = 6 + 10 layers, A and B each
    assert.equal(st.names().length, 32);
    assert.deepEqual(st.info('base_model.model.encoder.block.0.layer.1.DenseReluDense.wo.lora_A.weight').shape, [4, 128]); // d_ff 128
    const printed = r.stdout.split('\n').filter((l) => /^\s+softprompt (eval|predict|inspect) /.test(l)).map((l) => l.trim().replace(/^softprompt /, ''));
    assert.equal(printed.length, 3, r.stdout);
    for (const line of printed) {
      const run = spawnSync('sh', ['-c', `node ${BIN} ${line}`], { cwd: tmp, encoding: 'utf8' });
      assert.equal(run.status, 0, `${line}\n${run.stderr}`);
    }
    const ev = cli(['eval', '--adapter', path.join(out(), 'adapter'), '--model', TINY, '--tokenizer', TOKENIZER, '--task', 'sst2', '--eval-mode', 'rank', '--max-eval-examples', '16', '--json']);
    assert.equal(ev.status, 0, ev.all);
    const rep = JSON.parse(ev.stdout) as { loss: number; metrics: Record<string, number> };
    assert.ok(Number.isFinite(rep.loss) && typeof rep.metrics['accuracy'] === 'number');
  });

  test('export --merge: a plain HF folder whose logits equal base model + adapter', () => {
    const merged = path.join(tmp, 'merged');
    const r = cli(['export', '--adapter', path.join(out(), 'adapter'), '--model', TINY, '--tokenizer', TOKENIZER, '--merge', '--output', merged]);
    assert.equal(r.status, 0, r.all);
    const batch = (m: Seq2SeqLM) => {
      const ids = Int32Array.from([37, 1782, 19, 248, 5, 1, 71, 3, 9, 1]);
      return { B: 2, Te: 5, inputsEmbeds: m.embed(ids), encoderMask: new Float32Array(10).fill(1), S: 2, labels: Int32Array.from([209, 1, 632, 1]) };
    };
    const base = loadAnyModel(TINY).model as Seq2SeqLM;
    const adapter = readAdapter(path.join(out(), 'adapter')).method;
    const viaAdapter = withMethod(base, adapter, () => base.forward(batch(base), { keepLogits: true }).logits!);
    const m2 = loadAnyModel(merged).model as Seq2SeqLM;
    const viaMerge = m2.forward(batch(m2), { keepLogits: true }).logits!;
    let maxDiff = 0, maxRef = 0;
    for (let i = 0; i < viaMerge.length; i++) { maxDiff = Math.max(maxDiff, Math.abs(viaMerge[i]! - viaAdapter[i]!)); maxRef = Math.max(maxRef, Math.abs(viaAdapter[i]!)); }
    assert.ok(maxDiff <= 1e-5 * maxRef, `merged vs adapter logits: ${maxDiff} of ${maxRef}`);
    assert.equal(fs.readFileSync(path.join(merged, 'config.json'), 'utf8'), fs.readFileSync(path.join(TINY, 'config.json'), 'utf8'));
  });

  test('export --merge of a DePT adapter is refused with the reason', () => {
    const r = cli(['export', '--adapter', path.join(ROOT, 'test', 'fixtures', 'dept-cola'), '--model', TINY, '--merge', '--output', path.join(tmp, 'x')]);
    assert.notEqual(r.status, 0);
  });

  test('an unknown target module names it and lists the valid names (exit 3)', () => {
    const r = cli([...train.map((a) => (a === 'q,v,wo' ? 'q_proj' : a)), '--output', path.join(tmp, 'bad')]);
    assert.equal(r.status, 3, r.all);
    assert.match(r.stderr, /"q_proj" matches no linear layer.*Valid names: q, k, v, o, wi, wo, lm_head/s);
  });

  test('an adapter for another base model names the tensor and both shapes (exit 6)', () => {
    const r = cli(['eval', '--adapter', path.join(out(), 'adapter'), '--model', GATED, '--tokenizer', TOKENIZER, '--task', 'sst2', '--max-eval-examples', '4']);
    assert.equal(r.status, 6, r.all);
    assert.match(r.stderr, /lora_A\.weight" is \[4, 64\] but the model's .* takes 8 inputs \(expected \[4, 8\]\)/);
  });
});
