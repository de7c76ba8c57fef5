/**
 * A Hugging Face Hub id → a local folder, as transformers' from_pretrained resolves it:
 *
 *   1. a local path of that name wins (file or folder);
 *   2. an "org/name" id is looked up in the shared cache (cache.ts) and, unless HF_HUB_OFFLINE is set, on the Hub:
 *      the revision's commit and file listing come from the API (`@huggingface/hub`: modelInfo, listFiles), the
 *      files softprompt needs (files.ts) are downloaded into the cache (download.ts), and the folder returned is
 *      snapshots/<commit>/;
 *   3. the Hub unreachable (no network) but the revision cached: the cached snapshot is used, as huggingface_hub
 *      does; HF_HUB_OFFLINE=1: the cache only, never a request.
 *
 * Why not @huggingface/hub's own snapshotDownload / downloadFileToCacheDir: they download every file of the repo
 * (or one per call with a paths-info request each), write no refs/<revision> for single files and name the snapshot
 * after a file's last commit instead of the revision's, cannot resume (no Range), check no hash, and show no
 * progress. Its API calls are used; the cache layer follows huggingface_hub (Python) here.
 *
 *   const dir = await resolveHubPath('google/flan-t5-small', { kind: 'model' });   // …/snapshots/<commit>
 */
import fs from 'node:fs';
import path from 'node:path';
import { SoftpromptError } from '../../errors.js';
import {
  blobPath, cachedCommit, checkRevision, hasFile, isCommitHash, isHubId, isSafeRepoPath, linkSnapshotFile, repoFolder, snapshotDir, writeRef,
} from './cache.js';
import { downloadBlob, httpError, type RemoteFile } from './download.js';
import { DEFAULT_REVISION, hubEnv, type HubEnv } from './env.js';
import { concreteKind, MODEL_WEIGHTS, MODEL_WEIGHTS_INDEX, selectFiles, shardFiles, TOKENIZER_FILES, type HubFileKind } from './files.js';
import { lockBlob } from './lock.js';
import { createByteProgress, type ByteProgressStream } from './progress.js';

export interface HubResolveOptions {
  /** what the id names: decides which files are downloaded */
  kind: HubFileKind;
  /** branch, tag or commit; default main */
  revision?: string;
  /** default hubEnv(process.env) */
  env?: HubEnv;
  /** default globalThis.fetch */
  fetch?: typeof fetch;
  /** the progress bar's stream (shown only when it is a TTY); default process.stderr; null: none */
  progress?: ByteProgressStream | null;
  /** notes such as "Hub unreachable, using the cache"; default: a line on stderr */
  log?: (line: string) => void;
}

export interface HubSnapshot {
  repoId: string;
  revision: string;
  commit: string;
  /** <cache>/models--org--name/snapshots/<commit> */
  dir: string;
  /** repo paths downloaded by this call (empty: all were cached) */
  downloaded: string[];
}

/** `nameOrPath` when it exists here or is no Hub id; else the cached (downloaded if needed) snapshot folder. */
export async function resolveHubPath(nameOrPath: string, opts: HubResolveOptions): Promise<string> {
  if (fs.existsSync(nameOrPath) || !isHubId(nameOrPath)) return nameOrPath;
  return (await fetchHubSnapshot(nameOrPath, opts)).dir;
}

function usable(dir: string, kind: HubFileKind): boolean {
  const has = (f: string): boolean => hasFile(path.join(dir, f));
  const tokenizer = TOKENIZER_FILES.some(has);
  const adapter = has('adapter_config.json') && (has('adapter_model.safetensors') || has('adapter_model.bin'));
  let model = has('config.json') && has(MODEL_WEIGHTS);
  if (!model && has('config.json') && has(MODEL_WEIGHTS_INDEX)) {
    try {
      model = shardFiles(fs.readFileSync(path.join(dir, MODEL_WEIGHTS_INDEX), 'utf8'), MODEL_WEIGHTS_INDEX).every((s) => isSafeRepoPath(s) && has(s));
    } catch {
      model = false;
    }
  }
  return kind === 'tokenizer' ? tokenizer : kind === 'adapter' ? adapter : kind === 'model' ? model : adapter || model;
}

