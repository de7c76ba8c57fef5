/**
 * End-to-end tests of the `softprompt` command: spawn `node bin/softprompt.js` (the compiled CLI in dist/) in a
 * temporary folder and check exit statuses and output. One short real training run on the bundled data feeds
 * the predict / eval / inspect tests.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found');
    dir = up;
  }
  return dir;
}

const ROOT = findRoot();
const BIN = path.join(ROOT, 'bin', 'softprompt.js');
const TINY = path.join(ROOT, 'test', 'fixtures', 't5-tiny');
const TOKENIZER = path.join(ROOT, 'test', 'fixtures', 'tokenizers', 't5');
const DEPT_COLA = path.join(ROOT, 'test', 'fixtures', 'dept-cola');

let tmp = '';
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-cli-'));
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], opts: { input?: string } = {}): Run {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['SOFTPROMPT_DEBUG'];
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, encoding: 'utf8', env, input: opts.input ?? '', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function show(r: Run): string {
  return `status ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

describe('help and usage', () => {
  test('--help lists the commands, exit 0', () => {
    const r = cli(['--help']);
    assert.equal(r.status, 0, show(r));
    for (const c of ['train', 'eval', 'predict', 'inspect', 'tasks']) assert.match(r.stdout, new RegExp(`\\b${c}\\b`));
  });

  test('--version prints the package version', () => {
    const r = cli(['--version']);
    assert.equal(r.status, 0, show(r));
    const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    assert.equal(r.stdout.trim(), version);
  });

  test('train --help documents flags, examples and Ctrl-C / --resume', () => {
    const r = cli(['train', '--help']);
    assert.equal(r.status, 0, show(r));
    for (const flag of ['--config', '--model', '--prompt-length', '--lr-lowrank', '--no-dropout', '--eval-mode', '--resume', 'Examples:', 'Ctrl-C']) {
      assert.ok(r.stdout.includes(flag), `train --help lacks ${flag}`);
    }
  });

  test('every subcommand has --help with examples', () => {
    for (const c of ['eval', 'predict', 'inspect', 'tasks']) {
      const r = cli([c, '--help']);
      assert.equal(r.status, 0, show(r));
      assert.match(r.stdout, /Examples:/, c);
    }
  });

  test('unknown flag or command → exit 2 with a usage message', () => {
    const flag = cli(['train', '--bogus-flag']);
    assert.equal(flag.status, 2, show(flag));
    assert.match(flag.stderr, /unknown option '--bogus-flag'/);
    const cmd = cli(['trian']);
    assert.equal(cmd.status, 2, show(cmd));
    assert.match(cmd.stderr, /unknown command 'trian'/);
  });

  test('a non-numeric value for a numeric flag → exit 2 naming the flag', () => {
    const r = cli(['train', '--steps', 'ten']);
    assert.equal(r.status, 2, show(r));
    assert.match(r.stderr, /--steps/);
    const lr = cli(['train', '--lr', '0.3x']);
    assert.equal(lr.status, 2, show(lr));
    assert.match(lr.stderr, /--lr/);
  });
});

describe('train config errors', () => {
  test('an invalid value → exit 3 naming config.steps', () => {
    const r = cli(['train', '--steps', '0']);
    assert.equal(r.status, 3, show(r));
    assert.match(r.stderr, /config\.steps/);
  });

  test('a config file value is overridden by the flag', () => {
    const file = path.join(tmp, 'over.json');
    fs.writeFileSync(file, JSON.stringify({ model: TINY, steps: 0 }));
    const fileOnly = cli(['train', '--config', file]);
    assert.equal(fileOnly.status, 3, show(fileOnly));
    assert.match(fileOnly.stderr, /config\.steps/);
    assert.ok(fileOnly.stderr.includes('over.json'), show(fileOnly));
    // --steps fixes the file's steps; the next bad value is the flag's own batch size
    const overridden = cli(['train', '--config', file, '--steps', '2', '--batch-size', '0']);
    assert.equal(overridden.status, 3, show(overridden));
    assert.match(overridden.stderr, /config\.batchSize/);
    assert.doesNotMatch(overridden.stderr, /config\.steps/);
  });

  test('a missing model folder → exit 4 naming the folder', () => {
    const missing = path.join(tmp, 'no-such-t5');
    const r = cli(['train', '--model', missing]);
    assert.equal(r.status, 4, show(r));
    assert.ok(r.stderr.includes(missing), show(r));
    assert.equal(fs.existsSync(path.join(tmp, 'runs')), false, 'no run folder is created for a bad model path');
  });
});

describe('inspect and tasks', () => {
  test('inspect a released DePT adapter', () => {
    const r = cli(['inspect', DEPT_COLA]);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /l=80, r=15, s=256/);
    for (const shape of ['[80, 768]', '[256, 15]', '[15, 768]']) assert.ok(r.stdout.includes(shape), `missing ${shape}\n${r.stdout}`);
    assert.match(r.stdout, /PROMPT_TUNING_LORA/);
    assert.match(r.stdout, /76,800/);
    const j = cli(['inspect', DEPT_COLA, '--json']);
    assert.equal(j.status, 0, show(j));
    const rep = JSON.parse(j.stdout) as { l: number; r: number; s: number; tensors: Array<{ shape: number[]; rowNorm?: { mean: number } }> };
    assert.deepEqual([rep.l, rep.r, rep.s], [80, 15, 256]);
    assert.deepEqual(rep.tensors.map((t) => t.shape), [[80, 768], [256, 15], [15, 768]]);
    assert.ok(Math.abs(rep.tensors[0]!.rowNorm!.mean - 917) < 1, 'spec §1.10: ‖P_row‖ mean 917');
  });

  test('inspect a model folder', () => {
    const r = cli(['inspect', TINY]);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /d_model 64/);
    assert.match(r.stdout, /tokenizer\s+not found/);
  });

  test('inspect a .safetensors file lists its tensors', () => {
    const r = cli(['inspect', path.join(TINY, 'model.safetensors')]);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /shared\.weight\s+F32\s+\[32128, 64\]/);
  });

  test('inspect a missing path → exit 4', () => {
    const r = cli(['inspect', path.join(tmp, 'nothing-here')]);
    assert.equal(r.status, 4, show(r));
  });

  test('tasks lists names with metric and split protocol', () => {
    const r = cli(['tasks']);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /sst2\s+accuracy\*/);
    assert.match(r.stdout, /cola\s+matthews_correlation\*/);
    assert.match(r.stdout, /large\s+validation = 1,000 rows/);
  });
});

