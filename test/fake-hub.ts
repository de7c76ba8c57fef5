/**
 * A local imitation of the Hugging Face Hub endpoints softprompt (and huggingface_hub) use, on 127.0.0.1 with a
 * random port, for tests: the real Hub cannot be reached from CI.
 *
 *   GET  /api/models/{id}/revision/{rev}          {_id, id, sha, private, siblings: [{rfilename}]}
 *   GET  /api/models/{id}/tree/{rev}?recursive=…  [{type, path, size, oid, lfs?: {oid, size, pointerSize}}]
 *   GET|HEAD /{id}/resolve/{rev}/{path}          the bytes, with ETag, X-Repo-Commit, X-Linked-Size and
 *                                                X-Linked-Etag (LFS files), Accept-Ranges; "Range: bytes=N-" → 206
 *
 * With `lfsRedirect`, LFS files answer 302 to a second server (another origin, like the Hub's CDN) that serves the
 * bytes; its requests are logged in `cdnRequests` (a token must never reach it).
 *
 * As the Hub does: an unknown repo or a private one asked without its token → 401 (X-Error-Code: RepoNotFound), an
 * unknown revision → 404 (RevisionNotFound), a missing file → 404 (EntryNotFound). Faults for tests: `corrupt`
 * serves a file with one byte flipped (its listed hash unchanged), `cutAfter` drops the connection after n bytes
 * of the next full download of a file. Every request is logged in `requests`.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRepo {
  id: string;
  /** path → content */
  files: Record<string, Buffer>;
  /** paths stored with Git LFS (their etag is the sha256; others: git blob sha1) */
  lfs: readonly string[];
  /** branches and tags → commit; "main" is required */
  refs: Record<string, string>;
  /** a private repo answers only requests with "Authorization: Bearer <token>" */
  token?: string;
}

export interface FakeHubRequest {
  method: string;
  url: string;
  range: string | undefined;
  authorization: string | undefined;
}

export interface FakeHub {
  url: string;
  requests: FakeHubRequest[];
  cdnRequests: FakeHubRequest[];
  corrupt: Set<string>;
  /** "<id>/<path>" → bytes sent before the connection is dropped (once) */
  cutAfter: Map<string, number>;
  /** set: every API call answers this status (a Hub in trouble: 429, 503) */
  failApi: number | null;
  close(): Promise<void>;
}

