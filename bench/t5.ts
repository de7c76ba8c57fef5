/**
 * `npm run bench -- t5 [--config t5-base] [--batch 8] [--seq 256] [--reps 3] [--threads N] [--method pt|dept|both]
 *   [--precision fp32|bf16] [--saved-activations fp32|bf16]`
 * One prompt-tuning training step (forward + backward to the prompt + grad clip + AdamW) on a random-weight T5
 * with real shapes, the same step as ../shared/bench/pytorch_peer.py: PT with 100 tokens, DePT with 60 tokens
 * and rank 30, inputs padded to --seq, labels [209, 1], dropout 0. Each method runs in its own process so that
 * peak RSS is per method. Prints a table and writes bench/results/t5.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getThreads, setThreads } from '../src/engine/index.js';
import { Dept, validateDeptConfig } from '../src/methods/dept/index.js';
import type { PeftMethod } from '../src/methods/method.js';
import { getMethod, optimizerGroups } from '../src/methods/registry.js';
import { PromptTuning, validatePromptTuningConfig } from '../src/methods/prompt-tuning/index.js';
import type { Precision, T5Model } from '../src/models/t5.js';
import { AdamW } from '../src/train/optimizer.js';
import { clipGradNorm } from '../src/train/clip.js';
import { randomT5 } from './random-t5.js';
import { machineInfo } from './machine.js';
import { flag, median, repoRoot } from './util.js';

export interface T5BenchRow {
  method: string;
  model: string;
  batch: number;
  seq: number;
  l: number;
  r: number;
  threads: number;
  precision: Precision;
  /** precision of the activations saved for backward (T5Model.savedActivations) */
  saved_activations: Precision;
  step_ms: number;
  step_min_ms: number;
  /**
   * process CPU time per step / threads (median): the step time the work would take on `threads` otherwise idle
   * cores. On a shared machine wall time includes waiting for a core; CPU time does not (the engine's threads
   * sleep while waiting: passive OpenMP, condition-variable pool), so this is the steadier comparison.
   */
  step_cpu_ms_per_thread: number;
  fwd_ms: number;
  maxrss_mb: number;
  gflops_per_step: number;
  achieved_gflops: number;
  breakdown_ms: Record<string, number>;
}

/** Analytic FLOPs of forward + activation-only backward (matmuls and attention; elementwise ignored). */
export function t5StepFlops(model: T5Model, B: number, Te: number, S: number): number {
  const c = model.config, C = c.d_model, D = c.num_heads * c.d_kv, F = c.d_ff, V = c.vocab_size, NH = c.num_heads;
  const ffnMats = c.feed_forward_proj.startsWith('gated') ? 3 : 2;
  const Ne = B * Te, Nd = B * S;
  const encLayer = 2 * Ne * C * D * 4 + 2 * Ne * C * F * ffnMats + 2 * 2 * B * Te * Te * D;
  // cross-attention: K/V projections of the encoder output, or the absorbed form (see T5Model.crossAttention)
  const cross = model.absorbCross(S)
    ? 2 * Nd * C * D * 4 + 2 * 2 * B * NH * S * Te * C
    : 2 * Nd * C * D * 2 + 2 * Ne * C * D * 2 + 2 * 2 * B * S * Te * D;
  const decLayer = 2 * Nd * C * D * 4 + 2 * Nd * C * F * ffnMats + 2 * 2 * B * S * S * D + cross;
  const head = 2 * Nd * C * V;
  const fwd = c.num_layers * encLayer + c.num_decoder_layers * decLayer + head;
  // backward to activations: one GEMM per linear (dinp), two per attention product; LM head once
  const attnExtra = c.num_layers * 2 * 2 * B * Te * Te * D
    + c.num_decoder_layers * 2 * 2 * B * S * Te * (model.absorbCross(S) ? NH * C : D);
  return 2 * fwd - head + attnExtra;
}

function makeBatch(model: T5Model, B: number, T: number) {
  const ids = new Int32Array(B * T);
  let s = 12345;
  for (let i = 0; i < ids.length; i++) { s = (s * 1103515245 + 12345) >>> 0; ids[i] = 2 + (s % (model.config.vocab_size - 2)); }
  const labels = new Int32Array(B * 2);
  for (let b = 0; b < B; b++) { labels[b * 2] = 209; labels[b * 2 + 1] = 1; }
  return { E: model.embed(ids), mask: new Float32Array(B * T).fill(1), labels };
}

