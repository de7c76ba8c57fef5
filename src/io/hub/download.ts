/**
 * One file from the Hub into blobs/<etag>: streamed into blobs/<etag>.incomplete (the name huggingface_hub uses, so
 * either can resume the other's partial file), continued with "Range: bytes=<have>-" when a partial file is there,
 * then checked (size, and the hash the Hub's listing gives: sha256 for LFS files, git's blob sha1 for others)
 * before it is renamed into place. A wrong hash deletes the partial file: nothing unchecked ever becomes a blob.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { SoftpromptError } from '../../errors.js';
import type { ByteProgress } from './progress.js';

export interface RemoteFile {
  /** path in the repo, e.g. "model.safetensors" */
  path: string;
  size: number;
  /** sha256 (LFS files) or git blob sha1 (others): the blob's name and its checksum */
  etag: string;
  lfs: boolean;
}

export interface DownloadRequest {
  url: string;
  file: RemoteFile;
  /** where the checked file goes (blobs/<etag>) */
  blob: string;
  fetch: typeof fetch;
  progress: ByteProgress;
  /** "google/flan-t5-small", for messages */
  repoId: string;
}

/** sha256 of the bytes, or git's object id: sha1("blob <size>\0" + bytes). */
function fileHash(f: RemoteFile): crypto.Hash {
  if (f.lfs || f.etag.length === 64) return crypto.createHash('sha256');
  return crypto.createHash('sha1').update(`blob ${f.size}\0`);
}

function hashPrefix(hash: crypto.Hash, file: string, length: number): void {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let pos = 0; pos < length;) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, length - pos), pos);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

export function httpError(repoId: string, what: string, status: number, tokenSet: boolean): SoftpromptError {
  const hint = status === 401 ? (tokenSet ? 'HF_TOKEN was refused: check that it is valid and has read access to this repo.' : 'private or gated repos need a token: set HF_TOKEN (a read token from https://huggingface.co/settings/tokens).')
    : status === 403 ? 'the token has no access: for a gated model, accept its conditions on the Hub first.'
      : status === 404 ? 'check the repo id and --revision (the Hub answers 404 for private repos to requests without a token).'
        : 'try again later; a local folder can be given instead of the Hub id.';
  return new SoftpromptError('hub_unavailable', `The Hub answered ${status} for ${repoId}: ${what}.`, { path: repoId, hint });
}

/** Download `req.file` to `req.blob`, resuming a partial download; throws leaving only a resumable partial file. */
export async function downloadBlob(req: DownloadRequest, headers: Record<string, string>, tokenSet: boolean): Promise<void> {
  const { file } = req;
  const part = `${req.blob}.incomplete`;
  let have = fs.statSync(part, { throwIfNoEntry: false })?.size ?? 0;
  if (have > file.size) {
    fs.truncateSync(part, 0);
    have = 0;
  }
  let hash = fileHash(file);
  if (have > 0) hashPrefix(hash, part, have);
  req.progress.start(file.path, file.size, have);
  try {
    if (have < file.size) {
      const res = await req.fetch(req.url, { headers: have > 0 ? { ...headers, Range: `bytes=${have}-` } : headers, redirect: 'follow' });
      if (res.status === 206) {
        const start = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1];
        if (start === undefined || Number(start) !== have) {
          await res.body?.cancel();
          throw new SoftpromptError('hub_unavailable', `The Hub answered a resume request for ${req.repoId} ${file.path} from byte ${have} with ${JSON.stringify(res.headers.get('content-range'))}.`, { path: file.path });
        }
      } else if (res.ok) {
        if (have > 0) { // the server ignored Range: start over
          fs.truncateSync(part, 0);
          have = 0;
          hash = fileHash(file);
          req.progress.start(file.path, file.size, 0);
        }
      } else {
        await res.body?.cancel();
        throw httpError(req.repoId, file.path, res.status, tokenSet);
      }
      if (res.body === null) throw new SoftpromptError('hub_unavailable', `The Hub sent no content for ${req.repoId} ${file.path}.`, { path: file.path });
      const fd = fs.openSync(part, 'a');
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          if (have + chunk.length > file.size) {
            throw new SoftpromptError('malformed_file', `${req.repoId} ${file.path} is longer than the ${file.size} bytes the Hub listed; refusing it.`, { path: file.path });
          }
          fs.writeSync(fd, chunk);
          hash.update(chunk);
          have += chunk.length;
          req.progress.add(chunk.length);
        }
      } catch (err) {
        if (err instanceof SoftpromptError) {
          fs.rmSync(part, { force: true });
          throw err;
        }
        throw new SoftpromptError('hub_unavailable', `The download of ${req.repoId} ${file.path} stopped at byte ${have} of ${file.size} (${(err as Error).message}); ${part} is kept.`, {
          path: file.path, hint: 'run the same command again: the download resumes where it stopped.', cause: err,
        });
      } finally {
        fs.closeSync(fd);
      }
    }
  } finally {
    req.progress.stop();
  }
  if (have !== file.size) {
    throw new SoftpromptError('hub_unavailable', `The download of ${req.repoId} ${file.path} ended at byte ${have} of ${file.size}; ${part} is kept.`, {
      path: file.path, hint: 'run the same command again: the download resumes where it stopped.',
    });
  }
  const got = hash.digest('hex');
  if (got !== file.etag) {
    fs.rmSync(part, { force: true });
    throw new SoftpromptError('malformed_file', `${req.repoId} ${file.path} failed its checksum: the Hub lists ${file.lfs ? 'sha256' : 'git sha1'} ${file.etag}, the downloaded bytes hash to ${got}. The file was deleted.`, {
      path: file.path, hint: 'run the command again; if it fails the same way, the Hub copy or a proxy on the way is at fault.',
    });
  }
  fs.renameSync(part, req.blob);
}
