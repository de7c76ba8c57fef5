/** Shared by the sweep tests: a tiny sweep file, the CLI as a child process, and run-folder comparisons. */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SoftpromptError } from '../src/errors.js';
import { readMetrics } from '../src/train/metrics-log.js';
import { fixture, repoRoot } from './paths.js';

export const BIN = path.join(repoRoot(), 'bin', 'softprompt.js');

/** Train options of a job that takes a second or two on the bundled random t5-tiny and SST-2 slice. */
export function tinyBase(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: fixture('t5-tiny'), tokenizer: fixture('tokenizers', 't5'), task: 'sst2',
    steps: 12, batchSize: 4, evalEvery: 6, saveEvery: 3, maxEvalExamples: 16, maxTrainExamples: 64, warmupSteps: 0,
    promptLength: 4, budget: 6, maxLength: 48, evalMode: 'rank', evalBatchSize: 16, threads: 1, ...extra,
  };
}

export function writeSweep(dir: string, name: string, spec: Record<string, unknown>): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(spec, null, 2));
  return file;
}

export interface CliRun { status: number | null; stdout: string; stderr: string }

export function cli(cwd: string, args: string[], timeoutMs = 120_000): CliRun {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `cli` without blocking, so several short commands can run at once. */
export function cliAsync(cwd: string, args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** A CLI child whose output is collected; `done` resolves with its exit. */
export function cliChild(cwd: string, args: string[]): { child: ChildProcess; out: () => string; done: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => { text += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { text += d.toString(); });
  const done = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal !== null ? -1 : null))));
  return { child, out: () => text, done };
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 60_000, everyMs = 50): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The per-step log without events (resume markers): [step, loss, eval] per line. */
export function stepLog(runDir: string): string[] {
  return readMetrics(path.join(runDir, 'metrics.jsonl')).filter((r) => r['event'] === undefined)
    .map((r) => JSON.stringify([r.step, r.loss, r['eval']]));
}

/** Two run folders trained the same: identical adapter weights, per-step losses and evaluations, metrics. */
export function assertSameTraining(a: string, b: string): void {
  assert.deepEqual(fs.readFileSync(path.join(b, 'adapter', 'adapter_model.safetensors')), fs.readFileSync(path.join(a, 'adapter', 'adapter_model.safetensors')), `adapter weights of ${b} differ from ${a}`);
  assert.deepEqual(stepLog(b), stepLog(a));
  const sa = JSON.parse(fs.readFileSync(path.join(a, 'summary.json'), 'utf8')) as Record<string, unknown>;
  const sb = JSON.parse(fs.readFileSync(path.join(b, 'summary.json'), 'utf8')) as Record<string, unknown>;
  for (const k of ['bestValidation', 'test', 'lastLoss']) assert.deepEqual(sb[k], sa[k], `${k} of ${b}`);
}

export function resumeEvents(runDir: string): number[] {
  return readMetrics(path.join(runDir, 'metrics.jsonl')).filter((r) => r['event'] === 'resume').map((r) => r.step);
}

/** Like expectError, for a promise. */
export async function expectErrorAsync(fn: () => Promise<unknown>, code: string, ...mustMention: string[]): Promise<void> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof SoftpromptError, `expected a SoftpromptError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const s of mustMention) assert.ok(caught.message.includes(s), `message should mention ${JSON.stringify(s)}: ${caught.message}`);
}

/** Whether the run folder holds a checkpoint of step ≥ `step` (older ones are rotated away, so any will do). */
export function checkpointAtLeast(runDir: string, step: number): boolean {
  try {
    return fs.readdirSync(runDir).some((n) => /^checkpoint-(\d+)$/.test(n) && Number(n.slice('checkpoint-'.length)) >= step);
  } catch {
    return false;
  }
}
