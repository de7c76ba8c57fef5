/**
 * One trainer per run folder, whoever started it: `<runDir>/.sweep-lock` holds its owner (host, pid, token) and a
 * heartbeat counter the owner bumps every few seconds. BullMQ's own lock guards the job in Redis; this one guards
 * the folder on the shared disk, which is what matters when Redis forgot a job (restarted without persistence)
 * and it was enqueued again while a worker still trains it.
 *
 * A lock is stale when its owner is a dead process on this host, or when its heartbeat has not moved for
 * `staleMs` as seen by this process (no clock comparison between machines). Creation uses O_EXCL; taking over a
 * stale lock renames it away first, so of two takers only one succeeds.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const LOCK_FILE = '.sweep-lock';

export interface LockOwner {
  host: string;
  pid: number;
  token: string;
  beat: number;
  since: string;
}

/** Remembers when each foreign lock's heartbeat was first seen unchanged (per process). */
export class StaleWatch {
  private readonly seen = new Map<string, { text: string; at: number }>();
  constructor(readonly staleMs: number, private readonly now: () => number = () => Date.now()) {}

  isStale(file: string, text: string, owner: LockOwner | null): boolean {
    if (owner !== null && owner.host === os.hostname() && !processAlive(owner.pid)) return true;
    const prev = this.seen.get(file);
    const t = this.now();
    if (prev === undefined || prev.text !== text) {
      this.seen.set(file, { text, at: t });
      return false;
    }
    return t - prev.at >= this.staleMs;
  }
}

export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseOwner(text: string): LockOwner | null {
  try {
    const o = JSON.parse(text) as LockOwner;
    return typeof o.host === 'string' && typeof o.pid === 'number' && typeof o.token === 'string' ? o : null;
  } catch {
    return null;
  }
}

export function readLock(runDir: string): LockOwner | null {
  try {
    return parseOwner(fs.readFileSync(path.join(runDir, LOCK_FILE), 'utf8'));
  } catch {
    return null;
  }
}

export class RunLock {
  private beats = 0;
  private constructor(readonly file: string, readonly owner: LockOwner) {}

  /** The lock, or who holds it. */
  static acquire(runDir: string, watch: StaleWatch): RunLock | { heldBy: LockOwner | null } {
    fs.mkdirSync(runDir, { recursive: true });
    const file = path.join(runDir, LOCK_FILE);
    const owner: LockOwner = { host: os.hostname(), pid: process.pid, token: randomBytes(8).toString('hex'), beat: 0, since: new Date().toISOString() };
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = fs.openSync(file, 'wx');
        try {
          fs.writeSync(fd, JSON.stringify(owner));
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        return new RunLock(file, owner);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        continue; // released meanwhile: try again
      }
      const held = parseOwner(text);
      if (!watch.isStale(file, text, held)) return { heldBy: held };
      try {
        const aside = `${file}.stale-${owner.token}`;
        fs.renameSync(file, aside);
        fs.rmSync(aside, { force: true });
      } catch {
        return { heldBy: held }; // another process took it over first
      }
    }
    return { heldBy: readLock(runDir) };
  }

  /** Bump the heartbeat; false when the lock is no longer ours (taken over as stale). */
  beat(): boolean {
    if (!this.held()) return false;
    this.beats++;
    const tmp = `${this.file}.beat-${this.owner.token}`;
    fs.writeFileSync(tmp, JSON.stringify({ ...this.owner, beat: this.beats }));
    fs.renameSync(tmp, this.file);
    return true;
  }

  held(): boolean {
    try {
      return parseOwner(fs.readFileSync(this.file, 'utf8'))?.token === this.owner.token;
    } catch {
      return false;
    }
  }

  release(): void {
    if (this.held()) fs.rmSync(this.file, { force: true });
  }
}
