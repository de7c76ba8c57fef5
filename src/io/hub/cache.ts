/**
 * The cache layout of Python's huggingface_hub (docs: "Understand caching"), so a folder Python downloaded is used
 * here with no network and Python reuses what softprompt downloaded:
 *
 *   <cacheDir>/models--<org>--<name>/
 *     refs/<revision>                 the commit a branch or tag pointed to when last resolved (no newline)
 *     blobs/<etag>                    file contents: etag = sha256 of an LFS file, git blob sha1 of any other
 *     blobs/<etag>.incomplete         a download in progress (resumed with a Range request)
 *     snapshots/<commit>/<file>       relative symlink to ../../blobs/<etag> (one more ../ per subfolder)
 */
import fs from 'node:fs';
import path from 'node:path';
import { SoftpromptError } from '../../errors.js';

const COMMIT = /^[0-9a-f]{40}$/;
/** git sha1 (40) or sha256 (64): the only names a blob may have (they become file names) */
const ETAG = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
/** huggingface_hub's validate_repo_id, restricted to the org/name form (a bare name stays a local path) */
const REPO_ID = /^[\w.-]+\/[\w.-]+$/;

export function isCommitHash(revision: string): boolean {
  return COMMIT.test(revision);
}

export function isEtag(etag: string): boolean {
  return ETAG.test(etag);
}

/** "google/flan-t5-small": the shape of a Hub model id (checked only when no local path of that name exists). */
export function isHubId(s: string): boolean {
  return s.length <= 96 && REPO_ID.test(s) && !s.includes('--') && !s.includes('..') && !s.startsWith('.') && !s.endsWith('.git');
}

/** A branch, tag or commit usable as a path under refs/ (branches may hold "/"; ".." never). */
export function checkRevision(revision: string): void {
  const parts = revision.split('/');
  if (revision === '' || revision.length > 255 || parts.some((p) => p === '' || p === '.' || p === '..') || /[\\\0]/.test(revision)) {
    throw new SoftpromptError('usage', `--revision ${JSON.stringify(revision)} is not a branch, tag or commit name.`, { path: '--revision', hint: 'e.g. --revision main, --revision v1.0, or a 40-character commit hash.' });
  }
}

/** A repo file path (from the Hub's listing or a weights index) that stays inside the snapshot folder. */
export function isSafeRepoPath(p: string): boolean {
  return p !== '' && p.length <= 1024 && !path.isAbsolute(p) && !/[\\\0]/.test(p) && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

export function repoFolder(cacheDir: string, repoId: string): string {
  return path.join(cacheDir, `models--${repoId.split('/').join('--')}`);
}

export function snapshotDir(repoDir: string, commit: string): string {
  return path.join(repoDir, 'snapshots', commit);
}

export function blobPath(repoDir: string, etag: string): string {
  if (!isEtag(etag)) throw new SoftpromptError('malformed_file', `The Hub gave ${JSON.stringify(etag)} as a file hash; expected 40 or 64 hex digits.`, { file: repoDir });
  return path.join(repoDir, 'blobs', etag);
}

/** The commit `revision` resolves to in the cache (refs/<revision>), or the revision itself when it is a commit. */
export function cachedCommit(repoDir: string, revision: string): string | null {
  if (isCommitHash(revision)) return revision;
  let text: string;
  try {
    text = fs.readFileSync(path.join(repoDir, 'refs', revision), 'utf8').trim();
  } catch {
    return null;
  }
  return isCommitHash(text) ? text : null;
}

export function writeRef(repoDir: string, revision: string, commit: string): void {
  if (revision === commit) return;
  const file = path.join(repoDir, 'refs', revision);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, commit); // no newline, as huggingface_hub writes it
  fs.renameSync(tmp, file);
}

/** Make snapshots/<commit>/<file> a relative symlink to the blob (replacing a broken link). */
export function linkSnapshotFile(repoDir: string, commit: string, file: string, blob: string): string {
  const pointer = path.join(snapshotDir(repoDir, commit), file);
  fs.mkdirSync(path.dirname(pointer), { recursive: true });
  fs.rmSync(pointer, { force: true });
  try {
    fs.symlinkSync(path.relative(path.dirname(pointer), blob), pointer);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !hasFile(pointer)) throw err; // another process linked it
  }
  return pointer;
}

/** A file is there when the path, followed through its symlink, is a regular file. */
export function hasFile(file: string): boolean {
  return fs.statSync(file, { throwIfNoEntry: false })?.isFile() === true;
}

/**
 * The real path a symlink inside a Hub cache snapshot leads to, when it leads into the blobs/ folder of the same
 * cache repo (the only links the cache makes); null for any other file or link. Readers of untrusted folders
 * (adapter folders refuse symlinks) accept exactly these.
 */
export function hubCacheBlobTarget(file: string): string | null {
  const abs = path.resolve(file);
  let dir = path.dirname(abs);
  for (;;) {
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    if (path.basename(parent) === 'snapshots' && isCommitHash(path.basename(dir))) break;
    dir = parent;
  }
  const repo = path.dirname(path.dirname(dir));
  if (!/^models--./.test(path.basename(repo))) return null;
  if (fs.lstatSync(path.join(repo, 'blobs'), { throwIfNoEntry: false })?.isDirectory() !== true) return null; // a real folder, not a link elsewhere
  try {
    const real = fs.realpathSync(abs);
    const blobs = fs.realpathSync(path.join(repo, 'blobs'));
    return path.dirname(real) === blobs && isEtag(path.basename(real)) ? real : null;
  } catch {
    return null;
  }
}

/** "google/flan-t5-small" for a folder inside a cached snapshot (the name a model card should show), else null. */
export function hubIdOfPath(p: string): string | null {
  const parts = path.resolve(p).split(path.sep);
  const i = parts.lastIndexOf('snapshots');
  if (i < 1 || i + 1 >= parts.length || !isCommitHash(parts[i + 1]!)) return null;
  const m = /^models--([\w.-]+)--([\w.-]+)$/.exec(parts[i - 1]!);
  return m === null ? null : `${m[1]}/${m[2]}`;
}
