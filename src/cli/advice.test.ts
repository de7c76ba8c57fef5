/**
 * What the CLI tells a user to do must work as printed: every --flag named in a message exists, the resume advice
 * of a refused run works when followed, the help texts name the model families that are supported, and the
 * bundled-model note compares the accuracy with the majority class only as the numbers say.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Command } from 'commander';
import { repoRoot } from '../../test/paths.js';
import { buildProgram } from './main.js';
import { versusMajority } from './train.js';

const ROOT = repoRoot();
const BIN = path.join(ROOT, 'bin', 'softprompt.js');
let tmp = '';
before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-advice-')); });
after(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

function cli(args: string[]): { status: number | null; stdout: string; stderr: string; show: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, show: `status ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}` };
}

/** Flags of other programs that messages quote (a download command, a repository script). */
const FOREIGN_FLAGS = new Set([
  '--local-dir', // huggingface-cli download … --local-dir ./t5-base
  '--exclude', '--data', // scripts/build-pretrain-corpus.ts
]);

test('every --flag that a message or help text in src/ names is an option of some softprompt command', () => {
  const known = new Set(['--help', '--version']);
  const walk = (c: Command): void => {
    for (const o of c.options) if (o.long !== undefined) known.add(o.long);
    for (const s of c.commands) walk(s);
  };
  walk(buildProgram());
  const unknown: string[] = [];
  const scan = (dir: string): void => {
    for (const name of fs.readdirSync(dir)) {
      const p = path.join(dir, name);
      if (fs.statSync(p).isDirectory()) scan(p);
      else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) {
        // a flag ends at a character that cannot continue it (HF's --max_steps is a Python flag, not ours)
        for (const m of fs.readFileSync(p, 'utf8').matchAll(/(?<![\w-])--[a-z][a-z0-9-]*(?![\w-])/g)) {
          if (!known.has(m[0]) && !FOREIGN_FLAGS.has(m[0])) unknown.push(`${path.relative(ROOT, p)}: ${m[0]}`);
        }
      }
    }
  };
  scan(path.join(ROOT, 'src'));
  assert.deepEqual(unknown, []);
  assert.ok(known.has('--resume') && known.has('--train-file'), 'the scan saw the train options');
});

test('help texts name T5, GPT-2 and LLaMA, not "frozen T5" alone', () => {
  for (const args of [['--help'], ['train', '--help']]) {
    const r = cli(args);
    assert.equal(r.status, 0, r.show);
    assert.doesNotMatch(r.stdout, /frozen T5 model/);
    assert.match(r.stdout, /T5, GPT-2 (and|or) LLaMA/);
  }
});

test('an unknown task points CLI users at --task local', () => {
  const r = cli(['train', '--model', path.join(ROOT, 'test/fixtures/t5-tiny'), '--tokenizer', path.join(ROOT, 'test/fixtures/tokenizers/t5'), '--task', 'no-such-task', '--steps', '1']);
  assert.equal(r.status, 3, r.show);
  assert.match(r.stderr, /--task local --train-file FILE --dev-file FILE/);
});

test('a run folder that holds checkpoints: the advice (--resume) works as printed; the tiny-model note matches the numbers', () => {
  const args = ['train', '--model', path.join(ROOT, 'test/fixtures/t5-tiny'), '--tokenizer', path.join(ROOT, 'test/fixtures/tokenizers/t5'),
    '--task', 'sst2', '--steps', '2', '--warmup-steps', '1', '--eval-every', '0', '--batch-size', '4', '--max-length', '16',
    '--prompt-length', '2', '--budget', '4', '--eval-mode', 'rank', '--max-eval-examples', '40', '--threads', '1', '--quiet', '--output', 'run'];
  const first = cli(args);
  assert.equal(first.status, 0, first.show);

  // The bundled model's note: "majority class" wording only where the accuracy is within the band.
  const acc = /test\s+accuracy (\d+\.\d+)/.exec(first.stdout);
  const maj = /label "[^"]+" is (\d+\.\d)% of the (\d+) test rows/.exec(first.stdout);
  assert.ok(acc && maj, first.show);
  const where = versusMajority(Number(acc[1]), { share: Number(maj[1]) / 100, rows: Number(maj[2]) });
  assert.match(first.stdout, new RegExp(`test accuracy ${acc[1]!.replace('.', '\\.')} is ${where} the majority-class baseline`));

  const again = cli(args);
  assert.equal(again.status, 3, again.show);
  assert.match(again.stderr, /Add --resume to continue that run/);
  const resumed = cli([...args, '--resume']);
  assert.equal(resumed.status, 0, resumed.show);
  const events = fs.readFileSync(path.join(tmp, 'run', 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"event"'));
  assert.equal(events.length, 1);
  assert.match(events[0]!, /"step":2,"event":"resume"/);
});

test('versusMajority: within two binomial standard errors (at least 2 points) is near', () => {
  const maj = { share: 0.54, rows: 200 }; // SE 3.5 points: band 7.0
  assert.equal(versusMajority(54, maj), 'near');
  assert.equal(versusMajority(60.9, maj), 'near');
  assert.equal(versusMajority(61.1, maj), 'above');
  assert.equal(versusMajority(93, maj), 'above');
  assert.equal(versusMajority(40, maj), 'below');
  assert.equal(versusMajority(51.5, { share: 0.5, rows: 1_000_000 }), 'near'); // the 2-point floor
  assert.equal(versusMajority(52.5, { share: 0.5, rows: 1_000_000 }), 'above');
});