describe('train → predict → eval on the bundled data', () => {
  const run = (): string => path.join(tmp, 'run');
  const adapter = (): string => path.join(run(), 'adapter');
  const common = (): string[] => ['--adapter', adapter(), '--model', TINY, '--tokenizer', TOKENIZER];

  before(() => {
    const r = cli([
      'train', '--model', TINY, '--tokenizer', TOKENIZER, '--task', 'sst2', '--output', run(),
      '--steps', '8', '--eval-every', '4', '--batch-size', '8', '--max-eval-examples', '16', '--max-length', '32', '--quiet',
    ]);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /best validation\s+accuracy/);
    assert.match(r.stdout, /RANDOM-WEIGHT/);
  });

  test('train writes the adapter, metrics and summary', () => {
    for (const f of ['adapter/adapter_config.json', 'adapter/adapter_model.safetensors', 'adapter/README.md', 'metrics.jsonl', 'summary.json']) {
      assert.ok(fs.existsSync(path.join(run(), f)), `missing ${f}`);
    }
    const summary = JSON.parse(fs.readFileSync(path.join(run(), 'summary.json'), 'utf8')) as { loop: { step: number }; test: Record<string, number> | null };
    assert.equal(summary.loop.step, 8);
    assert.ok(summary.test !== null && typeof summary.test['accuracy'] === 'number');
  });

  test('predict: batched == one at a time', () => {
    const texts = ['a gorgeous, witty, seductive movie.', 'this movie is dull.'];
    const batched = cli(['predict', ...common(), '--task', 'sst2', '--eval-mode', 'rank', ...texts.flatMap((t) => ['--text', t])]);
    assert.equal(batched.status, 0, show(batched));
    const labels = batched.stdout.trim().split('\n');
    assert.equal(labels.length, 2, show(batched));
    for (const l of labels) assert.ok(l === '0' || l === '1', `label ${JSON.stringify(l)}`);
    const single = texts.map((t) => {
      const r = cli(['predict', ...common(), '--task', 'sst2', '--eval-mode', 'rank', '--text', t]);
      assert.equal(r.status, 0, show(r));
      return r.stdout.trim();
    });
    assert.deepEqual(single, labels);
    // generated text too (greedy decoding, 4 tokens)
    const gen = (ts: string[]): string[] => {
      const r = cli(['predict', ...common(), '--task', 'sst2', '--max-new-tokens', '4', '--json', ...ts.flatMap((t) => ['--text', t])]);
      assert.equal(r.status, 0, show(r));
      return r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { prediction: string }).prediction);
    };
    assert.deepEqual(texts.map((t) => gen([t])[0]), gen(texts));
  });

  test('predict reads JSONL from stdin and applies the task format', () => {
    const r = cli(['predict', ...common(), '--task', 'sst2', '--eval-mode', 'rank', '--input', '-', '--json'], {
      input: '"a fine film."\n{"text": "boring."}\n',
    });
    assert.equal(r.status, 0, show(r));
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { source: string; prediction: string });
    assert.deepEqual(rows.map((x) => x.source), ['sentence: a fine film.', 'sentence: boring.']);
  });

  test('eval prints the metric', () => {
    const r = cli(['eval', ...common(), '--task', 'sst2', '--eval-mode', 'rank', '--max-eval-examples', '16']);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /accuracy\s+\d+\.\d\d/);
    const j = cli(['eval', ...common(), '--task', 'sst2', '--split', 'validation', '--eval-mode', 'rank', '--max-eval-examples', '8', '--json']);
    assert.equal(j.status, 0, show(j));
    const rep = JSON.parse(j.stdout) as { examples: number; metrics: Record<string, number>; loss: number };
    assert.equal(rep.examples, 8);
    assert.equal(typeof rep.metrics['accuracy'], 'number');
    assert.ok(Number.isFinite(rep.loss) && rep.loss > 0, `loss ${rep.loss}`); // its value: src/predict/predict.test.ts
  });

  test('inspect the trained adapter and its run folder', () => {
    const r = cli(['inspect', run()]);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /DePT adapter/);
    assert.match(r.stdout, /s=32/);
  });
});