/** The cached snapshot of `revision` when it holds what `kind` needs, else null. */
export function cachedSnapshot(repoId: string, revision: string, kind: HubFileKind, cacheDir: string): HubSnapshot | null {
  const repoDir = repoFolder(cacheDir, repoId);
  const commit = cachedCommit(repoDir, revision);
  if (commit === null) return null;
  const dir = snapshotDir(repoDir, commit);
  return usable(dir, kind) ? { repoId, revision, commit, dir, downloaded: [] } : null;
}

/** fetch with the token, sent only to the Hub endpoint itself (never to a CDN or another host a link names). */
function authedFetch(env: HubEnv, base: typeof fetch): typeof fetch {
  const origin = new URL(env.endpoint).origin;
  return (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const headers = new Headers(init?.headers);
    headers.set('user-agent', 'softprompt; hf_hub-compatible cache');
    if (env.token !== undefined && new URL(url).origin === origin) headers.set('authorization', `Bearer ${env.token}`);
    return base(input, { ...init, headers });
  };
}

/** "fetch failed: ECONNREFUSED" rather than Node's bare "fetch failed"; "HTTP 503" for a Hub in trouble. */
function networkReason(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string }; statusCode?: unknown };
  if (typeof e.statusCode === 'number') return `HTTP ${e.statusCode}`;
  const cause = e.cause?.code ?? e.cause?.message;
  return cause !== undefined ? `${e.message}: ${cause}` : String(e.message ?? err);
}

function notCached(repoId: string, revision: string, env: HubEnv, why: string, hint: string): SoftpromptError {
  const repoDir = repoFolder(env.cacheDir, repoId);
  return new SoftpromptError('hub_unavailable', `${why}, and ${repoId} (revision ${revision}) is not in the Hugging Face cache ${repoDir}.`, { path: repoId, file: repoDir, hint });
}

const OFFLINE_HINT = 'unset HF_HUB_OFFLINE to download it, download it where there is internet (the cache folder can be copied; HF_HUB_CACHE points elsewhere), or pass a local folder.';
const NETWORK_HINT = 'real downloads need internet. Set HF_ENDPOINT for a mirror, copy a Hugging Face cache here (HF_HUB_CACHE), or pass a local folder.';

