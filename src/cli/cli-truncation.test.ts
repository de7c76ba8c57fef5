/**
 * Truncation is never silent: train reports, per split, how many rows --max-length cut (stderr at the start,
 * the summary at the end, summary.json), counted against an independent tokenization of the same rows; and a
 * template that alone fills --max-length is refused with exit 3 and the numbers.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { loadTokenizerSync } from '../io/tokenizer.js';
import { createLocalTask } from '../tasks/local.js';
import { loadSplits } from '../tasks/registry.js';
import { fixture, repoRoot } from '../../test/paths.js';

const BIN = path.join(repoRoot(), 'bin', 'softprompt.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-trunc-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, show: `status ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}` };
}

const TEMPLATE = 'review: {text}';
const base = ['train', '--model', fixture('t5-tiny'), '--tokenizer', fixture('tokenizers', 't5'), '--task', 'local',
  '--train-file', path.join(repoRoot(), 'data', 'sst2', 'train.tsv'), '--dev-file', path.join(repoRoot(), 'data', 'sst2', 'dev.tsv'),
  '--text-column', 'sentence', '--template', TEMPLATE, '--method', 'pt', '--prompt-length', '2', '--steps', '1', '--batch-size', '2',
  '--warmup-steps', '0', '--eval-every', '0', '--max-eval-examples', '4', '--eval-mode', 'rank'];

test('rows cut by --max-length are counted per split and reported', () => {
  const maxLength = 12;
  const out = path.join(tmp, 'run');
  const r = cli([...base, '--max-length', String(maxLength), '--output', out]);
  assert.equal(r.status, 0, r.show);
  // independent count: the same splits, tokenized with special tokens, longer than max_length
  const tok = loadTokenizerSync(fixture('tokenizers', 't5'));
  const task = createLocalTask({ train: path.join(repoRoot(), 'data', 'sst2', 'train.tsv'), dev: path.join(repoRoot(), 'data', 'sst2', 'dev.tsv'), textColumn: 'sentence', template: TEMPLATE });
  const s = loadSplits(task, '.', { seed: 42 });
  const count = (xs: Array<{ source: string }>) => xs.filter((e) => tok.encode(e.source, { addSpecialTokens: true }).length > maxLength).length;
  const expected = {
    maxLength,
    train: { rows: s.train.length, truncated: count(s.train) },
    validation: { rows: 4, truncated: count(s.validation.slice(0, 4)) },
    test: { rows: 4, truncated: count(s.test.slice(0, 4)) },
  };
  assert.ok(expected.train.truncated > 0 && expected.train.truncated < expected.train.rows, JSON.stringify(expected));
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as { truncation: unknown };
  assert.deepEqual(summary.truncation, expected);
  const line = `train ${expected.train.truncated} of ${expected.train.rows}, validation ${expected.validation.truncated} of 4, test ${expected.test.truncated} of 4`;
  assert.ok(r.stderr.includes(`truncated to --max-length ${maxLength} tokens: ${line} rows`), r.show);
  assert.ok(r.stdout.includes(`truncated       ${line} rows cut to --max-length ${maxLength}`), r.show);
});

test('a template that leaves no room for the text is refused: exit 3, naming the numbers', () => {
  const r = cli([...base, '--max-length', '2', '--output', path.join(tmp, 'refused')]);
  assert.equal(r.status, 3, r.show);
  assert.match(r.stderr, /The template "review: \{text\}" alone takes 3 tokens with its special tokens, but --max-length is 2: no room is left for the text\./);
  assert.match(r.stderr, /config\.maxLength/);
  // one token of room is enough to train
  const ok = cli([...base, '--max-length', '4', '--output', path.join(tmp, 'room')]);
  assert.equal(ok.status, 0, ok.show);
});
