/**
 * `softprompt sweep --queue` and `softprompt worker` against a real Redis (Debian's redis-server, started here on
 * a free loopback port and stopped at the end), with workers as child processes:
 *
 *   - a 6-job sweep over 2 workers ends with the same table and the same trained adapters as the local run
 *   - a worker SIGKILLed mid-job: the job stalls, the other worker resumes it from its checkpoint, it completes
 *     once, and ends exactly where an uninterrupted run does
 *   - Redis stopped mid-sweep: a clear error, and the sweep finishes once Redis is back (even though the restarted
 *     Redis lost every job: the sweep re-enqueues them and finished runs are not trained again)
 *
 * Run with `npm run test:sweep` (also in .ci/run). Skips, saying why, only where redis-server is not installed.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import { parseTrainConfig } from '../../src/train/config.js';
import { trainRun } from '../../src/train/run.js';
import type { SweepResults } from '../../src/sweep/results.js';
import { assertSameTraining, checkpointAtLeast, cli, cliAsync, cliChild, resumeEvents, stepLog, tinyBase, waitFor, writeSweep } from '../sweep-helpers.js';

function findRedisServer(): string | null {
  const dirs = [...(process.env['PATH'] ?? '').split(path.delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  for (const d of dirs) {
    const p = path.join(d, 'redis-server');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.setTimeout(500, () => { s.destroy(); resolve(false); });
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => { got += d.toString(); if (got.includes('PONG')) { s.destroy(); resolve(true); } });
    s.on('error', () => resolve(false));
  });
}

class RedisServer {
  proc: ChildProcess | null = null;
  constructor(readonly bin: string, readonly port: number) {}
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    // no persistence: a restart loses every job, the harshest case for the sweep
    this.proc = spawn(this.bin, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!(await ping(this.port))) {
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${this.port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  async stop(): Promise<void> {
    const p = this.proc;
    if (p === null || p.exitCode !== null) return;
    this.proc = null;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
  }
}

interface WorkerProc { child: ChildProcess; out: () => string; done: Promise<number | null>; name: string }

const REDIS = findRedisServer();
const children: ChildProcess[] = [];
let tmp = '';

function startWorker(url: string, queueName: string): WorkerProc {
  const w = cliChild(tmp, ['worker', '--queue', url, '--queue-name', queueName, '--lock-seconds', '2', '--stalled-seconds', '1', '--busy-retry-seconds', '1', '--stale-seconds', '10']);
  children.push(w.child);
  return { ...w, name: `${os.hostname()}:${w.child.pid}` };
}

async function stopWorkers(ws: WorkerProc[]): Promise<void> {
  for (const w of ws) if (w.child.exitCode === null) w.child.kill('SIGTERM');
  await Promise.all(ws.map((w) => w.done));
}

const results = (out: string): SweepResults => JSON.parse(fs.readFileSync(path.join(out, 'sweep.json'), 'utf8')) as SweepResults;
const count = (text: string, re: RegExp): number => (text.match(new RegExp(re.source, 'g')) ?? []).length;

describe('sweep over BullMQ workers with a real Redis', { skip: REDIS === null ? 'redis-server not found (apt-get install redis-server); the queue tests need a real Redis' : false }, () => {
  let redis: RedisServer;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-sweep-queue-'));
    redis = new RedisServer(REDIS!, await freePort());
    await redis.start();
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await redis?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('6 jobs over 2 workers: the same table and the same adapters as the local run, each job trained once', async () => {
    const grid = { lr: [0.3, 0.5, 0.7], lrLowrank: [1e-4, 5e-3] };
    const local = writeSweep(tmp, 'six-local', { name: 'six', output: 'six-local', base: tinyBase(), grid });
    const queued = writeSweep(tmp, 'six-queued', { name: 'six', output: 'six-queued', base: tinyBase(), grid });
    const l = cli(tmp, ['sweep', '--config', local]);
    assert.equal(l.status, 0, l.stderr);

    const workers = [startWorker(redis.url, 'six'), startWorker(redis.url, 'six')];
    // async: the workers' output pipes are drained meanwhile
    const q = await cliAsync(tmp, ['sweep', '--config', queued, '--queue', redis.url, '--queue-name', 'six', '--poll-seconds', '0.3']);
    await stopWorkers(workers);
    assert.equal(q.status, 0, q.stderr + workers.map((w) => w.out()).join('\n'));

    const md = (dir: string): string => fs.readFileSync(path.join(tmp, dir, 'results.md'), 'utf8');
    assert.equal(md('six-queued'), md('six-local'));
    const rl = results(path.join(tmp, 'six-local')), rq = results(path.join(tmp, 'six-queued'));
    assert.deepEqual(rq.groups, rl.groups);
    assert.equal(rq.counts.done, 6);
    for (const job of rq.jobs) assertSameTraining(path.join(tmp, 'six-local', job.runDir), path.join(tmp, 'six-queued', job.runDir));
    const by = new Set(rq.jobs.map((j) => j.worker));
    assert.deepEqual([...by].sort(), workers.map((w) => w.name).sort(), 'both workers trained jobs');
    const logs = workers.map((w) => w.out()).join('\n');
    for (const job of rq.jobs) {
      assert.equal(count(logs, new RegExp(`${job.name.replace(/[.]/g, '\\.')}: done in`)), 1, `${job.name} trained once`);
      assert.deepEqual(resumeEvents(path.join(tmp, 'six-queued', job.runDir)), [], 'started fresh, never restarted');
    }
    const status = cli(tmp, ['sweep', 'status', path.join(tmp, 'six-queued'), '--queue', redis.url, '--queue-name', 'six']);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /6 jobs — 6 done/);
  });

  test('a worker killed with SIGKILL mid-job: the other worker resumes the job from its checkpoint and completes it once', async () => {
    const base = tinyBase({ steps: 45, evalEvery: 15, saveEvery: 3 });
    const file = writeSweep(tmp, 'kill', { output: 'kill', base, grid: { lr: [0.3] } });
    const runDir = path.join(tmp, 'kill', 'runs', 'lr=0.3');
    const workers = [startWorker(redis.url, 'kill'), startWorker(redis.url, 'kill')];
    const sweep = cliChild(tmp, ['sweep', '--config', file, '--queue', redis.url, '--queue-name', 'kill', '--poll-seconds', '0.3']);
    children.push(sweep.child);
    await waitFor('a checkpoint of step ≥ 6', () => checkpointAtLeast(runDir, 6), 120_000, 10);
    const holder = JSON.parse(fs.readFileSync(path.join(runDir, '.sweep-lock'), 'utf8')) as { pid: number };
    const victim = workers.find((w) => w.child.pid === holder.pid)!;
    const survivor = workers.find((w) => w !== victim)!;
    assert.ok(victim !== undefined, 'the run folder is locked by one of the workers');
    victim.child.kill('SIGKILL');
    await victim.done;
    assert.ok(!fs.existsSync(path.join(runDir, 'summary.json')), 'killed before the job finished');

    const code = await sweep.done;
    await stopWorkers([survivor]);
    assert.equal(code, 0, sweep.out() + survivor.out());

    const r = results(path.join(tmp, 'kill'));
    assert.equal(r.jobs[0]!.state, 'done');
    assert.equal(r.jobs[0]!.worker, survivor.name, 'completed on the surviving worker');
    const resumedAt = resumeEvents(runDir);
    assert.equal(resumedAt.length, 1, 'resumed exactly once');
    assert.ok(resumedAt[0]! >= 6, `resumed from its checkpoint (step ${resumedAt[0]})`);
    assert.match(survivor.out(), /job [0-9a-f]+ stalled/);
    assert.equal(count(survivor.out(), /lr=0\.3: done in [0-9.]+ s, resumed from step \d+/), 1);
    assert.equal(count(victim.out(), /lr=0\.3: done/), 0);

    const queue = new Queue('kill', { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      const job = await queue.getJob(r.jobs[0]!.id);
      assert.equal(await job!.getState(), 'completed');
      assert.equal(job!.attemptsStarted, 2, 'started by the killed worker, then once more by the survivor');
      assert.equal((job!.returnvalue as { worker: string }).worker, survivor.name);
      assert.equal((job!.progress as { step: number; steps: number }).steps, 45, 'the worker reported progress');
      assert.ok((job!.progress as { step: number }).step > resumedAt[0]!, 'progress after the resume');
    } finally {
      await queue.close();
    }
    // exactly where an uninterrupted run of the same config ends
    const reference = path.join(tmp, 'kill-reference');
    const cfg = JSON.parse(fs.readFileSync(path.join(runDir, 'run_config.json'), 'utf8')) as Record<string, unknown>;
    trainRun(parseTrainConfig({ ...cfg, output: reference, resume: false }), { log: () => undefined });
    assertSameTraining(reference, runDir);
  });

  test('Redis stopped mid-sweep: a clear error, then the sweep finishes when Redis is back; no job trained twice', async () => {
    const own = new RedisServer(REDIS!, await freePort());
    await own.start();
    try {
      const file = writeSweep(tmp, 'outage', { output: 'outage', base: tinyBase({ steps: 24, evalEvery: 12, saveEvery: 3 }), grid: { lr: [0.3, 0.5, 0.7] } });
      const out = path.join(tmp, 'outage');
      const workers = [startWorker(own.url, 'outage'), startWorker(own.url, 'outage')];
      const sweep = cliChild(tmp, ['sweep', '--config', file, '--queue', own.url, '--queue-name', 'outage', '--poll-seconds', '0.3']);
      children.push(sweep.child);
      await waitFor('a job to be training', () => fs.existsSync(path.join(out, 'runs')) && fs.readdirSync(path.join(out, 'runs')).some((d) => checkpointAtLeast(path.join(out, 'runs', d), 3)), 120_000, 10);
      await own.stop();
      await waitFor('the sweep to report Redis unreachable', () => /Redis at redis:\/\/127\.0\.0\.1:\d+ is unreachable \(ECONNREFUSED\)/.test(sweep.out()), 20_000);
      assert.equal(sweep.child.exitCode, null, 'the sweep waits for Redis');
      await new Promise((r) => setTimeout(r, 1500));
      await own.start();
      const code = await sweep.done;
      await stopWorkers(workers);
      assert.equal(code, 0, sweep.out() + workers.map((w) => w.out()).join('\n'));
      assert.match(sweep.out(), /is back; continuing/);
      assert.match(workers.map((w) => w.out()).join('\n'), /is unreachable \(ECONNREFUSED\)/);
      const r = results(out);
      assert.equal(r.counts.done, 3);
      for (const job of r.jobs) {
        const steps = stepLog(path.join(out, job.runDir)).map((l) => JSON.parse(l) as unknown[]).filter((rec) => rec[1] !== undefined && rec[1] !== null).map((rec) => rec[0]);
        assert.deepEqual(steps, Array.from({ length: 24 }, (_, i) => i + 1), `${job.name}: every step once`);
        assert.ok(resumeEvents(path.join(out, job.runDir)).length <= 1);
      }
    } finally {
      await own.stop();
    }
  });
});

