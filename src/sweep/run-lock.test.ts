import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { LOCK_FILE, RunLock, StaleWatch } from './run-lock.js';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-lock-'));
}

function writeForeign(dir: string, owner: Record<string, unknown>): void {
  fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ token: 'foreign', beat: 0, since: '', ...owner }));
}

test('one holder at a time; released locks can be taken again', () => {
  const dir = tmpDir();
  const watch = new StaleWatch(60_000);
  const a = RunLock.acquire(dir, watch);
  assert.ok(a instanceof RunLock);
  const b = RunLock.acquire(dir, watch);
  assert.ok(!(b instanceof RunLock));
  assert.equal(b.heldBy?.pid, process.pid);
  assert.ok(a.beat() && a.held());
  a.release();
  assert.ok(!fs.existsSync(path.join(dir, LOCK_FILE)));
  assert.ok(RunLock.acquire(dir, watch) instanceof RunLock);
});

test('a lock of a dead process on this host is stale at once', () => {
  const dir = tmpDir();
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  writeForeign(dir, { host: os.hostname(), pid: Number(child.stdout) });
  const lock = RunLock.acquire(dir, new StaleWatch(60_000));
  assert.ok(lock instanceof RunLock, 'taken over');
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')).pid, process.pid);
});

test('another host\'s lock goes stale only after its heartbeat stood still for staleMs of our own observation', () => {
  const dir = tmpDir();
  let now = 0;
  const watch = new StaleWatch(1000, () => now);
  writeForeign(dir, { host: 'elsewhere', pid: 1, beat: 1 });
  assert.ok(!(RunLock.acquire(dir, watch) instanceof RunLock), 'first sight: fresh');
  now = 900;
  assert.ok(!(RunLock.acquire(dir, watch) instanceof RunLock));
  writeForeign(dir, { host: 'elsewhere', pid: 1, beat: 2 }); // it beat: the clock starts again
  now = 1500;
  assert.ok(!(RunLock.acquire(dir, watch) instanceof RunLock));
  now = 2400;
  assert.ok(!(RunLock.acquire(dir, watch) instanceof RunLock));
  now = 2500;
  const taken = RunLock.acquire(dir, watch);
  assert.ok(taken instanceof RunLock, 'stood still for 1000 ms');
});

test('a holder whose lock was taken over learns it at its next heartbeat', () => {
  const dir = tmpDir();
  const lock = RunLock.acquire(dir, new StaleWatch(60_000));
  assert.ok(lock instanceof RunLock);
  writeForeign(dir, { host: 'elsewhere', pid: 1 });
  assert.equal(lock.beat(), false);
  lock.release();
  assert.ok(fs.existsSync(path.join(dir, LOCK_FILE)), 'release leaves a lock that is not ours alone');
});