export function gitBlobSha1(content: Buffer): string {
  return crypto.createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

export function sha256(content: Buffer): string {
  return crypto.createHash('sha256').update(content).digest('hex');
}

/** A stable fake commit hash for a repo id and a label. */
export function fakeCommit(label: string): string {
  return crypto.createHash('sha1').update(label).digest('hex');
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function logged(req: http.IncomingMessage): FakeHubRequest {
  return { method: req.method ?? '', url: req.url ?? '', range: req.headers.range, authorization: req.headers.authorization };
}

export async function startFakeHub(repos: readonly FakeRepo[], opts: { lfsRedirect?: boolean } = {}): Promise<FakeHub> {
  const byId = new Map(repos.map((r) => [r.id, r]));
  const requests: FakeHubRequest[] = [];
  const cdnRequests: FakeHubRequest[] = [];
  const corrupt = new Set<string>();
  const cutAfter = new Map<string, number>();
  const hub = { failApi: null } as FakeHub;

  /** the bytes of `key` ("<id>/<path>"), with Range support and the test faults */
  const serveBytes = (req: http.IncomingMessage, res: http.ServerResponse, content: Buffer, key: string, headers: Record<string, string>): void => {
    let body = content;
    if (corrupt.has(key)) {
      body = Buffer.from(body);
      body[body.length >> 1] ^= 0xff;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let status = 200;
    const h: Record<string, string> = { ...headers, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
    if (range !== null) {
      const start = Number(range[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` });
        res.end();
        return;
      }
      h['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
      body = body.subarray(start);
      status = 206;
    }
    h['content-length'] = String(body.length);
    res.writeHead(status, h);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const cut = cutAfter.get(key);
    if (cut !== undefined && range === null) {
      cutAfter.delete(key);
      res.write(body.subarray(0, cut), () => setTimeout(() => res.destroy(), 20));
      return;
    }
    res.end(body);
  };

  const blobs = new Map<string, { content: Buffer; key: string }>(); // CDN: etag → bytes
  const cdn = http.createServer((req, res) => {
    cdnRequests.push(logged(req));
    const b = blobs.get((req.url ?? '').slice(1));
    if (b === undefined) return send(res, 404, { error: 'no such blob' });
    serveBytes(req, res, b.content, b.key, {});
  });
  // another host name (Linux routes all of 127/8 to loopback), so clients see another origin, as for the Hub's CDN
  if (opts.lfsRedirect === true) await new Promise<void>((ok) => cdn.listen(0, '127.0.0.2', ok));

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(logged(req));
    const p = decodeURIComponent(url.pathname);
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree)\/(.+)$/.exec(p);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(p);
    const m = api ?? resolve;
    if (m === null) return send(res, 404, { error: 'Not found' });
    if (api !== null && hub.failApi !== null) return send(res, hub.failApi, { error: 'Service unavailable' });
    const repo = byId.get(m[1]!);
    if (repo === undefined || (repo.token !== undefined && req.headers.authorization !== `Bearer ${repo.token}`)) {
      return send(res, 401, { error: 'Repository not found' }, { 'x-error-code': 'RepoNotFound' });
    }
    const rev = api !== null ? api[3]! : resolve![2]!;
    const commit = repo.refs[rev] ?? (Object.values(repo.refs).includes(rev) ? rev : undefined);
    if (commit === undefined) return send(res, 404, { error: `Invalid rev id: ${rev}` }, { 'x-error-code': 'RevisionNotFound' });
    const entry = (path: string) => {
      const content = repo.files[path]!;
      const lfs = repo.lfs.includes(path);
      return { content, lfs, etag: lfs ? sha256(content) : gitBlobSha1(content) };
    };
    if (api !== null && api[2] === 'revision') {
      return send(res, 200, { _id: fakeCommit(repo.id).slice(0, 24), id: repo.id, modelId: repo.id, sha: commit, private: repo.token !== undefined, siblings: Object.keys(repo.files).map((rfilename) => ({ rfilename })) });
    }
    if (api !== null) {
      return send(res, 200, Object.keys(repo.files).sort().map((path) => {
        const e = entry(path);
        return { type: 'file', path, size: e.content.length, oid: e.lfs ? gitBlobSha1(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${e.etag}\nsize ${e.content.length}\n`)) : e.etag, ...(e.lfs ? { lfs: { oid: e.etag, size: e.content.length, pointerSize: 134 } } : {}) };
      }));
    }
    const file = resolve![3]!;
    if (!(file in repo.files)) return send(res, 404, { error: 'Entry not found' }, { 'x-error-code': 'EntryNotFound' });
    const e = entry(file);
    const headers: Record<string, string> = { 'x-repo-commit': commit, etag: `"${e.etag}"` };
    if (e.lfs) Object.assign(headers, { 'x-linked-etag': `"${e.etag}"`, 'x-linked-size': String(e.content.length) });
    if (e.lfs && opts.lfsRedirect === true) {
      blobs.set(e.etag, { content: e.content, key: `${repo.id}/${file}` });
      res.writeHead(302, { ...headers, location: `http://127.0.0.2:${(cdn.address() as AddressInfo).port}/${e.etag}`, 'content-length': '0' });
      return res.end();
    }
    serveBytes(req, res, e.content, `${repo.id}/${file}`, headers);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  Object.assign(hub, {
    url: `http://127.0.0.1:${port}`,
    requests, cdnRequests, corrupt, cutAfter,
    close: async () => {
      for (const srv of opts.lfsRedirect === true ? [server, cdn] : [server]) {
        srv.closeAllConnections();
        await new Promise<void>((ok) => srv.close(() => ok()));
      }
    },
  });
  return hub;
}
