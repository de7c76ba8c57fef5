/**
 * Hub ids against a local imitation of the Hub (test/fake-hub.ts): the first run downloads into a
 * huggingface_hub-layout cache (with a progress bar on a TTY), later runs use the cache with the server stopped or
 * HF_HUB_OFFLINE=1 (zero requests), a wrong sha256 is refused and leaves nothing behind, an interrupted download
 * resumes with a Range request, a private repo needs HF_TOKEN.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fixture } from '../../../test/paths.js';
import { fakeCommit, gitBlobSha1, sha256, startFakeHub, type FakeHub, type FakeRepo } from '../../../test/fake-hub.js';
import { SoftpromptError } from '../../errors.js';
import { readAdapter } from '../../methods/registry.js';
import { loadAnyModel } from '../../models/registry.js';
import { loadTokenizerSync } from '../tokenizer.js';
import { hubCacheBlobTarget, hubIdOfPath, isHubId } from './cache.js';
import { hubEnv, type HubEnv } from './env.js';
import { lockBlob } from './lock.js';
import { fetchHubSnapshot, resolveHubPath } from './resolve.js';
import type { ByteProgressStream } from './progress.js';

const read = (...p: string[]) => fs.readFileSync(fixture(...p));
const MODEL_ID = 'softprompt-test/t5-tiny';
const ADAPTER_ID = 'softprompt-test/t5-tiny-lora';
const SHARDED_ID = 'softprompt-test/sharded';
const TOKEN = 'hf_test_token';
const C_MAIN = fakeCommit('t5-tiny main');
const C_V1 = fakeCommit('t5-tiny v1');

const modelFiles: Record<string, Buffer> = {
  'config.json': read('t5-tiny', 'config.json'),
  'model.safetensors': read('t5-tiny', 'model.safetensors'),
  'tokenizer.json': read('tokenizers', 't5', 'tokenizer.json'),
  'tokenizer_config.json': read('tokenizers', 't5', 'tokenizer_config.json'),
  'special_tokens_map.json': read('tokenizers', 't5', 'special_tokens_map.json'),
  'spiece.model': read('tokenizers', 't5', 'spiece.model'),
  'pytorch_model.bin': Buffer.alloc(4096, 7), // the same weights in another format: never downloaded
  'README.md': Buffer.from('# t5-tiny\n'),
};
const adapterConfig = { ...JSON.parse(read('t5-tiny', 'lora-adapter', 'adapter_config.json').toString()) as object, base_model_name_or_path: MODEL_ID };
const REPOS: FakeRepo[] = [
  { id: MODEL_ID, files: modelFiles, lfs: ['model.safetensors', 'spiece.model', 'pytorch_model.bin'], refs: { main: C_MAIN, v1: C_V1 } },
  {
    id: ADAPTER_ID, token: TOKEN, lfs: ['adapter_model.safetensors'], refs: { main: fakeCommit('lora main') },
    files: { 'adapter_config.json': Buffer.from(JSON.stringify(adapterConfig, null, 2)), 'adapter_model.safetensors': read('t5-tiny', 'lora-adapter', 'adapter_model.safetensors') },
  },
  {
    id: SHARDED_ID, lfs: ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'], refs: { main: fakeCommit('sharded') },
    files: {
      'config.json': Buffer.from('{"model_type": "t5"}'),
      'model.safetensors.index.json': Buffer.from(JSON.stringify({ metadata: {}, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors', c: 'model-00001-of-00002.safetensors' } })),
      'model-00001-of-00002.safetensors': Buffer.alloc(3000, 1),
      'model-00002-of-00002.safetensors': Buffer.alloc(2000, 2),
      'model-00003-of-00003.safetensors': Buffer.alloc(100, 3), // not in the index: not fetched
    },
  },
];

let tmp = '';
let hub: FakeHub;
before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-hub-'));
  hub = await startFakeHub(REPOS);
});
after(async () => {
  await hub.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

let caches = 0;
/** a fresh cache folder, and the environment a user would set */
function env(extra: Record<string, string> = {}, cacheDir = path.join(tmp, `cache${caches++}`)): HubEnv {
  return hubEnv({ HF_ENDPOINT: hub.url, HF_HUB_CACHE: cacheDir, ...extra });
}

