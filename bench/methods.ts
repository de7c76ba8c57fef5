/**
 * `npm run bench -- methods [--config t5-base] [--batch 8] [--seq 256] [--reps 3] [--only pt,dept,lora,full]
 *   [--python .venv/bin/python]`
 * One training step (forward + backward + clip + AdamW) per method on a random-weight T5 of real shapes, each in
 * its own process (peak RSS per method): PT-100, DePT-60/30 (budget-equal), LoRA r=8 on q,v, full fine-tuning.
 * Methods come from the registry, exactly as `softprompt train` builds them. With --python (a venv with torch,
 * transformers and peft, see ../shared/bench/README.md) the same steps run in PyTorch + PEFT
 * (bench/methods_peer.py) back to back, and the table shows both. Writes bench/results/methods.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getThreads, setThreads } from '../src/engine/index.js';
import { withMethod } from '../src/methods/method.js';
import { getMethod, methodNames, optimizerGroups } from '../src/methods/registry.js';
import { AdamW } from '../src/train/optimizer.js';
import { clipGradNorm } from '../src/train/clip.js';
import { randomT5 } from './random-t5.js';
import { flag, median, repoRoot } from './util.js';

interface Row {
  method: string;
  trainable: number;
  step_ms: number;
  step_min_ms: number;
  maxrss_mb: number;
  threads: number;
}

const METHODS: Record<string, { label: string; method: string; settings: Record<string, unknown>; peer: string }> = {
  pt: { label: 'PT-100', method: 'prompt_tuning', settings: { promptLength: 100, init: 'SAMPLE_VOCAB' }, peer: 'pt' },
  dept: { label: 'DePT-60/30', method: 'dept', settings: { promptLength: 60, rank: 30, init: 'SAMPLE_VOCAB' }, peer: 'dept' },
  lora: { label: 'LoRA r=8 (q,v)', method: 'lora', settings: { loraR: 8, loraAlpha: 8, targetModules: ['q', 'v'] }, peer: 'lora' },
  full: { label: 'full FT', method: 'full', settings: {}, peer: 'full' },
};

function worker(key: string, cfgName: string, B: number, T: number, reps: number): Row {
  const spec = METHODS[key]!;
  const model = randomT5(cfgName);
  const entry = getMethod(spec.method);
  const settings = { maxLength: T, ...spec.settings };
  const rng = { nextFloat: Math.random, normal: () => Math.random() - 0.5 };
  const m = entry.create(settings, { dModel: model.config.d_model, vocabSize: model.config.vocab_size, embed: (ids) => model.embed(ids), rng, model });
  return withMethod(model, m, () => {
    const params = m.params();
    const opt = new AdamW(params, optimizerGroups(entry, settings), { eps: 1e-6 });
    const ids = new Int32Array(B * T);
    let s = 12345;
    for (let i = 0; i < ids.length; i++) { s = (s * 1103515245 + 12345) >>> 0; ids[i] = 2 + (s % (model.config.vocab_size - 2)); }
    const labels = new Int32Array(B * 2);
    for (let b = 0; b < B; b++) { labels[b * 2] = 209; labels[b * 2 + 1] = 1; }
    const mask = new Float32Array(B * T).fill(1);
    const step = (): number => {
      const t0 = performance.now();
      for (const p of params) p.grad.fill(0);
      const x = m.apply(model.embed(ids), mask, B, T);
      const out = model.lossAndGrad({ B, Te: x.Te, inputsEmbeds: x.inputsEmbeds, encoderMask: x.mask, S: 2, labels });
      m.backward(out.dInputsEmbeds, B, T);
      model.embedBackward(ids, out.dInputsEmbeds, B, T, x.Te - T);
      clipGradNorm(params, 1.0);
      opt.step(1);
      return performance.now() - t0;
    };
    step(); // warm-up: allocates the workspace
    const times: number[] = [];
    for (let i = 0; i < reps; i++) times.push(step());
    return {
      method: spec.label, trainable: m.numParams(), step_ms: Math.round(median(times) * 10) / 10, step_min_ms: Math.round(Math.min(...times) * 10) / 10,
      maxrss_mb: Math.round(process.resourceUsage().maxRSS / 1024), threads: getThreads(),
    };
  });
}

export function runMethodsBench(argv: string[]): void {
  const cfgName = flag(argv, '--config', 't5-base');
  const B = Number(flag(argv, '--batch', '8'));
  const T = Number(flag(argv, '--seq', '256'));
  const reps = Number(flag(argv, '--reps', '3'));
  const threads = Number(flag(argv, '--threads', '0'));
  if (threads > 0) setThreads(threads);
  const workerKey = flag(argv, '--worker', '');
  if (workerKey !== '') {
    process.stdout.write(JSON.stringify(worker(workerKey, cfgName, B, T, reps)) + '\n');
    return;
  }
  const keys = flag(argv, '--only', 'pt,dept,lora,full').split(',').filter((k) => k in METHODS && methodNames().includes(METHODS[k]!.method));
  const python = flag(argv, '--python', '');
  const entry = fileURLToPath(new URL('./run.js', import.meta.url));
  const rows: Array<Row & { peer?: { step_ms: number; maxrss_mb: number; trainable: number } }> = [];
  for (const k of keys) {
    const r = spawnSync(process.execPath, [entry, 'methods', ...argv, '--worker', k], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`bench worker ${k} failed (exit ${r.status})`);
    const row: (typeof rows)[number] = JSON.parse(r.stdout.trim().split('\n').pop()!) as Row;
    if (python !== '') {
      const p = spawnSync(python, [join(repoRoot(), 'bench', 'methods_peer.py'), cfgName, String(B), String(T), String(reps), METHODS[k]!.peer], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      if (p.status === 0) row.peer = JSON.parse(p.stdout.trim().split('\n').pop()!) as { step_ms: number; maxrss_mb: number; trainable: number };
      else process.stderr.write(`peer ${k} failed (exit ${p.status})\n`);
    }
    rows.push(row);
  }
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`Training step per method, ${cfgName}, batch ${B}, seq ${T}, fp32, ${rows[0]?.threads} threads, ${cpu} (median of ${reps})`);
  console.table(rows.map((r) => ({
    method: r.method, trainable: r.trainable, 'step ms': r.step_ms, 'peak RSS MB': r.maxrss_mb,
    ...(r.peer !== undefined ? { 'PyTorch ms': r.peer.step_ms, 'PyTorch RSS MB': r.peer.maxrss_mb, 'time ratio': +(r.step_ms / r.peer.step_ms).toFixed(2), 'RSS ratio': +(r.maxrss_mb / r.peer.maxrss_mb).toFixed(2) } : {}),
  })));
  const outDir = join(repoRoot(), 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, 'methods.json');
  let loadavg = '';
  try { loadavg = readFileSync('/proc/loadavg', 'utf8').trim(); } catch { /* not linux */ }
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), cpu, loadavg, config: cfgName, batch: B, seq: T, reps, rows }, null, 2) + '\n');
  console.log(`wrote ${file}`);
}