function worker(method: 'pt' | 'dept', cfgName: string, B: number, T: number, reps: number, precision: Precision, saved: Precision): T5BenchRow {
  const model = randomT5(cfgName, {}, 1, precision);
  model.savedActivations = saved;
  const C = model.config.d_model;
  const rng = { nextFloat: Math.random, normal: () => Math.random() - 0.5 };
  const ctx = { dModel: C, vocabSize: model.config.vocab_size, embed: (ids: Int32Array) => model.embed(ids), rng };
  const m: PeftMethod = method === 'pt'
    ? PromptTuning.init(validatePromptTuningConfig({ numVirtualTokens: 100, init: 'SAMPLE_VOCAB' }), ctx)
    : Dept.init(validateDeptConfig({ numVirtualTokens: 60, rank: 30, maxLength: T, init: 'SAMPLE_VOCAB' }), ctx);
  const params = m.params();
  const opt = new AdamW(params, optimizerGroups(getMethod(m.type), {}), { eps: 1e-6 }); // prompt 0.3, lowrank 1e-4, no decay
  const { E, mask, labels } = makeBatch(model, B, T);
  const parts: Record<string, number[]> = { transform: [], model: [], method_backward: [], optimizer: [] };
  const cpu: number[] = [];
  const step = (): number => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (const p of params) p.grad.fill(0);
    const x = m.apply(E, mask, B, T);
    const t1 = performance.now();
    const out = model.lossAndGrad({ B, Te: x.Te, inputsEmbeds: x.inputsEmbeds, encoderMask: x.mask, S: 2, labels });
    const t2 = performance.now();
    m.backward(out.dInputsEmbeds, B, T);
    const t3 = performance.now();
    clipGradNorm(params, 1.0);
    opt.step(1);
    const t4 = performance.now();
    parts.transform!.push(t1 - t0); parts.model!.push(t2 - t1); parts.method_backward!.push(t3 - t2); parts.optimizer!.push(t4 - t3);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000 / getThreads());
    return t4 - t0;
  };
  const fwd = (): number => {
    const x = m.apply(E, mask, B, T);
    const t0 = performance.now();
    model.forward({ B, Te: x.Te, inputsEmbeds: x.inputsEmbeds, encoderMask: x.mask, S: 2, labels });
    return performance.now() - t0;
  };
  fwd();
  const fwdMs = fwd();
  step(); // warm-up: allocates the workspace
  for (const k of Object.keys(parts)) parts[k] = [];
  cpu.length = 0;
  const times: number[] = [];
  for (let i = 0; i < reps; i++) times.push(step());
  const stepMs = median(times);
  const flops = t5StepFlops(model, B, m.numVirtualTokens + T, 2);
  const breakdown: Record<string, number> = {};
  for (const [k, v] of Object.entries(parts)) breakdown[k] = Math.round(median(v) * 10) / 10;
  return {
    method: method === 'pt' ? 'PT-100' : 'DePT-60/30', model: cfgName, batch: B, seq: T,
    l: m.numVirtualTokens, r: method === 'pt' ? 0 : 30, threads: getThreads(), precision, saved_activations: saved,
    step_ms: Math.round(stepMs * 10) / 10, step_min_ms: Math.round(Math.min(...times) * 10) / 10,
    step_cpu_ms_per_thread: Math.round(median(cpu) * 10) / 10, fwd_ms: Math.round(fwdMs * 10) / 10,
    maxrss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    gflops_per_step: Math.round(flops / 1e9), achieved_gflops: Math.round(flops / 1e9 / (stepMs / 1000)),
    breakdown_ms: breakdown,
  };
}

export function runT5Bench(argv: string[]): void {
  const cfgName = flag(argv, '--config', 't5-base');
  const B = Number(flag(argv, '--batch', '8'));
  const T = Number(flag(argv, '--seq', '256'));
  const reps = Number(flag(argv, '--reps', '5'));
  const threads = Number(flag(argv, '--threads', '0'));
  if (threads > 0) setThreads(threads);
  const precision = flag(argv, '--precision', 'fp32') as Precision;
  if (precision !== 'fp32' && precision !== 'bf16') throw new Error(`--precision must be fp32 or bf16, got ${precision}`);
  const workerMethod = flag(argv, '--worker', '');
  if (workerMethod === 'pt' || workerMethod === 'dept') {
    const saved = flag(argv, '--saved-activations', 'fp32') as Precision;
    process.stdout.write(JSON.stringify(worker(workerMethod, cfgName, B, T, reps, precision, saved)) + '\n');
    return;
  }
  const which = flag(argv, '--method', 'both');
  const methods = which === 'both' ? ['pt', 'dept'] : [which];
  const machine = machineInfo();
  const rows: T5BenchRow[] = [];
  const entry = fileURLToPath(new URL('./run.js', import.meta.url));
  for (const m of methods) {
    const r = spawnSync(process.execPath, [entry, 't5', ...argv, '--worker', m], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`bench worker ${m} failed (exit ${r.status})`);
    rows.push(JSON.parse(r.stdout.trim().split('\n').pop()!) as T5BenchRow);
  }
  console.log(`T5 prompt-tuning step, ${cfgName}, batch ${B}, seq ${T}, ${rows[0]?.threads} threads, ${precision} (median of ${reps}); ${machine.cpu}, ${machine.onednn}; load ${machine.loadavg_1_5_15.join(' ')} -> ${machineInfo().loadavg_1_5_15.join(' ')}`);
  console.table(rows.map((r) => ({ method: r.method, 'step ms': r.step_ms, 'min ms': r.step_min_ms, 'CPU ms / thread': r.step_cpu_ms_per_thread, 'fwd ms': r.fwd_ms, 'peak RSS MB': r.maxrss_mb, 'GFLOP/step': r.gflops_per_step, 'GFLOP/s': r.achieved_gflops, ...r.breakdown_ms })));
  const outDir = join(repoRoot(), 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, precision === 'fp32' ? 't5.json' : `t5-${precision}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), openblas_coretype: process.env['OPENBLAS_CORETYPE'] ?? null, machine, loadavg_after: machineInfo().loadavg_1_5_15, rows }, null, 2) + '\n');
  console.log(`wrote ${file}`);
}