function sink(isTTY: boolean): { stream: ByteProgressStream; text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({ write(chunk: Buffer | string, _enc, cb) { chunks.push(chunk.toString()); cb(); } });
  return { stream: Object.assign(w, { isTTY, columns: 120 }), text: () => chunks.join('') };
}

async function rejectsWith(p: Promise<unknown>, code: string, ...mention: string[]): Promise<SoftpromptError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof SoftpromptError, `expected a SoftpromptError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const s of mention) assert.ok(caught.message.includes(s), `message should mention ${JSON.stringify(s)}: ${caught.message}`);
  return caught;
}

const quiet = { progress: null, log: () => {} };

describe('Hub ids: download into the huggingface_hub cache layout', () => {
  let e: HubEnv;
  let repoDir = '';
  let snap = '';
  before(() => {
    e = env();
    repoDir = path.join(e.cacheDir, 'models--softprompt-test--t5-tiny');
    snap = path.join(repoDir, 'snapshots', C_MAIN);
  });

  it('a first run downloads the files a model needs (with a progress bar on a TTY) and lays them out as Python does', async () => {
    const tty = sink(true);
    const n0 = hub.requests.length;
    const s = await fetchHubSnapshot(MODEL_ID, { kind: 'model', env: e, progress: tty.stream, log: () => {} });
    assert.equal(s.dir, snap);
    assert.equal(s.commit, C_MAIN);
    assert.deepEqual(s.downloaded.sort(), ['config.json', 'model.safetensors', 'special_tokens_map.json', 'spiece.model', 'tokenizer.json', 'tokenizer_config.json']);
    assert.equal(fs.readFileSync(path.join(repoDir, 'refs', 'main'), 'utf8'), C_MAIN); // no newline, as huggingface_hub
    for (const f of s.downloaded) {
      const link = path.join(snap, f);
      const lfs = REPOS[0]!.lfs.includes(f);
      const etag = lfs ? sha256(modelFiles[f]!) : gitBlobSha1(modelFiles[f]!);
      assert.equal(fs.readlinkSync(link), path.join('..', '..', 'blobs', etag), f); // relative link into blobs/
      assert.ok(fs.readFileSync(link).equals(modelFiles[f]!), f);
    }
    assert.ok(!fs.existsSync(path.join(snap, 'pytorch_model.bin')) && !fs.existsSync(path.join(snap, 'README.md')));
    assert.deepEqual(fs.readdirSync(path.join(repoDir, 'blobs')).filter((b) => b.endsWith('.incomplete')), []);
    const paths = hub.requests.slice(n0).map((r) => r.url.split('?')[0]);
    assert.ok(paths.includes(`/api/models/${MODEL_ID}/revision/main`), paths.join('\n'));
    assert.ok(paths.includes(`/api/models/${MODEL_ID}/tree/${C_MAIN}`), paths.join('\n'));
    assert.ok(!paths.some((p) => p!.endsWith('pytorch_model.bin')), paths.join('\n'));
    // the bar: cli-progress output naming the repo and file, reaching 100 %
    const bar = tty.text();
    assert.match(bar, /softprompt-test\/t5-tiny model\.safetensors \[[█░]+\] 100% \| 8\.\d MB \/ 8\.\d MB/);
    // and the folder is a model the loaders read (through the links)
    const lm = loadAnyModel(snap);
    assert.equal(lm.model.info.dModel, 64);
    assert.equal(loadTokenizerSync(snap).encode('hello').length > 0, true);
  });

  it('the same run again makes no download (only the two API calls), and no progress is printed off a TTY', async () => {
    const plain = sink(false);
    const n0 = hub.requests.length;
    const s = await fetchHubSnapshot(MODEL_ID, { kind: 'model', env: e, progress: plain.stream, log: () => {} });
    assert.deepEqual(s.downloaded, []);
    assert.deepEqual(hub.requests.slice(n0).map((r) => r.url.split('?')[0]), [`/api/models/${MODEL_ID}/revision/main`, `/api/models/${MODEL_ID}/tree/${C_MAIN}`]);
    assert.equal(plain.text(), '');
  });

  it('HF_HUB_OFFLINE=1 answers from the cache with zero requests; an id not cached fails naming the id and the cache path', async () => {
    const off = hubEnv({ HF_ENDPOINT: hub.url, HF_HUB_CACHE: e.cacheDir, HF_HUB_OFFLINE: '1' });
    const n0 = hub.requests.length;
    assert.equal(await resolveHubPath(MODEL_ID, { kind: 'model', env: off, ...quiet }), snap);
    const err = await rejectsWith(resolveHubPath(ADAPTER_ID, { kind: 'adapter', env: off, ...quiet }), 'hub_unavailable', 'HF_HUB_OFFLINE', ADAPTER_ID,
      path.join(e.cacheDir, 'models--softprompt-test--t5-tiny-lora'));
    assert.equal(err.exitCode, 14);
    await rejectsWith(resolveHubPath(MODEL_ID, { kind: 'model', revision: 'v1', env: off, ...quiet }), 'hub_unavailable', 'revision v1');
    assert.equal(hub.requests.length, n0, 'offline mode made requests');
  });

  it('a local folder of the same name wins over the Hub id, with no request', async () => {
    const cwd = process.cwd();
    const local = path.join(tmp, 'cwd');
    fs.mkdirSync(path.join(local, 'softprompt-test', 't5-tiny'), { recursive: true });
    const n0 = hub.requests.length;
    try {
      process.chdir(local);
      assert.equal(await resolveHubPath(MODEL_ID, { kind: 'model', env: env(), ...quiet }), MODEL_ID);
    } finally {
      process.chdir(cwd);
    }
    assert.equal(await resolveHubPath('./no/such-dir', { kind: 'model', env: env(), ...quiet }), './no/such-dir'); // not an id: the loader's own error
    assert.equal(hub.requests.length, n0);
  });

  it('--revision: a tag resolves to its commit and is recorded in refs/<tag>', async () => {
    const s = await fetchHubSnapshot(MODEL_ID, { kind: 'tokenizer', revision: 'v1', env: e, ...quiet });
    assert.equal(s.commit, C_V1);
    assert.equal(fs.readFileSync(path.join(repoDir, 'refs', 'v1'), 'utf8'), C_V1);
    assert.deepEqual(s.downloaded, []); // same blobs as main: linked, not downloaded again
    assert.ok(fs.readFileSync(path.join(s.dir, 'spiece.model')).equals(modelFiles['spiece.model']!));
    await rejectsWith(fetchHubSnapshot(MODEL_ID, { kind: 'model', revision: 'no-such-branch', env: e, ...quiet }), 'hub_unavailable', '404', MODEL_ID);
    await rejectsWith(fetchHubSnapshot(MODEL_ID, { kind: 'model', revision: '../../etc', env: e, ...quiet }), 'usage', '--revision');
  });

  it('a sharded model: the index and exactly the shards it names', async () => {
    const s = await fetchHubSnapshot(SHARDED_ID, { kind: 'model', env: env(), ...quiet });
    assert.deepEqual(s.downloaded.sort(), ['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json']);
  });
});

describe('Hub ids: the server stopped, a wrong checksum, an interrupted download, a private repo', () => {
  it('a second run uses the cache with the server stopped (a note says so)', async () => {
    const other = await startFakeHub(REPOS);
    const e = hubEnv({ HF_ENDPOINT: other.url, HF_HUB_CACHE: path.join(tmp, 'stopped') });
    const first = await resolveHubPath(MODEL_ID, { kind: 'model', env: e, ...quiet });
    await other.close();
    const notes: string[] = [];
    assert.equal(await resolveHubPath(MODEL_ID, { kind: 'model', env: e, progress: null, log: (l) => notes.push(l) }), first);
    assert.match(notes.join('\n'), /could not be reached \(fetch failed: [A-Z_]+\); using the cached softprompt-test\/t5-tiny/);
    // an id the cache does not hold: a typed error saying real downloads need internet
    await rejectsWith(resolveHubPath(ADAPTER_ID, { kind: 'adapter', env: e, ...quiet }), 'hub_unavailable', 'could not be reached', ADAPTER_ID);
  });

  it('a Hub in trouble (503) falls back to the cache too; a refusal (401) does not', async () => {
    const e = env();
    await fetchHubSnapshot(MODEL_ID, { kind: 'tokenizer', env: e, ...quiet });
    hub.failApi = 503;
    try {
      const notes: string[] = [];
      const s = await fetchHubSnapshot(MODEL_ID, { kind: 'tokenizer', env: e, progress: null, log: (l) => notes.push(l) });
      assert.equal(s.commit, C_MAIN);
      assert.match(notes.join('\n'), /could not be reached \(HTTP 503\); using the cached/);
      await rejectsWith(fetchHubSnapshot(MODEL_ID, { kind: 'model', env: e, ...quiet }), 'hub_unavailable', '503'); // the weights are not cached
      hub.failApi = 401;
      await rejectsWith(fetchHubSnapshot(MODEL_ID, { kind: 'tokenizer', env: e, ...quiet }), 'hub_unavailable', '401');
    } finally {
      hub.failApi = null;
    }
  });

  it('a file whose bytes do not match the sha256 the Hub lists is refused and not kept', async () => {
    const e = env();
    hub.corrupt.add(`${MODEL_ID}/model.safetensors`);
    try {
      await rejectsWith(fetchHubSnapshot(MODEL_ID, { kind: 'model', env: e, ...quiet }), 'malformed_file', 'model.safetensors', 'checksum', sha256(modelFiles['model.safetensors']!));
    } finally {
      hub.corrupt.clear();
    }
    const repoDir = path.join(e.cacheDir, 'models--softprompt-test--t5-tiny');
    const blobs = fs.readdirSync(path.join(repoDir, 'blobs'));
    assert.ok(!blobs.includes(sha256(modelFiles['model.safetensors']!)) && !blobs.some((b) => b.endsWith('.incomplete')), blobs.join(', '));
    assert.ok(!fs.existsSync(path.join(repoDir, 'snapshots', C_MAIN, 'model.safetensors')));
    assert.ok(!fs.existsSync(path.join(repoDir, 'refs', 'main'))); // not recorded as complete
    // the next run (server healthy) completes it
    const s = await fetchHubSnapshot(MODEL_ID, { kind: 'model', env: e, ...quiet });
    assert.ok(s.downloaded.includes('model.safetensors'));
  });

  it('an interrupted download keeps its .incomplete file and the next run resumes it with a Range request', async () => {
    const e = env();
    const weights = modelFiles['model.safetensors']!;
    hub.cutAfter.set(`${MODEL_ID}/model.safetensors`, 3_000_000);
    await rejectsWith(fetchHubSnapshot(MODEL_ID, { kind: 'model', env: e, ...quiet }), 'hub_unavailable', 'model.safetensors', 'stopped at byte');
    const part = path.join(e.cacheDir, 'models--softprompt-test--t5-tiny', 'blobs', `${sha256(weights)}.incomplete`);
    const have = fs.statSync(part).size;
    assert.ok(have > 0 && have <= 3_000_000, `partial file of ${have} bytes`);
    const n0 = hub.requests.length;
    const s = await fetchHubSnapshot(MODEL_ID, { kind: 'model', env: e, ...quiet });
    const get = hub.requests.slice(n0).filter((r) => r.url.endsWith('/model.safetensors'));
    assert.deepEqual(get.map((r) => r.range), [`bytes=${have}-`]);
    assert.ok(fs.readFileSync(path.join(s.dir, 'model.safetensors')).equals(weights));
    assert.ok(!fs.existsSync(part));
  });

  it('two downloads of the same model at once: each file is fetched once (a lock file), both get the snapshot; a dead holder\'s lock is taken over', async () => {
    const e = env();
    const lockDir = path.join(e.cacheDir, '.locks', 'models--softprompt-test--t5-tiny');
    fs.mkdirSync(lockDir, { recursive: true });
    const stale = path.join(lockDir, `${sha256(modelFiles['spiece.model']!)}.softprompt.lock`);
    fs.writeFileSync(stale, `${os.hostname()} 999999999`); // no such process
    const n0 = hub.requests.length;
    const notes: string[] = [];
    const [a, b] = await Promise.all([1, 2].map(() => fetchHubSnapshot(MODEL_ID, { kind: 'model', env: e, progress: null, log: (l) => notes.push(l) })));
    assert.equal(a!.dir, b!.dir);
    const gets = hub.requests.slice(n0).filter((r) => r.url.includes('/resolve/')).map((r) => r.url.split('/').pop());
    assert.deepEqual(gets.sort(), ['config.json', 'model.safetensors', 'special_tokens_map.json', 'spiece.model', 'tokenizer.json', 'tokenizer_config.json']);
    assert.deepEqual([...a!.downloaded, ...b!.downloaded].sort(), gets);
    assert.deepEqual(fs.readdirSync(lockDir), []); // released
    // a live holder (this process, lock fresh) is waited for: no request for that file until it lets go
    const e2 = env();
    const weights = sha256(modelFiles['model.safetensors']!);
    const held = await lockBlob(path.join(e2.cacheDir, '.locks', 'models--softprompt-test--t5-tiny', `${weights}.softprompt.lock`));
    const n1 = hub.requests.length;
    const pending = fetchHubSnapshot(MODEL_ID, { kind: 'model', env: e2, progress: null, log: (l) => notes.push(l) });
    await new Promise((ok) => setTimeout(ok, 600));
    assert.ok(!hub.requests.slice(n1).some((r) => r.url.endsWith('/model.safetensors')));
    assert.ok(notes.some((l) => l.startsWith('waiting for another process downloading softprompt-test/t5-tiny model.safetensors')), notes.join('\n'));
    held.release();
    assert.ok((await pending).downloaded.includes('model.safetensors'));
  });

  it('a private repo: 401 without HF_TOKEN (typed, with a hint), downloads with it; the cached adapter loads through its blob links', async () => {
    const cacheDir = path.join(tmp, 'private');
    const err = await rejectsWith(fetchHubSnapshot(ADAPTER_ID, { kind: 'adapter', env: env({}, cacheDir), ...quiet }), 'hub_unavailable', '401', ADAPTER_ID);
    assert.match(err.hint ?? '', /HF_TOKEN/);
    const n0 = hub.requests.length;
    const dir = await resolveHubPath(ADAPTER_ID, { kind: 'adapter', env: env({ HF_TOKEN: TOKEN }, cacheDir), ...quiet });
    assert.ok(hub.requests.slice(n0).every((r) => r.authorization === `Bearer ${TOKEN}`));
    assert.ok(fs.lstatSync(path.join(dir, 'adapter_config.json')).isSymbolicLink());
    const a = readAdapter(dir); // adapter folders refuse symlinks, except the cache's links into its own blobs/
    assert.equal(a.config.baseModel, MODEL_ID);
    assert.equal(hubIdOfPath(dir), ADAPTER_ID);
  });
});

describe('Hub ids: LFS files redirected to a CDN, as the real Hub does', () => {
  it('the token goes to the Hub only, never to the CDN; an interrupted CDN download resumes there with Range', async () => {
    const cdnHub = await startFakeHub([{ ...REPOS[0]!, token: TOKEN }], { lfsRedirect: true });
    try {
      const e = hubEnv({ HF_ENDPOINT: cdnHub.url, HF_HUB_CACHE: path.join(tmp, 'cdn'), HF_TOKEN: TOKEN });
      cdnHub.cutAfter.set(`${MODEL_ID}/model.safetensors`, 1_000_000);
      await rejectsWith(fetchHubSnapshot(MODEL_ID, { kind: 'model', env: e, ...quiet }), 'hub_unavailable', 'stopped at byte');
      const s = await fetchHubSnapshot(MODEL_ID, { kind: 'model', env: e, ...quiet });
      assert.ok(fs.readFileSync(path.join(s.dir, 'model.safetensors')).equals(modelFiles['model.safetensors']!));
      assert.ok(cdnHub.requests.length > 0 && cdnHub.requests.every((r) => r.authorization === `Bearer ${TOKEN}`));
      const weights = cdnHub.cdnRequests.filter((r) => r.url === `/${sha256(modelFiles['model.safetensors']!)}`);
      assert.equal(weights.length, 2);
      assert.equal(weights[0]!.range, undefined);
      assert.match(weights[1]!.range ?? '', /^bytes=\d+-$/);
      assert.ok(cdnHub.cdnRequests.every((r) => r.authorization === undefined), 'the token reached the CDN');
    } finally {
      await cdnHub.close();
    }
  });
});

describe('Hub cache links: exactly the ones the cache makes are followed in adapter folders', () => {
  it('a snapshot link out of its repo\'s blobs/ (another repo, a secret file) is refused', () => {
    const repo = path.join(tmp, 'hostile', 'models--evil--adapter');
    const snap = path.join(repo, 'snapshots', fakeCommit('evil'));
    fs.mkdirSync(snap, { recursive: true });
    fs.mkdirSync(path.join(repo, 'blobs'));
    const secret = path.join(tmp, 'hostile', 'secret');
    fs.writeFileSync(secret, '{"peft_type": "LORA", "secret": "x"}');
    fs.symlinkSync(secret, path.join(snap, 'adapter_config.json'));
    assert.equal(hubCacheBlobTarget(path.join(snap, 'adapter_config.json')), null);
    assert.throws(() => readAdapter(snap), (e: unknown) => e instanceof SoftpromptError && e.code === 'malformed_file' && /symbolic link/.test(e.message) && !e.message.includes('secret":'));
    // a link into another cache repo's blobs (a real blob name) is refused too
    const otherBlobs = path.join(tmp, 'hostile', 'models--other--repo', 'blobs');
    fs.mkdirSync(otherBlobs, { recursive: true });
    const etag = 'a'.repeat(64);
    fs.writeFileSync(path.join(otherBlobs, etag), '{}');
    fs.rmSync(path.join(snap, 'adapter_config.json'));
    fs.symlinkSync(path.join('..', '..', '..', 'models--other--repo', 'blobs', etag), path.join(snap, 'adapter_config.json'));
    assert.equal(hubCacheBlobTarget(path.join(snap, 'adapter_config.json')), null);
    // the same name in its own blobs/ is accepted
    fs.writeFileSync(path.join(repo, 'blobs', etag), '{}');
    fs.rmSync(path.join(snap, 'adapter_config.json'));
    fs.symlinkSync(path.join('..', '..', 'blobs', etag), path.join(snap, 'adapter_config.json'));
    assert.equal(hubCacheBlobTarget(path.join(snap, 'adapter_config.json')), fs.realpathSync(path.join(repo, 'blobs', etag)));
  });

  it('ids and paths', () => {
    for (const id of ['google/flan-t5-small', 'org/model.v2', 'a_b/c-d']) assert.ok(isHubId(id), id);
    for (const p of ['t5-small', './a/b', '/abs/b', 'a/b/c', '../a', 'a/../b', 'a--b/c', 'a/b.git', '.x/y']) assert.ok(!isHubId(p), p);
    assert.equal(hubIdOfPath(`/x/hub/models--google--flan-t5-small/snapshots/${'0'.repeat(40)}`), 'google/flan-t5-small');
    assert.equal(hubIdOfPath('/x/hub/models--google--flan-t5-small'), null);
  });

  it('the environment is read as huggingface_hub reads it', () => {
    const e = hubEnv({ HF_HOME: '/h', HF_ENDPOINT: 'https://mirror.example/', HF_HUB_OFFLINE: 'yes' });
    assert.deepEqual([e.cacheDir, e.endpoint, e.offline], ['/h/hub', 'https://mirror.example', true]);
    assert.equal(hubEnv({ XDG_CACHE_HOME: '/c', HF_HUB_OFFLINE: '0' }).cacheDir, '/c/huggingface/hub');
    assert.equal(hubEnv({ HF_HOME: '/h', HF_HUB_CACHE: '/hc' }).cacheDir, '/hc');
    assert.equal(hubEnv({ HF_HOME: path.join(tmp, 'none') }).token, undefined);
    fs.writeFileSync(path.join(tmp, 'tokfile'), 'hf_from_file\n');
    assert.equal(hubEnv({ HF_TOKEN_PATH: path.join(tmp, 'tokfile') }).token, 'hf_from_file');
    assert.equal(hubEnv({ HF_TOKEN: 'hf_env', HF_TOKEN_PATH: path.join(tmp, 'tokfile') }).token, 'hf_env');
    assert.equal(hubEnv({ TRANSFORMERS_OFFLINE: '1' }).offline, true);
  });
});
