/**
 * The `softprompt` command on a decoder-only model: a small random GPT-2 with the real GPT-2 vocabulary and
 * tokenizer (test/random-causal.ts), trained for a few steps on the bundled SST-2 slice, then eval and predict
 * with the saved CAUSAL_LM adapter. Runs the compiled CLI (dist/).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { repoRoot } from '../../test/paths.js';
import { buildRandomGpt2 } from '../../test/random-causal.js';

const BIN = path.join(repoRoot(), 'bin', 'softprompt.js');
let tmp = '', model = '';
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-cli-causal-'));
  model = buildRandomGpt2({ seed: 3 });
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(model, { recursive: true, force: true });
});

function cli(args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['SOFTPROMPT_DEBUG'];
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, encoding: 'utf8', env, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, show: `status ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}` };
}

test('train / eval / predict a GPT-2 (decoder-only) DePT adapter from the command line', () => {
  const out = path.join(tmp, 'runs', 'sst2-dept'); // the default run folder, under the cwd
  const r = cli(['train', '--model', model, '--task', 'sst2', '--steps', '4', '--eval-every', '2', '--max-eval-examples', '8',
    '--max-length', '48', '--eval-mode', 'rank']);
  assert.equal(r.status, 0, r.show);
  const adapter = path.join(out, 'adapter');
  for (const f of ['adapter_config.json', 'adapter_model.safetensors', 'README.md']) assert.ok(fs.existsSync(path.join(adapter, f)), `${f} written\n${r.show}`);
  const ac = JSON.parse(fs.readFileSync(path.join(adapter, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(ac['task_type'], 'CAUSAL_LM');

  const e = cli(['eval', '--adapter', adapter, '--model', model, '--task', 'sst2', '--eval-mode', 'rank', '--max-eval-examples', '8', '--json']);
  assert.equal(e.status, 0, e.show);
  const res = JSON.parse(e.stdout) as { examples: number; metrics: Record<string, number> };
  assert.equal(res.examples, 8);
  assert.equal(typeof res.metrics['accuracy'], 'number');

  const p = cli(['predict', '--adapter', adapter, '--model', model, '--task', 'sst2', '--eval-mode', 'rank',
    '--text', 'a gorgeous, witty, seductive movie.', '--text', 'this movie is dull.']);
  assert.equal(p.status, 0, p.show);
  const lines = p.stdout.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.ok(lines.every((l) => l === '0' || l === '1'), p.show);
  const g = cli(['predict', '--adapter', adapter, '--model', model, '--task', 'sst2', '--max-new-tokens', '3', '--text', 'this movie is dull.']);
  assert.equal(g.status, 0, g.show);
});
