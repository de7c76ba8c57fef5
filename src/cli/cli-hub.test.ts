/**
 * Hub ids from the command line, against the local Hub imitation (test/fake-hub.ts): `predict` with an adapter id
 * whose config names a base-model id downloads both and predicts exactly what the local folders predict; then with
 * HF_HUB_OFFLINE=1 the same command makes zero requests; `inspect` takes an id; `train --model <id>` records the
 * id (not the cache path) as the adapter's base model; an id the Hub refuses exits 14; on a pseudo-terminal (util-linux
 * `script`) the download draws a progress bar.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fakeCommit, startFakeHub, type FakeHub } from '../../test/fake-hub.js';
import { fixture, repoRoot } from '../../test/paths.js';

const BIN = path.join(repoRoot(), 'bin', 'softprompt.js');
const MODEL_ID = 'softprompt-test/t5-tiny';
const ADAPTER_ID = 'softprompt-test/t5-tiny-lora';
const TOKEN = 'hf_cli_token';
const read = (...p: string[]) => fs.readFileSync(fixture(...p));

let tmp = '';
let hub: FakeHub;
before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-cli-hub-'));
  const adapterConfig = { ...JSON.parse(read('t5-tiny', 'lora-adapter', 'adapter_config.json').toString()) as object, base_model_name_or_path: MODEL_ID };
  hub = await startFakeHub([
    {
      id: MODEL_ID, lfs: ['model.safetensors', 'spiece.model'], refs: { main: fakeCommit('cli t5-tiny') },
      files: {
        'config.json': read('t5-tiny', 'config.json'), 'model.safetensors': read('t5-tiny', 'model.safetensors'),
        ...Object.fromEntries(['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'spiece.model'].map((f) => [f, read('tokenizers', 't5', f)])),
      },
    },
    {
      id: ADAPTER_ID, token: TOKEN, lfs: ['adapter_model.safetensors'], refs: { main: fakeCommit('cli lora') },
      files: { 'adapter_config.json': Buffer.from(JSON.stringify(adapterConfig)), 'adapter_model.safetensors': read('t5-tiny', 'lora-adapter', 'adapter_model.safetensors') },
    },
  ]);
});
after(async () => {
  await hub.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** the CLI in a child process (async: the fake Hub lives in this process and must keep answering) */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((ok) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: tmp, env: { ...process.env, HF_ENDPOINT: hub.url, HF_HUB_CACHE: path.join(tmp, 'cache'), HF_TOKEN: TOKEN, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('close', (status) => ok({ status, stdout, stderr }));
  });
}

describe('Hub ids on the command line', () => {
  const text = ['--text', 'a gorgeous, witty, seductive movie.', '--text', 'dull and lifeless.', '--max-new-tokens', '4'];

  it('predict --adapter <id>: the adapter and the base model it names are downloaded; predictions equal the local folders\'', async () => {
    const local = await cli(['predict', '--adapter', fixture('t5-tiny', 'lora-adapter'), '--model', fixture('t5-tiny'), '--tokenizer', fixture('tokenizers', 't5'), ...text]);
    assert.equal(local.status, 0, local.stderr);
    const n0 = hub.requests.length;
    const r = await cli(['predict', '--adapter', ADAPTER_ID, ...text]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, local.stdout);
    assert.equal(r.stderr, ''); // no progress bar off a terminal
    const got = hub.requests.slice(n0).map((q) => q.url.split('?')[0]!);
    assert.ok(got.includes(`/${ADAPTER_ID}/resolve/${fakeCommit('cli lora')}/adapter_model.safetensors`), got.join('\n'));
    assert.ok(got.includes(`/${MODEL_ID}/resolve/${fakeCommit('cli t5-tiny')}/model.safetensors`), got.join('\n'));

    const n1 = hub.requests.length;
    const off = await cli(['predict', '--adapter', ADAPTER_ID, ...text], { HF_HUB_OFFLINE: '1' });
    assert.equal(off.status, 0, off.stderr);
    assert.equal(off.stdout, local.stdout);
    assert.equal(hub.requests.length, n1, 'HF_HUB_OFFLINE=1 made requests');
  });

  it('inspect <id> describes the cached model; an id the Hub refuses exits 14 naming it', async () => {
    const r = await cli(['inspect', MODEL_ID, '--json'], { HF_HUB_OFFLINE: '1' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /"modelType": "t5"/);
    const bad = await cli(['predict', '--adapter', 'softprompt-test/no-such-adapter', '--text', 'x']);
    assert.equal(bad.status, 14, bad.stderr);
    assert.match(bad.stderr, /softprompt-test\/no-such-adapter/);
    const offline = await cli(['eval', '--adapter', 'softprompt-test/not-cached', '--task', 'sst2'], { HF_HUB_OFFLINE: '1' });
    assert.equal(offline.status, 14, offline.stderr);
    assert.match(offline.stderr, /HF_HUB_OFFLINE.*not in the Hugging Face cache .*models--softprompt-test--not-cached/);
  });

  // a real terminal: util-linux `script` runs the CLI on a pseudo-terminal (skipped where it is not installed)
  const SCRIPT = ['/usr/bin/script', '/bin/script'].find((f) => fs.existsSync(f));
  it('on a terminal the download shows a cli-progress bar per file', { skip: SCRIPT === undefined ? 'util-linux script not installed' : false }, async () => {
    const r = await new Promise<{ status: number | null; out: string }>((ok) => {
      const cmd = [process.execPath, BIN, 'inspect', MODEL_ID].map((w) => `'${w}'`).join(' ');
      const child = spawn(SCRIPT!, ['-qec', cmd, '/dev/null'], {
        cwd: tmp, env: { ...process.env, HF_ENDPOINT: hub.url, HF_HUB_CACHE: path.join(tmp, 'tty-cache'), HF_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
      child.on('close', (status) => ok({ status, out }));
    });
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /softprompt-test\/t5-tiny model\.safetensors \[[█░]+\] 100% \| 8\.\d MB \/ 8\.\d MB/);
    assert.match(r.out, /softprompt-test\/t5-tiny config\.json \[/);
  });

  it('train --model <id> records the id as the adapter\'s base model, and the printed predict command works', async () => {
    const r = await cli(['train', '--model', MODEL_ID, '--method', 'lora', '--lora-r', '2', '--steps', '2', '--warmup-steps', '0', '--batch-size', '4',
      '--max-length', '16', '--eval-every', '0', '--eval-mode', 'rank', '--max-eval-examples', '4', '--output', path.join(tmp, 'run'), '--quiet'], { HF_HUB_OFFLINE: '1' });
    assert.equal(r.status, 0, r.stderr);
    const cfg = JSON.parse(fs.readFileSync(path.join(tmp, 'run', 'adapter', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg['base_model_name_or_path'], MODEL_ID);
    assert.match(fs.readFileSync(path.join(tmp, 'run', 'adapter', 'README.md'), 'utf8'), /base_model: softprompt-test\/t5-tiny/);
    const p = await cli(['predict', '--adapter', path.join(tmp, 'run', 'adapter'), '--task', 'sst2', '--eval-mode', 'rank', '--text', 'fine.'], { HF_HUB_OFFLINE: '1' });
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /^\S+\n$/); // one prediction
  });
});
