// Checks that softprompt and Python's huggingface_hub share one Hub cache, both ways, against the local Hub
// imitation (dist/test/fake-hub.js): softprompt downloads → Python (HF_HUB_OFFLINE=1) finds every file and
// transformers loads the config and tokenizer; Python downloads → softprompt (offline) loads the model. Needs the
// Python venv with huggingface_hub + transformers: VENV=/work/venv node scripts/check-hub-interop.mjs (after npm run build).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fakeCommit, startFakeHub } from '../dist/test/fake-hub.js';
import { fetchHubSnapshot, resolveHubPath } from '../dist/src/io/hub/index.js';
import { hubEnv } from '../dist/src/io/hub/env.js';
import { loadAnyModel } from '../dist/src/models/registry.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const read = (...p) => fs.readFileSync(path.join(root, 'test', 'fixtures', ...p));
const python = path.join(process.env.VENV ?? '/work/venv', 'bin', 'python');
const id = 'softprompt-test/t5-tiny';
const commit = fakeCommit('interop');
const tok = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'spiece.model'];
const hub = await startFakeHub([{
  id, refs: { main: commit }, lfs: ['model.safetensors', 'spiece.model'],
  files: { 'config.json': read('t5-tiny', 'config.json'), 'model.safetensors': read('t5-tiny', 'model.safetensors'), ...Object.fromEntries(tok.map((f) => [f, read('tokenizers', 't5', f)])) },
}], { lfsRedirect: true }); // LFS files via a 'CDN' on another origin, as on the real Hub
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-interop-'));
// async: the imitation Hub answers from this process while Python runs
const py = async (args, env) => JSON.parse((await promisify(execFile)(python, [path.join(root, 'scripts', 'check-hub-interop.py'), ...args], { env: { ...process.env, HF_ENDPOINT: hub.url, ...env } })).stdout.trim().split('\n').pop());
try {
  const ours = path.join(tmp, 'ours');
  const s = await fetchHubSnapshot(id, { kind: 'model', env: hubEnv({ HF_ENDPOINT: hub.url, HF_HUB_CACHE: ours }), progress: null });
  const n = hub.requests.length;
  const r = await py(['read', id, commit], { HF_HUB_CACHE: ours, HF_HUB_OFFLINE: '1' });
  if (r.snapshot !== s.dir || r.model_type !== 't5' || hub.requests.length !== n) throw new Error(`Python did not reuse softprompt's cache: ${JSON.stringify(r)}`);
  console.log(`softprompt → Python: ${JSON.stringify(r)}`);

  const theirs = path.join(tmp, 'theirs');
  const d = await py(['download', id], { HF_HUB_CACHE: theirs });
  const m = hub.requests.length;
  const dir = await resolveHubPath(id, { kind: 'model', env: hubEnv({ HF_HUB_CACHE: theirs, HF_HUB_OFFLINE: '1' }), progress: null });
  const lm = loadAnyModel(dir);
  if (dir !== d.snapshot || lm.model.info.dModel !== 64 || hub.requests.length !== m) throw new Error(`softprompt did not reuse Python's cache: ${dir} vs ${d.snapshot}`);
  console.log(`Python → softprompt: ${dir} (d_model ${lm.model.info.dModel})`);
  console.log('ok');
} finally {
  await hub.close();
  fs.rmSync(tmp, { recursive: true, force: true });
}
