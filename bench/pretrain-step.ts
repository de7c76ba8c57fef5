/**
 * `npm run bench -- pretrain-step [--config examples/pretrain/t5-mini-config.json] [--batch 64] [--input 128]
 *   [--reps 3] [--threads N]`
 * One full pretraining step (every weight trainable through the registry's full fine-tuning method, as
 * `softprompt pretrain` runs it: forward + backward with weight gradients + embedding scatter + clip + AdamW) on a
 * span-corruption-shaped batch, in fp32 and in mixed precision (`--precision bf16`: fp32 masters and optimizer,
 * bf16 GEMMs with fp32 accumulation), the two models stepping alternately in one process so that both see the same
 * machine load. Reports wall and CPU time per thread (the steadier measure on a shared machine) and the first
 * step's loss of each. Writes bench/results/pretrain-step.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bf16Available, getThreads, setThreads } from '../src/engine/index.js';
import { parseT5Config, T5Model, loadT5Weights, type Precision } from '../src/models/t5.js';
import { pretrainParams } from '../src/pretrain/run.js';
import { expandedLengths } from '../src/pretrain/span-corruption.js';
import { initializerFactor, initT5Weights } from '../src/pretrain/t5-init.js';
import { clipGradNorm } from '../src/train/clip.js';
import { AdamW } from '../src/train/optimizer.js';
import { machineInfo } from './machine.js';
import { flag, median, repoRoot } from './util.js';

export function runPretrainStepBench(argv: string[]): void {
  const threads = Number(flag(argv, '--threads', '0'));
  if (threads > 0) setThreads(threads);
  const file = flag(argv, '--config', join(repoRoot(), 'examples', 'pretrain', 't5-mini-config.json'));
  const B = Number(flag(argv, '--batch', '64')), input = Number(flag(argv, '--input', '128')), reps = Number(flag(argv, '--reps', '3'));
  const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const cfg = parseT5Config({ ...json, dropout_rate: 0 }, file);
  const init = initT5Weights(cfg, 42, initializerFactor(json));
  const { targetsLength: S } = expandedLengths(input);
  const ids = new Int32Array(B * input), labels = new Int32Array(B * S);
  for (let i = 0; i < ids.length; i++) ids[i] = 3 + ((i * 7919) % 31000);
  for (let i = 0; i < labels.length; i++) labels[i] = 3 + ((i * 104729) % 31000);
  const precisions: Precision[] = bf16Available() ? ['fp32', 'bf16'] : ['fp32'];
  const runs = precisions.map((p) => {
    const w = Object.fromEntries(Object.entries(init).map(([k, v]) => [k, v.data.slice()]));
    const model = new T5Model(cfg, loadT5Weights(cfg, { has: (n) => n in w, getF32Checked: (n) => w[n]! }), p);
    const { params, groups } = pretrainParams(model, { lr: 1e-3, weightDecay: 0, inputLength: input });
    const opt = new AdamW(params, groups, { eps: 1e-6 });
    const step = (): { loss: number; wall: number; cpu: number } => {
      const c0 = process.cpuUsage(), t0 = performance.now();
      for (const x of params) x.grad.fill(0);
      const out = model.lossAndGrad({ B, Te: input, inputsEmbeds: model.embed(ids), encoderMask: new Float32Array(B * input).fill(1), S, labels });
      model.embedBackward(ids, out.dInputsEmbeds, B, input, 0);
      clipGradNorm(params, 1.0);
      opt.step(1);
      const c = process.cpuUsage(c0);
      return { loss: out.loss, wall: performance.now() - t0, cpu: (c.user + c.system) / 1000 / getThreads() };
    };
    return { precision: p, step, first: NaN, wall: [] as number[], cpu: [] as number[] };
  });
  for (const r of runs) r.first = r.step().loss; // warm-up: workspace, bf16 copies, primitives
  for (let i = 0; i < reps; i++) {
    for (const r of runs) {
      const s = r.step();
      r.wall.push(Math.round(s.wall));
      r.cpu.push(Math.round(s.cpu));
    }
  }
  const machine = machineInfo();
  const rows = runs.map((r) => ({
    precision: r.precision, first_loss: r.first, wall_ms: r.wall, cpu_ms_per_thread: r.cpu,
    median_wall_ms: median(r.wall), median_cpu_ms_per_thread: median(r.cpu),
    tokens_per_cpu_s: Math.round((B * input) / (median(r.cpu) / 1000)),
  }));
  console.log(`pretraining step, ${file}, batch ${B} × input ${input} (targets ${S}), ${reps} alternating reps; ${machine.cpu}, ${machine.threads} threads, load ${machine.loadavg_1_5_15.join(' ')}`);
  console.table(rows.map((r) => ({ precision: r.precision, 'first loss': r.first_loss.toFixed(4), 'wall ms (median)': r.median_wall_ms, 'CPU ms/thread (median)': r.median_cpu_ms_per_thread, 'input tok per CPU-s/thread': r.tokens_per_cpu_s })));
  if (rows.length === 2) console.log(`bf16 / fp32 CPU time: ${(rows[1]!.median_cpu_ms_per_thread / rows[0]!.median_cpu_ms_per_thread).toFixed(2)}`);
  const outDir = join(repoRoot(), 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, 'pretrain-step.json');
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), machine, config: file, batch: B, input, targets: S, reps, rows }, null, 2) + '\n');
  console.log(`wrote ${out}`);
}
