/**
 * Loading and unloading adapters at run time over HTTP (tiny T5, copies of the PEFT LoRA fixture under a temp
 * adapters root): off by default, the bearer token, paths kept inside the root (no `..`, no absolute path, no
 * symlink on the way or inside the folder), name conflicts, pinned startup adapters, LRU eviction past
 * --max-adapters, and the CLI refusing admin without a token.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture, repoRoot } from '../../test/paths.js';
import { loadTokenizerSync } from '../io/tokenizer.js';
import type { PeftMethod } from '../methods/method.js';
import { loadAdapter } from '../methods/registry.js';
import { loadModel } from '../models/registry.js';
import { AdapterRegistry } from './adapters.js';
import { createApp, type AppOptions } from './app.js';
import { shutdown } from './server.js';

const model = loadModel(fixture('t5-tiny'));
const tok = loadTokenizerSync(fixture('tokenizers', 't5'));
const LORA = fixture('t5-tiny', 'lora-adapter');
const lora = loadAdapter(LORA);
const TOKEN = 'admin-token-0123456789';
const base: AppOptions = { model: { kind: 'seq2seq', model }, modelName: 't5-tiny', tokenizer: tok, adapters: new Map([['lora', lora]]) };

const work = mkdtempSync(join(tmpdir(), 'sp-admin-'));
const root = join(work, 'root');
for (const d of ['a', 'b', 'c', join('nested', 'd')]) cpSync(LORA, join(root, d), { recursive: true });
mkdirSync(join(root, 'empty'));
cpSync(LORA, join(work, 'outside'), { recursive: true });
symlinkSync(join(work, 'outside'), join(root, 'out')); // a link leaving the root
symlinkSync(join(root, 'a'), join(root, 'alias')); // a link staying inside it: refused too
mkdirSync(join(root, 'evil'));
cpSync(join(LORA, 'adapter_model.safetensors'), join(root, 'evil', 'adapter_model.safetensors'));
symlinkSync(join(LORA, 'adapter_config.json'), join(root, 'evil', 'adapter_config.json')); // a link inside the folder
after(() => rmSync(work, { recursive: true, force: true }));

async function start(o: Partial<AppOptions>): Promise<{ server: http.Server; url: string }> {
  const { server } = createApp({ ...base, ...o });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

interface Reply { status: number; headers: Headers; json: Record<string, unknown> & { error?: { code: string; message: string; path: string | null } } }
async function call(url: string, method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<Reply> {
  const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  const r = await fetch(`${url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: r.status, headers: r.headers, json: await r.json() as Reply['json'] };
}

const texts = ['a gorgeous, witty, seductive movie.', 'this movie is dull.'];
const predict = (url: string, adapter: string) => call(url, 'POST', '/v1/predict', { adapter, task: 'sst2', inputs: texts, maxNewTokens: 3 }, null);

test('admin routes are off by default: 403 admin_disabled, even with a token', async () => {
  const { server, url } = await start({});
  try {
    for (const [m, p] of [['POST', '/v1/adapters'], ['DELETE', '/v1/adapters/lora']] as const) {
      const r = await call(url, m, p, m === 'POST' ? { name: 'a', path: 'a' } : undefined);
      assert.equal(r.status, 403);
      assert.equal(r.json.error!.code, 'admin_disabled');
    }
    assert.equal((await predict(url, 'lora')).status, 200);
  } finally {
    await shutdown(server, 1000);
  }
});

describe('admin routes, enabled (max 3 adapters, "lora" pinned)', () => {
  let server: http.Server;
  let url = '';
  before(async () => ({ server, url } = await start({ admin: { token: TOKEN, root }, maxAdapters: 3 })));
  after(() => shutdown(server, 1000));

  test('a missing or wrong bearer token gets 401 with WWW-Authenticate', async () => {
    for (const token of [null, 'wrong-token', `${TOKEN}x`]) {
      const r = await call(url, 'POST', '/v1/adapters', { name: 'a', path: 'a' }, token);
      assert.equal(r.status, 401);
      assert.equal(r.json.error!.code, 'unauthorized');
      assert.equal(r.headers.get('www-authenticate'), 'Bearer');
    }
    assert.equal((await call(url, 'DELETE', '/v1/adapters/lora', undefined, null)).status, 401);
  });

  test('paths outside the root, through symlinks, or not adapters are refused without loading anything', async () => {
    const cases: [string, RegExp][] = [
      ['../outside', /not inside the adapters root/], [join(work, 'outside'), /must be relative/], ['.', /not inside/],
      ['a/../../outside', /not inside/], ['out', /symbolic link/], ['alias', /symbolic link/], ['missing', /does not exist/],
      ['empty', /does not load/], ['evil', /does not load.*symbolic link/],
    ];
    for (const [path, why] of cases) {
      const r = await call(url, 'POST', '/v1/adapters', { name: 'x', path });
      assert.equal(r.status, 400, path);
      assert.equal(r.json.error!.code, 'invalid_adapter', path);
      assert.equal(r.json.error!.path, 'path');
      assert.match(r.json.error!.message, why, path);
      assert.doesNotMatch(r.json.error!.message, new RegExp(root), 'the root\'s location is not echoed');
    }
    const names = ((await call(url, 'GET', '/v1/adapters')).json['adapters'] as { name: string }[]).map((a) => a.name);
    assert.deepEqual(names, ['lora']);
  });

  test('bad or taken names: 400 / 409', async () => {
    for (const name of ['', 'a/b', '../a', 'x'.repeat(65), 7]) {
      const r = await call(url, 'POST', '/v1/adapters', { name, path: 'a' });
      assert.equal(r.status, 400, String(name));
      assert.equal(r.json.error!.path, 'name');
    }
    for (const name of ['lora', 't5-tiny']) {
      const r = await call(url, 'POST', '/v1/adapters', { name, path: 'a' });
      assert.equal(r.status, 409, name);
      assert.equal(r.json.error!.code, 'adapter_conflict');
    }
    assert.equal((await call(url, 'POST', '/v1/adapters', { name: 'a', path: 'a', pin: true })).status, 400);
  });

  test('load, serve, evict the least recently used, unload; pinned adapters stay', async () => {
    const loaded = await call(url, 'POST', '/v1/adapters', { name: 'a', path: 'a' });
    assert.equal(loaded.status, 201);
    assert.deepEqual(loaded.json['evicted'], []);
    assert.equal((loaded.json['adapter'] as Record<string, unknown>)['type'], 'lora');
    // the same files as the pinned adapter: the same predictions
    const viaA = await predict(url, 'a');
    assert.equal(viaA.status, 200);
    assert.deepEqual(viaA.json['predictions'], (await predict(url, 'lora')).json['predictions']);
    const models = (await call(url, 'GET', '/v1/models')).json['data'] as { id: string }[];
    assert.deepEqual(models.map((m) => m.id), ['t5-tiny', 'lora', 'a']);

    assert.equal((await call(url, 'POST', '/v1/adapters', { name: 'b', path: 'nested/d' })).status, 201);
    assert.equal((await predict(url, 'a')).status, 200); // "a" used after "b" was loaded: "b" is now the least recent
    const c = await call(url, 'POST', '/v1/adapters', { name: 'c', path: 'c' });
    assert.equal(c.status, 201);
    assert.deepEqual(c.json['evicted'], ['b']);
    assert.equal((await predict(url, 'b')).status, 404);
    assert.equal((await predict(url, 'a')).status, 200);

    const pinned = await call(url, 'DELETE', '/v1/adapters/lora');
    assert.equal(pinned.status, 409);
    assert.match(pinned.json.error!.message, /pinned/);
    assert.deepEqual((await call(url, 'DELETE', '/v1/adapters/c')).json, { deleted: 'c' });
    assert.equal((await call(url, 'DELETE', '/v1/adapters/c')).status, 404);
    assert.equal((await predict(url, 'c')).status, 404);
    const health = (await call(url, 'GET', '/health')).json;
    assert.equal(health['adapters'], 2);
  });
});

test('every resident adapter pinned and the bound reached: 409, nothing evicted', async () => {
  const { server, url } = await start({ admin: { token: TOKEN, root }, maxAdapters: 1 });
  try {
    const r = await call(url, 'POST', '/v1/adapters', { name: 'a', path: 'a' });
    assert.equal(r.status, 409);
    assert.match(r.json.error!.message, /pinned/);
    assert.equal((await predict(url, 'lora')).status, 200);
  } finally {
    await shutdown(server, 1000);
  }
});

test('AdapterRegistry: get counts as a use; pinned never evicted; order of listing is load order', () => {
  const m = (n: number) => ({ type: `m${n}` }) as unknown as PeftMethod;
  const reg = new AdapterRegistry(new Map([['p', m(0)]]), 3);
  assert.deepEqual(reg.add('x', m(1)), []);
  assert.deepEqual(reg.add('y', m(2)), []);
  reg.get('x');
  assert.deepEqual(reg.add('z', m(3)), ['y']);
  reg.get('p'); // pinned: its use does not protect x, nor can it be chosen
  assert.deepEqual(reg.add('w', m(4)), ['x']);
  assert.deepEqual([...reg.keys()], ['p', 'z', 'w']);
  assert.equal(reg.isPinned('p'), true);
});

test('CLI: --allow-adapter-admin without a token or root is a usage error (exit 2) before the model loads', () => {
  const bin = join(repoRoot(), 'bin', 'softprompt.js');
  const args = [bin, 'serve', '--model', fixture('t5-tiny'), '--tokenizer', fixture('tokenizers', 't5'), '--adapter', `lora=${LORA}`, '--port', '0', '--allow-adapter-admin'];
  const env = { ...process.env, SOFTPROMPT_ADMIN_TOKEN: '' };
  const noToken = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 30_000, env });
  assert.equal(noToken.status, 2, noToken.stderr);
  assert.match(noToken.stderr, /--admin-token/);
  const noRoot = spawnSync(process.execPath, [...args, '--admin-token', TOKEN], { encoding: 'utf8', timeout: 30_000, env });
  assert.equal(noRoot.status, 2, noRoot.stderr);
  assert.match(noRoot.stderr, /--adapters-root/);
});