/** Make sure the cache holds `kind`'s files of `repoId` at `revision`; returns the snapshot. */
export async function fetchHubSnapshot(repoId: string, opts: HubResolveOptions): Promise<HubSnapshot> {
  const env = opts.env ?? hubEnv();
  const revision = opts.revision ?? DEFAULT_REVISION;
  checkRevision(revision);
  if (!isHubId(repoId)) {
    throw new SoftpromptError('usage', `${JSON.stringify(repoId)} is neither a path here nor a Hub id of the form org/name.`, { path: repoId });
  }
  const cached = (): HubSnapshot | null => cachedSnapshot(repoId, revision, opts.kind, env.cacheDir);
  if (env.offline) {
    const c = cached();
    if (c !== null) return c;
    throw notCached(repoId, revision, env, 'HF_HUB_OFFLINE is set (no network)', OFFLINE_HINT);
  }
  if (isCommitHash(revision)) { // a commit never changes: no need to ask
    const c = cached();
    if (c !== null) return c;
  }
  const { HubApiError, listFiles, modelInfo } = await import('@huggingface/hub'); // loaded only when the network is used (~150 ms)
  const f = authedFetch(env, opts.fetch ?? globalThis.fetch);
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  let commit: string;
  const entries = new Map<string, RemoteFile>();
  try {
    const info = await modelInfo({ name: repoId, revision, hubUrl: env.endpoint, fetch: f, additionalFields: ['sha'] });
    const sha = (info as { sha?: unknown }).sha;
    if (typeof sha !== 'string' || !isCommitHash(sha)) {
      throw new SoftpromptError('hub_unavailable', `The Hub's answer for ${repoId} at ${revision} names no commit (sha ${JSON.stringify(sha)}).`, { path: repoId });
    }
    commit = sha;
    for await (const e of listFiles({ repo: { type: 'model', name: repoId }, revision: commit, recursive: true, hubUrl: env.endpoint, fetch: f })) {
      if (e.type !== 'file' || !isSafeRepoPath(e.path)) continue;
      const etag = e.lfs?.oid ?? e.oid;
      if (etag === undefined) continue;
      entries.set(e.path, { path: e.path, size: e.lfs?.size ?? e.size, etag, lfs: e.lfs !== undefined });
    }
  } catch (err) {
    if (err instanceof SoftpromptError) throw err;
    // the Hub refusing (401, 403, 404) is an answer; no network, or the Hub failing (429, 5xx), falls back to the cache as huggingface_hub does
    const failing = err instanceof HubApiError && (err.statusCode === 429 || err.statusCode >= 500);
    if (err instanceof HubApiError && !failing) throw httpError(repoId, `revision ${revision}`, err.statusCode, env.token !== undefined);
    const c = cached();
    if (c !== null) {
      log(`note: the Hub at ${env.endpoint} could not be reached (${networkReason(err)}); using the cached ${repoId} (commit ${c.commit.slice(0, 12)}).`);
      return c;
    }
    if (err instanceof HubApiError) throw httpError(repoId, `revision ${revision}`, err.statusCode, env.token !== undefined);
    throw notCached(repoId, revision, env, `The Hub at ${env.endpoint} could not be reached (${networkReason(err)})`, NETWORK_HINT);
  }

  const repoDir = repoFolder(env.cacheDir, repoId);
  const listed = new Set(entries.keys());
  const files = selectFiles(repoId, commit, concreteKind(opts.kind, listed), listed);
  const progress = createByteProgress(repoId, env.progressBars ? (opts.progress === undefined ? process.stderr : opts.progress) : null);
  const downloaded: string[] = [];
  const fetchFile = async (name: string): Promise<string> => {
    const remote = entries.get(name);
    if (remote === undefined) {
      throw new SoftpromptError('malformed_file', `${repoId} (commit ${commit.slice(0, 12)}) names ${name}, which its file listing does not hold.`, { path: name });
    }
    const pointer = path.join(snapshotDir(repoDir, commit), name);
    if (hasFile(pointer)) return pointer;
    const blob = blobPath(repoDir, remote.etag);
    if (!hasFile(blob)) {
      const lock = await lockBlob(path.join(env.cacheDir, '.locks', path.basename(repoDir), `${remote.etag}.softprompt.lock`),
        () => log(`waiting for another process downloading ${repoId} ${name}…`));
      try {
        if (!hasFile(blob)) { // the other process may have finished it
          fs.mkdirSync(path.dirname(blob), { recursive: true });
          const url = `${env.endpoint}/${repoId}/resolve/${commit}/${name.split('/').map(encodeURIComponent).join('/')}`;
          const alive = { ...progress, add: (n: number) => { lock.refresh(); progress.add(n); } };
          await downloadBlob({ url, file: remote, blob, fetch: f, progress: alive, repoId }, {}, env.token !== undefined);
          downloaded.push(name);
        }
      } finally {
        lock.release();
      }
    }
    return linkSnapshotFile(repoDir, commit, name, blob);
  };
  for (const name of files) {
    const local = await fetchFile(name);
    if (name === MODEL_WEIGHTS_INDEX) {
      for (const shard of shardFiles(fs.readFileSync(local, 'utf8'), local)) {
        if (!isSafeRepoPath(shard)) throw new SoftpromptError('malformed_file', `Weights index ${local} names the shard ${JSON.stringify(shard)}, outside the repo.`, { file: local, path: 'weight_map' });
        await fetchFile(shard);
      }
    }
  }
  writeRef(repoDir, revision, commit);
  return { repoId, revision, commit, dir: snapshotDir(repoDir, commit), downloaded };
}