describe('Ctrl-C during training', () => {
  const args = (out: string, steps: number) => ['train', '--model', TINY, '--tokenizer', TOKENIZER, '--output', out, '--steps', String(steps),
    '--eval-every', '0', '--eval-mode', 'rank', '--max-eval-examples', '8', '--batch-size', '4', '--max-length', '16',
    '--prompt-length', '4', '--budget', '8', '--warmup-steps', '10'];
  const logged = (out: string): number => {
    try {
      return fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"loss"')).length;
    } catch {
      return 0;
    }
  };
  const start = (a: string[]) => {
    const child = spawn(process.execPath, [BIN, ...a], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.stdout.resume();
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    return { child, ended, stderr: () => stderr };
  };
  const waitFor = async (cond: () => boolean) => {
    const deadline = Date.now() + 60_000;
    while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(cond(), 'timed out');
  };

  test('SIGINT: the step finishes, a checkpoint is saved, the printed command resumes to the uninterrupted result (exit 130)', async () => {
    const STEPS = 400;
    const whole = path.join(tmp, 'uninterrupted');
    const ref = cli(args(whole, STEPS));
    assert.equal(ref.status, 0, show(ref));
    const out = path.join(tmp, 'interrupted');
    const run = start(args(out, STEPS));
    await waitFor(() => logged(out) >= 20);
    const atSignal = logged(out);
    run.child.kill('SIGINT');
    const { code } = await run.ended;
    const err = run.stderr();
    assert.equal(code, 130, err);
    const saved = /SIGINT: stopped after step (\d+); checkpoint saved to (\S+)/.exec(err);
    assert.ok(saved, err);
    const step = Number(saved[1]);
    assert.ok(step >= atSignal && step < STEPS, `checkpoint step ${step}, ${atSignal} steps logged at the signal`);
    assert.ok(fs.existsSync(path.join(out, `checkpoint-${step}`, 'trainer_state.json')) || fs.readdirSync(path.join(out, `checkpoint-${step}`)).length > 0);
    assert.equal(fs.existsSync(path.join(out, 'adapter')), false, 'no adapter: the run did not finish');
    const cmd = /continue with: (.+)/.exec(err)?.[1];
    assert.ok(cmd !== undefined && cmd.includes('--resume'), err);
    const resumed = spawnSync('sh', ['-c', cmd], { cwd: tmp, encoding: 'utf8' });
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, new RegExp(`resume: from .*checkpoint-${step}`));
    for (const f of ['adapter_model.safetensors', 'adapter_config.json']) {
      const a = fs.readFileSync(path.join(whole, 'adapter', f));
      const b = fs.readFileSync(path.join(out, 'adapter', f));
      assert.ok(a.equals(b), `${f} differs from the uninterrupted run's`);
    }
  });

  test('a second SIGINT exits at once; what was saved stays loadable', async () => {
    const out = path.join(tmp, 'twice');
    const run = start([...args(out, 100000), '--save-every', '5']);
    await waitFor(() => fs.existsSync(path.join(out, 'checkpoint-5')));
    run.child.kill('SIGINT');
    run.child.kill('SIGINT');
    const { code, signal } = await run.ended;
    assert.ok(signal === 'SIGINT' || code === 130, `exit ${code} / ${signal}`);
    const resumed = cli([...args(out, 12), '--resume']);
    assert.equal(resumed.status, 0, show(resumed));
    assert.match(resumed.stderr, /resume: from .*checkpoint-\d+/);
  });
});

