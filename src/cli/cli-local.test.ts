// Own data end to end: `train --task local` on a TSV file with a template and label words, then every command
// `train` prints under "Use it:" run exactly as printed (through a shell), each with exit 0.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fixture, repoRoot } from '../../test/paths.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-local-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const BIN = path.join(repoRoot(), 'bin', 'softprompt.js');

test('train on a local TSV with a template and label words; every printed command works as printed', () => {
  const train = path.join(tmp, 'my reviews.tsv'); // a space in the path: the printed commands must quote it
  fs.copyFileSync(path.join(repoRoot(), 'data', 'sst2', 'train.tsv'), train);
  const dev = path.join(tmp, 'dev.tsv');
  fs.copyFileSync(path.join(repoRoot(), 'data', 'sst2', 'dev.tsv'), dev);
  const r = spawnSync(process.execPath, [BIN, 'train', '--model', fixture('t5-tiny'), '--tokenizer', fixture('tokenizers', 't5'),
    '--task', 'local', '--train-file', train, '--dev-file', dev, '--text-column', 'sentence', '--label-column', 'label',
    '--template', 'review: {text} It was', '--label-words', 'bad,good', '--steps', '6', '--batch-size', '4', '--warmup-steps', '1',
    '--max-length', '24', '--prompt-length', '4', '--budget', '8', '--eval-every', '0', '--eval-mode', 'rank', '--max-eval-examples', '8',
    '--output', path.join(tmp, 'run')], { cwd: tmp, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const printed = r.stdout.split('\n').filter((l) => /^\s+softprompt (eval|predict|inspect) /.test(l)).map((l) => l.trim().replace(/^softprompt /, ''));
  assert.equal(printed.length, 3, r.stdout);
  for (const line of printed) {
    const run = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" ${line}`], { cwd: tmp, encoding: 'utf8', timeout: 120_000 });
    assert.equal(run.status, 0, `${line}\n${run.stderr}`);
    if (line.startsWith('predict')) assert.match(run.stdout.trim(), /^(bad|good)$/);
    if (line.startsWith('eval')) assert.match(run.stdout, /accuracy/);
  }
});
