/**
 * `softprompt sweep` without a queue, end to end through the CLI on the bundled t5-tiny and SST-2 slice:
 * a sweep killed mid-job resumes on rerun (finished jobs skipped, the interrupted one continued from its
 * checkpoint and ending exactly where an uninterrupted run does), failures are recorded and retried.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parseTrainConfig } from '../train/config.js';
import { trainRun } from '../train/run.js';
import { assertSameTraining, checkpointAtLeast, cli, cliAsync, cliChild, resumeEvents, tinyBase, waitFor, writeSweep } from '../../test/sweep-helpers.js';
import type { SweepResults } from './results.js';

let tmp = '';
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-sweep-local-'));
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const results = (out: string): SweepResults => JSON.parse(fs.readFileSync(path.join(out, 'sweep.json'), 'utf8')) as SweepResults;

test('killed mid-sweep (SIGKILL), rerun: the finished job is skipped, the interrupted one resumes from its checkpoint', async () => {
  const file = writeSweep(tmp, 'resume', {
    output: 'sw-resume', base: tinyBase(),
    grid: [{ lr: [0.3], steps: [12] }, { lr: [0.5], steps: [27] }],
  });
  const out = path.join(tmp, 'sw-resume');
  const [first, second] = [path.join(out, 'runs', 'lr=0.3_steps=12'), path.join(out, 'runs', 'lr=0.5_steps=27')];
  const run = cliChild(tmp, ['sweep', '--config', file]);
  await waitFor('a checkpoint of the second job', () => checkpointAtLeast(second, 6), 120_000, 10);
  run.child.kill('SIGKILL');
  await run.done;
  assert.ok(fs.existsSync(path.join(first, 'summary.json')), 'the first job had finished');
  assert.ok(!fs.existsSync(path.join(second, 'summary.json')), 'the second job was interrupted');
  const firstSummary = fs.statSync(path.join(first, 'summary.json')).mtimeMs;

  const status = cli(tmp, ['sweep', 'status', out]);
  assert.equal(status.status, 0, status.stderr);
  assert.match(status.stdout, /done\s+lr=0\.3_steps=12/);
  assert.match(status.stdout, /interrupted\s+lr=0\.5_steps=27/);

  const rerun = cli(tmp, ['sweep', '--config', file]);
  assert.equal(rerun.status, 0, rerun.stderr);
  assert.match(rerun.stderr, /1 of 2 jobs already finished/);
  assert.match(rerun.stderr, /lr=0\.5_steps=27: resuming/);
  assert.equal(fs.statSync(path.join(first, 'summary.json')).mtimeMs, firstSummary, 'the finished job was not run again');
  const resumedAt = resumeEvents(second);
  assert.equal(resumedAt.length, 1);
  assert.ok(resumedAt[0]! >= 6, `resumed from step ${resumedAt[0]}`);

  // the same job trained without interruption ends identically
  const reference = path.join(tmp, 'reference');
  const cfg = JSON.parse(fs.readFileSync(path.join(second, 'run_config.json'), 'utf8')) as Record<string, unknown>;
  trainRun(parseTrainConfig({ ...cfg, output: reference, resume: false }), { log: () => undefined });
  assertSameTraining(reference, second);

  const r = results(out);
  assert.deepEqual(r.counts, { done: 2, failed: 0, running: 0, queued: 0, interrupted: 0, pending: 0 });
  // a job's run folder is a normal train run folder: its adapter evaluates to the test metric the sweep reports
  const base = tinyBase();
  const ev = cli(tmp, ['eval', '--adapter', path.join(second, 'adapter'), '--model', String(base['model']), '--tokenizer', String(base['tokenizer']),
    '--task', 'sst2', '--split', 'test', '--eval-mode', 'rank', '--max-eval-examples', String(base['maxEvalExamples']), '--json']);
  assert.equal(ev.status, 0, ev.stderr);
  const evMetrics = (JSON.parse(ev.stdout) as { metrics: Record<string, number> }).metrics;
  assert.equal(evMetrics['accuracy'], r.jobs.find((j) => j.name === 'lr=0.5_steps=27')!.test!['accuracy']);
  assert.equal(r.groups.length, 1);
  assert.ok(fs.readFileSync(path.join(out, 'results.md'), 'utf8').includes('| sst2 |'));
  assert.match(rerun.stdout, /task=sst2: best lr=0\.[35]/);
});

test('Ctrl-C (SIGINT) stops the sweep with status 130 and the command to continue; the job is interrupted, not failed', async () => {
  const file = writeSweep(tmp, 'sigint', { output: 'sw-sigint', base: tinyBase({ steps: 30 }), grid: { lr: [0.3] } });
  const runDir = path.join(tmp, 'sw-sigint', 'runs', 'lr=0.3');
  const run = cliChild(tmp, ['sweep', '--config', file]);
  await waitFor('a checkpoint', () => checkpointAtLeast(runDir, 3), 120_000, 10);
  run.child.kill('SIGINT');
  assert.equal(await run.done, 130, run.out());
  assert.match(run.out(), /Run the same command again to continue/);
  assert.ok(!fs.existsSync(path.join(runDir, 'sweep_error.json')));
  assert.ok(!fs.existsSync(path.join(runDir, '.sweep-lock')), 'the run folder lock is released');
  assert.equal(results(path.join(tmp, 'sw-sigint')).jobs[0]!.state, 'interrupted');
});

test('a failing job is recorded (exit 13, sweep_error.json, results.md), the others finish; a rerun retries it', () => {
  const bad = path.join(tmp, 'bad.jsonl');
  fs.writeFileSync(bad, '{"text": "no label here"}\n{"text": "nor here"}\n');
  const file = writeSweep(tmp, 'fail', {
    output: 'sw-fail', base: tinyBase({ steps: 3, evalEvery: 3, saveEvery: 0, trainFile: bad, devFile: bad }),
    grid: { task: ['sst2', 'local'] },
  });
  const out = path.join(tmp, 'sw-fail');
  const r1 = cli(tmp, ['sweep', '--config', file]);
  assert.equal(r1.status, 13, r1.stderr);
  assert.match(r1.stderr, /1 of 2 jobs failed \(task=local\)/);
  const failure = JSON.parse(fs.readFileSync(path.join(out, 'runs', 'task=local', 'sweep_error.json'), 'utf8')) as { code: string };
  assert.equal(failure.code, 'invalid_data');
  assert.match(fs.readFileSync(path.join(out, 'results.md'), 'utf8'), /## Failed jobs\n\n- task=local: invalid_data/);
  assert.deepEqual([results(out).counts.done, results(out).counts.failed], [1, 1]);
  const r2 = cli(tmp, ['sweep', '--config', file]);
  assert.equal(r2.status, 13);
  assert.match(r2.stderr, /1 of 2 jobs already finished/);
  assert.match(r2.stderr, /task=local: training/);
});

test('usage: --dry-run lists the jobs; --help for sweep, sweep status and worker; distinct exit codes', async () => {
  const file = writeSweep(tmp, 'dry', { base: tinyBase(), grid: { lr: [0.1, 0.2], seed: [1, 2] } });
  const typo = writeSweep(tmp, 'typo', { base: { ...tinyBase(), stpes: 3 } });
  const noModel = writeSweep(tmp, 'nomodel', { base: { ...tinyBase(), model: path.join(tmp, 'nope') } });
  const [dry, h1, h2, h3, noConfig, badUrl, missing, t, nm] = await Promise.all([
    ['sweep', '--config', file, '--dry-run'], ['sweep', '--help'], ['sweep', 'status', '--help'], ['worker', '--help'],
    ['sweep'], ['worker', '--queue', 'http://localhost:6379'], ['sweep', '--config', path.join(tmp, 'missing.json')],
    ['sweep', '--config', typo], ['sweep', '--config', noModel],
  ].map((args) => cliAsync(tmp, args)));
  assert.equal(dry!.status, 0, dry!.stderr);
  assert.match(dry!.stdout, /4 jobs/);
  assert.match(dry!.stdout, /lr=0\.2_seed=2/);
  assert.ok(!fs.existsSync(path.join(tmp, 'sweeps', 'dry')), 'a dry run writes nothing');
  for (const h of [h1!, h2!, h3!]) {
    assert.equal(h.status, 0);
    assert.match(h.stdout, /Examples:/);
  }
  assert.equal(noConfig!.status, 2);
  assert.equal(badUrl!.status, 2);
  assert.match(badUrl!.stderr, /expected a redis:\/\/ or rediss:\/\/ URL/);
  assert.equal(missing!.status, 4);
  assert.equal(t!.status, 3);
  assert.match(t!.stderr, /did you mean "steps"/);
  assert.equal(nm!.status, 4);
  assert.match(nm!.stderr, /model .*nope .*does not exist/);
});
