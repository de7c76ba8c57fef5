/**
 * A user's own CSV end to end: `train --task local` (t5-tiny, and a random GPT-2 written by `init-model`), then
 * every `eval` / `predict` command train prints, run through `sh -c` exactly as printed. The adapter folder's
 * softprompt_task.json carries the task, so the printed commands need no task flags; predict's generated labels
 * are checked against eval's metric on the same file (two readers of the data, one answer).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fixture, repoRoot } from '../../test/paths.js';

const BIN = path.join(repoRoot(), 'bin', 'softprompt.js');
let tmp = '';
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-own-'));
  // two separable classes, quoted CSV with a comma inside a field; 40 train / 20 dev rows
  const pos = ['great fun, truly', 'a wonderful film', 'loved it', 'superb acting', 'delightful'];
  const neg = ['boring', 'a dull mess', 'hated it', 'terrible plot', 'awful'];
  const rows = (n: number, off: number) => Array.from({ length: n }, (_, i) => {
    const p = (i + off) % 2 === 1;
    return `"${(p ? pos : neg)[i % 5]} ${i}",${p ? 'positive' : 'negative'}`;
  });
  fs.writeFileSync(path.join(tmp, 'my train.csv'), ['review,sentiment', ...rows(40, 0)].join('\n') + '\n');
  fs.writeFileSync(path.join(tmp, 'dev.csv'), ['review,sentiment', ...rows(20, 1)].join('\n') + '\n');
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['SOFTPROMPT_DEBUG'];
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, encoding: 'utf8', env, timeout: 240_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, show: `status ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}` };
}

/** The eval / predict lines under "Use it:", run through a shell as printed (with `softprompt` = this CLI). */
function runPrinted(stdout: string): Array<{ line: string; status: number | null; stdout: string; stderr: string }> {
  const printed = stdout.split('\n').filter((l) => /^\s+softprompt (eval|predict|inspect) /.test(l)).map((l) => l.trim().replace(/^softprompt /, ''));
  assert.equal(printed.length, 3, stdout);
  return printed.map((line) => {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" ${line}`], { cwd: tmp, encoding: 'utf8', timeout: 240_000 });
    return { line, status: r.status, stdout: r.stdout, stderr: r.stderr };
  });
}

