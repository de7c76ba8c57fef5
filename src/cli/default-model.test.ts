/**
 * The bundled default model (models/t5-mini, pretrained by `softprompt pretrain`, bf16 shards): it loads into
 * the engine's fp32, and the quickstart (DePT on the bundled SST-2 rows) moves its rank accuracy on SST-2
 * validation above the majority class within a few dozen steps.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { loadConfig, openWeights } from '../io/hf-folder.js';
import { repoRoot } from '../../test/paths.js';

const ROOT = repoRoot();
const MODEL = path.join(ROOT, 'models', 't5-mini');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-default-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('the default model: bf16 HF shards of at most 32 MB in all, loaded as fp32', () => {
  const cfg = loadConfig(MODEL);
  assert.equal(cfg['d_model'], 256);
  const w = openWeights(MODEL);
  assert.equal(w.info('shared.weight').dtype, 'BF16');
  const f32 = w.getF32('shared.weight');
  assert.equal(f32.length, 32128 * 256);
  assert.ok(f32.every(Number.isFinite));
  const bytes = fs.readdirSync(MODEL).reduce((a, f) => a + fs.statSync(path.join(MODEL, f)).size, 0);
  assert.ok(bytes <= 32 * 1024 * 1024, `models/t5-mini holds ${bytes} bytes`);
});

test('the quickstart: 40 DePT steps lift SST-2 validation rank accuracy clearly above the majority class', () => {
  const out = path.join(tmp, 'qs');
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'softprompt.js'), 'train', '--steps', '40', '--warmup-steps', '5', '--eval-every', '0', '--output', out, '--quiet'], { cwd: tmp, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as { test: { accuracy: number } };
  // the test split is GLUE's 872-row SST-2 validation set; its majority class is 50.9 %, one standard error 1.7 points
  const labels = fs.readFileSync(path.join(ROOT, 'data', 'sst2-4k', 'dev.tsv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t')[1]);
  const majority = (100 * Math.max(...['0', '1'].map((c) => labels.filter((l) => l === c).length))) / labels.length;
  assert.equal(labels.length, 872);
  assert.ok(summary.test.accuracy >= majority + 5, `test accuracy ${summary.test.accuracy} vs majority ${majority.toFixed(1)}`);
});
