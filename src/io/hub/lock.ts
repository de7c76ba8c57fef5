/**
 * One download of a blob at a time, across processes (sweep workers on one machine starting with the same
 * --model id): a lock file created with O_EXCL holding "<host> <pid>", its mtime refreshed while the download runs.
 * A lock is stale when its process is gone (same host) or it has not been refreshed for STALE_MS (any host, e.g.
 * a cache on a shared disk). Python's huggingface_hub locks with flock on .locks/<repo>/<etag>.lock, which Node
 * cannot take; this lock sits beside it under its own name.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const STALE_MS = 60_000;
const POLL_MS = 200;

export interface BlobLock {
  /** mark the holder alive (call during long downloads) */
  refresh(): void;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function stale(file: string): boolean {
  let text: string;
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return false; // released meanwhile: the next attempt takes it
  }
  const [host, pid] = text.trim().split(' ');
  if (host === os.hostname() && pid !== undefined && /^\d+$/.test(pid) && Number(pid) !== process.pid && !alive(Number(pid))) return true;
  return Date.now() - st.mtimeMs > STALE_MS;
}

/** Wait for and take the lock `file`; `onWait` is called once if another process holds it. */
export async function lockBlob(file: string, onWait: () => void = () => {}): Promise<BlobLock> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let waited = false;
  for (;;) {
    try {
      fs.writeFileSync(file, `${os.hostname()} ${process.pid}`, { flag: 'wx' });
      let last = Date.now();
      return {
        refresh() {
          const now = Date.now();
          if (now - last < 1000) return;
          last = now;
          try { fs.utimesSync(file, now / 1000, now / 1000); } catch { /* removed as stale by another: finish anyway */ }
        },
        release() { fs.rmSync(file, { force: true }); },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (stale(file)) {
      fs.rmSync(file, { force: true });
      continue;
    }
    if (!waited) onWait();
    waited = true;
    await new Promise((ok) => setTimeout(ok, POLL_MS));
  }
}