const devLabels = (): string[] => fs.readFileSync(path.join(tmp, 'dev.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.slice(l.lastIndexOf(',') + 1));

describe('own CSV data, the commands train prints', () => {
  test('T5: train (generate mode), then the printed eval / predict; predict --data agrees with eval --data', () => {
    const run = path.join(tmp, 'run-t5');
    const r = cli(['train', '--model', fixture('t5-tiny'), '--tokenizer', fixture('tokenizers', 't5'), '--task', 'local',
      '--train-file', 'my train.csv', '--dev-file', 'dev.csv', '--text-column', 'review', '--label-column', 'sentiment',
      '--template', 'review: {text}', '--steps', '60', '--batch-size', '8',
      '--warmup-steps', '1', '--max-length', '24', '--eval-every', '0', '--output', run]);
    assert.equal(r.status, 0, r.show);
    const saved = JSON.parse(fs.readFileSync(path.join(run, 'adapter', 'softprompt_task.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(saved, {
      format: 'softprompt.task', version: 1, task: 'local', template: 'review: {text}', textColumn: 'review', textPairColumn: null,
      labelColumn: 'sentiment', labels: ['negative', 'positive'], labelWords: ['negative', 'positive'], evalMode: 'generate',
      maxLength: 24, maxNewTokens: 20, seed: 42, modelFamily: 't5',
    });
    // the same file in the run folder and in every checkpoint (its parent's task survives a crash before the adapter)
    const ckpts = fs.readdirSync(run).filter((f) => f.startsWith('checkpoint-'));
    assert.ok(ckpts.length > 0);
    for (const d of ['.', ...ckpts]) assert.deepEqual(JSON.parse(fs.readFileSync(path.join(run, d, 'softprompt_task.json'), 'utf8')), saved, d);
    // adapter_config.json holds only PEFT's keys: the task lives in its own file
    assert.ok(!fs.readFileSync(path.join(run, 'adapter', 'adapter_config.json'), 'utf8').includes('template'));
    for (const p of runPrinted(r.stdout)) {
      assert.equal(p.status, 0, `${p.line}\n${p.stderr}`);
      assert.ok(!/--(task|template|model|tokenizer|text-column|label-column|eval-mode)\b/.test(p.line), `printed with task flags: ${p.line}`);
      if (p.line.startsWith('eval')) assert.match(p.stdout, /local dev\.csv: 20 examples \(generate, every row\)/);
      // generation of a trained local task yields one of its labels, never ""
      if (p.line.startsWith('predict')) assert.match(p.stdout, /^(negative|positive)\n$/, p.line);
    }
    const e = cli(['eval', '--adapter', path.join(run, 'adapter'), '--data', 'dev.csv', '--json']);
    assert.equal(e.status, 0, e.show);
    const acc = (JSON.parse(e.stdout) as { metrics: { accuracy: number } }).metrics.accuracy;
    const p = cli(['predict', '--adapter', path.join(run, 'adapter'), '--data', 'dev.csv', '--json']);
    assert.equal(p.status, 0, p.show);
    const lines = p.stdout.trim().split('\n').map((l) => JSON.parse(l) as { source: string; prediction: string });
    assert.equal(lines.length, 20);
    assert.equal(lines[0]!.source, 'review: great fun, truly 0'); // the training format, from the task file
    for (const l of lines) assert.match(l.prediction, /^(negative|positive)$/);
    const labels = devLabels();
    const hits = lines.filter((l, i) => l.prediction === labels[i]).length;
    assert.equal(acc, (100 * hits) / 20, 'eval --data and predict --data disagree');
    // a flag still overrides the task file: rank among the saved label words
    const rank = cli(['predict', '--adapter', path.join(run, 'adapter'), '--eval-mode', 'rank', '--text', 'boring 3', '--text', 'loved it 9']);
    assert.equal(rank.status, 0, rank.show);
    assert.match(rank.stdout, /^(negative|positive)\n(negative|positive)\n$/);
    // --text as a JSON object fills the template by field name, in any order
    const pair = cli(['predict', '--adapter', path.join(run, 'adapter'), '--template', '{text_pair} / {text}', '--text', '{"text": "a", "text_pair": "b"}', '--json']);
    assert.equal(pair.status, 0, pair.show);
    assert.equal((JSON.parse(pair.stdout) as { source: string }).source, 'b / a');
  });

  test('GPT-2 (init-model, real tokenizer): train in rank mode with label words, then the printed commands', () => {
    const model = path.join(tmp, 'gpt2-random');
    const init = cli(['init-model', '--family', 'gpt2', '--output', model, '--seed', '3']);
    assert.equal(init.status, 0, init.show);
    const run = path.join(tmp, 'run-gpt2');
    const r = cli(['train', '--model', model, '--task', 'local', '--train-file', 'my train.csv', '--dev-file', 'dev.csv',
      '--text-column', 'review', '--label-column', 'sentiment', '--label-words', 'bad,good', '--eval-mode', 'rank',
      '--prompt-length', '4', '--budget', '8', '--steps', '6', '--batch-size', '4', '--warmup-steps', '1', '--max-length', '32',
      '--eval-every', '0', '--output', run]);
    assert.equal(r.status, 0, r.show);
    const saved = JSON.parse(fs.readFileSync(path.join(run, 'adapter', 'softprompt_task.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(saved['modelFamily'], 'gpt2');
    assert.equal(saved['template'], 'sentence: {text}'); // the default the rows were read with
    assert.deepEqual([saved['labels'], saved['labelWords'], saved['evalMode']], [['negative', 'positive'], ['bad', 'good'], 'rank']);
    for (const p of runPrinted(r.stdout)) {
      assert.equal(p.status, 0, `${p.line}\n${p.stderr}`);
      if (p.line.startsWith('eval')) assert.match(p.stdout, /local dev\.csv: 20 examples \(rank, every row\)/);
      if (p.line.startsWith('predict')) assert.match(p.stdout, /^(bad|good)\n$/);
    }
    // generate mode on the causal adapter: one line per input
    const g = cli(['predict', '--adapter', path.join(run, 'adapter'), '--eval-mode', 'generate', '--max-new-tokens', '3', '--text', 'a', '--text', 'b']);
    assert.equal(g.status, 0, g.show);
    assert.equal(g.stdout.split('\n').length, 3);
  });

  test('a GLUE task: the printed commands need no --task either', () => {
    const run = path.join(tmp, 'run-rte');
    const r = cli(['train', '--model', fixture('t5-tiny'), '--tokenizer', fixture('tokenizers', 't5'), '--task', 'rte', '--method', 'pt',
      '--prompt-length', '4', '--steps', '2', '--batch-size', '4', '--warmup-steps', '1', '--max-length', '32', '--eval-every', '0',
      '--max-eval-examples', '8', '--eval-mode', 'rank', '--output', run]);
    assert.equal(r.status, 0, r.show);
    for (const p of runPrinted(r.stdout)) {
      assert.equal(p.status, 0, `${p.line}\n${p.stderr}`);
      assert.ok(!p.line.includes('--task'), p.line);
      if (p.line.startsWith('predict')) assert.match(p.stdout, /^[01]\n$/, p.line); // rank over RTE's label words
    }
  });
});
