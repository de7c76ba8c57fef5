/**
 * Golden-fixture helpers: find fixture folders, read golden tensors, compare with the README's tolerance modes
 * and print every tensor's max difference (llm.c's test_gpt2.c style: "OK" / "NOT OK").
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { SafetensorsFile } from '../../src/io/safetensors.js';

/** The repo root: the nearest folder above this file holding package.json (works from src and from dist). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

export const FIXTURES = join(repoRoot(), 'test', 'fixtures');

export interface Fixture {
  name: string;
  dir: string;
  config: Record<string, unknown>;
  golden: SafetensorsFile;
  json: Record<string, unknown>;
}

/** Every folder under test/fixtures holding config.json, model.safetensors and golden.safetensors. */
export function goldenFixtures(modelType: string): Fixture[] {
  if (!existsSync(FIXTURES)) return [];
  const out: Fixture[] = [];
  for (const name of readdirSync(FIXTURES).sort()) {
    const dir = join(FIXTURES, name);
    const files = ['config.json', 'model.safetensors', 'golden.safetensors'];
    if (!files.every((f) => existsSync(join(dir, f)))) continue;
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    if (config['model_type'] !== modelType) continue;
    const jsonFile = join(dir, 'golden.json');
    const json = existsSync(jsonFile) ? JSON.parse(readFileSync(jsonFile, 'utf8')) as Record<string, unknown> : {};
    out.push({ name, dir, config, golden: SafetensorsFile.open(join(dir, 'golden.safetensors')), json });
  }
  return out;
}

export type Mode = { kind: 'abs'; atol: number; rtol: number } | { kind: 'rel_to_max'; atol: number } | { kind: 'exact' };

export const TOL = {
  exact: { kind: 'exact' } as Mode,
  embeds: { kind: 'abs', atol: 1e-5, rtol: 1e-5 } as Mode,
  hidden: { kind: 'abs', atol: 1e-4, rtol: 1e-4 } as Mode,
  logits: { kind: 'abs', atol: 1e-4, rtol: 1e-4 } as Mode,
  lse: { kind: 'abs', atol: 1e-4, rtol: 1e-5 } as Mode,
  grad: { kind: 'rel_to_max', atol: 1e-3 } as Mode,
  gather: { kind: 'abs', atol: 1e-7, rtol: 0 } as Mode,
};

/** Compare, print "name maxdiff OK|NOT OK", and assert. */
export function expectClose(name: string, got: ArrayLike<number>, want: ArrayLike<number>, mode: Mode): void {
  assert.equal(got.length, want.length, `${name}: length ${got.length}, golden has ${want.length}`);
  let maxDiff = 0, maxAbs = 0, worst = -1, ok = true;
  for (let i = 0; i < want.length; i++) maxAbs = Math.max(maxAbs, Math.abs(want[i]!));
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    let bad: boolean;
    if (mode.kind === 'exact') bad = got[i] !== want[i];
    else if (mode.kind === 'abs') bad = !(d <= mode.atol + mode.rtol * Math.abs(want[i]!));
    else bad = !(d <= mode.atol * maxAbs);
    if (!(d <= maxDiff)) { maxDiff = d; }
    if (bad && ok) { ok = false; worst = i; }
  }
  console.log(`  ${name.padEnd(36)} maxdiff ${maxDiff.toExponential(2)} (max|golden| ${maxAbs.toExponential(2)}) ${ok ? 'OK' : 'NOT OK'}`);
  assert.ok(ok, `${name}: element ${worst} is ${got[worst]}, golden ${want[worst]} (mode ${JSON.stringify(mode)}, maxdiff ${maxDiff})`);
}

export function f32(fx: Fixture, name: string): Float32Array {
  return fx.golden.getF32(name);
}

export function i32(fx: Fixture, name: string): Int32Array {
  return fx.golden.getI32(name);
}

export function shape(fx: Fixture, name: string): number[] {
  return fx.golden.info(name).shape;
}

/** Per row of logits (rows, V): argmax, top1 − top2, logsumexp, and the columns at `probe` ids if given. */
export function logitSummaries(logits: ArrayLike<number>, rows: number, V: number, probe?: Int32Array) {
  const argmax = new Int32Array(rows), gap = new Float32Array(rows), lse = new Float32Array(rows), max = new Float32Array(rows);
  const probed = new Float32Array(probe === undefined ? 0 : rows * probe.length);
  for (let r = 0; r < rows; r++) {
    let m1 = -Infinity, m2 = -Infinity, am = 0;
    for (let j = 0; j < V; j++) {
      const x = logits[r * V + j]!;
      if (x > m1) { m2 = m1; m1 = x; am = j; } else if (x > m2) m2 = x;
    }
    let s = 0;
    for (let j = 0; j < V; j++) s += Math.exp(logits[r * V + j]! - m1);
    argmax[r] = am; gap[r] = m1 - m2; lse[r] = m1 + Math.log(s); max[r] = m1;
    if (probe !== undefined) for (let k = 0; k < probe.length; k++) probed[r * probe.length + k] = logits[r * V + probe[k]!]!;
  }
  return { argmax, gap, lse, max, probe: probed };
}

/** A causal LM's shifted per-token NLL from golden logits (B, T, V), aligned with the labels: position t−1 predicts labels[t]. */
export function causalNllFromLogits(logits: Float32Array, labels: Int32Array, B: number, T: number, V: number): Float64Array {
  const { lse } = logitSummaries(logits, B * T, V);
  const nll = new Float64Array(B * T);
  for (let b = 0; b < B; b++)
    for (let t = 1; t < T; t++) {
      const y = labels[b * T + t]!;
      if (y !== -100) nll[b * T + t] = lse[b * T + t - 1]! - logits[(b * T + t - 1) * V + y]!;
    }
  return nll;
}

/** labels (B, T) with l leading −100s per row → (B, l+T), as PeftModelForCausalLM does. */
export function withPromptLabels(labels: Int32Array, B: number, T: number, l: number): Int32Array {
  const out = new Int32Array(B * (l + T)).fill(-100);
  for (let b = 0; b < B; b++) out.set(labels.subarray(b * T, (b + 1) * T), b * (l + T) + l);
  return out;
}
