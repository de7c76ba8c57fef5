/**
 * `npm run bench -- gemm [--reps 10] [--threads N] [--shapes MxNxK,...]`
 * GEMM rate of the three engines on the model's shapes, out (M, N) = A (M, K) . W (N, K)^T with a frozen W:
 * OpenBLAS sgemm (fp32), softprompt's own AVX512-BF16 kernel (weight rounded once, activations on the fly) and
 * oneDNN bf16 (weight held once in its blocked layout, activations rounded on the fly), plus oneDNN's transposed
 * use (out (M, K) = G (M, N) . W, the input gradient, which reorders the weight per call), and oneDNN with A
 * already in bf16 (the difference is the cost of rounding the activations on the fly). Best and median of
 * --reps, in GFLOP/s; the oneDNN implementation is read from ONEDNN_VERBOSE in a child process. Writes
 * bench/results/gemm.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bf16Weight, engine, getThreads, matmulBf16, matmulBf16T, setThreads, toBf16 } from '../src/engine/index.js';
import { machineInfo } from './machine.js';
import { flag, median, repoRoot } from './util.js';

const DEFAULT_SHAPES = '2048x768x768,2848x768x3072,2848x3072x768,2688x256x32128';

/** GFLOP/s: best and median wall time; cpu: on the median process CPU time per thread (see bench/t5.ts) */
interface Rate { best: number; median: number; cpu: number }
interface GemmRow {
  shape: string; M: number; N: number; K: number;
  sgemm_fp32: Rate; own_bf16: Rate; onednn_bf16: Rate; onednn_bf16_input_bf16: Rate; onednn_bf16_transposed: Rate;
  onednn_impl: string[]; weight_bytes_bf16_blocked: number; weight_bytes_fp32: number;
}

function rand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; out[i] = (s >>> 0) / 4294967296 - 0.5; }
  return out;
}

function rate(flops: number, reps: number, fn: () => void): Rate {
  fn(); // warm-up: packing buffers, primitive creation
  const t: number[] = [], c: number[] = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
    const d = process.cpuUsage(c0);
    c.push((d.user + d.system) / 1000 / getThreads());
  }
  const g = (ms: number) => Math.round(flops / 1e6 / ms);
  return { best: g(Math.min(...t)), median: g(median(t)), cpu: g(median(c)) };
}

function parseShapes(s: string): [number, number, number][] {
  return s.split(',').map((x) => {
    const d = x.split('x').map(Number);
    if (d.length !== 3 || !d.every((v) => Number.isInteger(v) && v > 0)) throw new Error(`bad shape ${x}: want MxNxK`);
    return d as [number, number, number];
  });
}

/** one forward and one transposed call per shape under ONEDNN_VERBOSE; the implementation names it printed */
function impls(shapes: string): string[][] {
  const entry = fileURLToPath(new URL('./run.js', import.meta.url));
  const r = spawnSync(process.execPath, [entry, 'gemm', '--impl-probe', shapes], { env: { ...process.env, ONEDNN_VERBOSE: '1' }, encoding: 'utf8' });
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('onednn_verbose,exec,cpu,matmul'));
  const out: string[][] = parseShapes(shapes).map(() => []);
  let i = 0;
  for (const l of lines) {
    out[Math.floor(i / 2)]?.push(`${i % 2 === 0 ? 'fwd' : 'transposed'} ${l.split(',')[4]}`);
    i++;
  }
  return out;
}

export interface GemmPeak {
  shapes: string;
  /** GFLOP/s, the best over the shapes: best wall, median wall, on CPU time per thread */
  fp32: Rate;
  bf16: Rate;
}

/**
 * The machine's GEMM rate now (a roofline probe): OpenBLAS sgemm and oneDNN bf16 (activations rounded on the fly,
 * as the model runs them) on T5-base FFN shapes, best over the shapes of each measure.
 */
export function gemmPeak(reps = 5, shapes = '2848x3072x768,2848x768x3072'): GemmPeak {
  const e = engine(), best = (rs: Rate[]): Rate => ({
    best: Math.max(...rs.map((r) => r.best)), median: Math.max(...rs.map((r) => r.median)), cpu: Math.max(...rs.map((r) => r.cpu)),
  });
  const fp32: Rate[] = [], bf16: Rate[] = [];
  for (const [M, N, K] of parseShapes(shapes)) {
    const W = rand(N * K, 1), A = rand(M * K, 2), out = new Float32Array(M * N), flops = 2 * M * N * K;
    fp32.push(rate(flops, reps, () => e.matmulForward(out, A, W, null, M, K, N, false)));
    if (e.onednnAvailable()) {
      const w = Bf16Weight.fromF32(W, N, K);
      bf16.push(rate(flops, reps, () => matmulBf16(out, A, w, M)));
    }
  }
  return { shapes, fp32: best(fp32), bf16: bf16.length > 0 ? best(bf16) : { best: 0, median: 0, cpu: 0 } };
}

export function runGemmBench(argv: string[]): void {
  const shapesArg = flag(argv, '--shapes', DEFAULT_SHAPES);
  const probe = flag(argv, '--impl-probe', '');
  if (probe !== '') {
    for (const [M, N, K] of parseShapes(probe)) {
      const w = Bf16Weight.fromF32(rand(N * K, 1), N, K);
      matmulBf16(new Float32Array(M * N), rand(M * K, 2), w, M);
      matmulBf16T(new Float32Array(M * K), rand(M * N, 3), w, M);
    }
    return;
  }
  const reps = Number(flag(argv, '--reps', '10'));
  const threads = Number(flag(argv, '--threads', '0'));
  if (threads > 0) setThreads(threads);
  const e = engine();
  const machine = machineInfo();
  const implNames = e.onednnAvailable() ? impls(shapesArg) : [];
  const rows: GemmRow[] = [];
  parseShapes(shapesArg).forEach(([M, N, K], i) => {
    const W = rand(N * K, 1), A = rand(M * K, 2), G = rand(M * N, 3);
    const out = new Float32Array(M * N), outT = new Float32Array(M * K);
    const flops = 2 * M * N * K;
    const sgemm = rate(flops, reps, () => e.matmulForward(out, A, W, null, M, K, N, false));
    const w16 = toBf16(W);
    const own = rate(flops, reps, () => e.matmulForwardBf16(out, A, w16, null, M, K, N, false));
    const none = { best: 0, median: 0, cpu: 0 };
    let one = none, one16 = none, oneT = none, bytes = 0;
    if (e.onednnAvailable()) {
      const w = Bf16Weight.fromF32(W, N, K);
      bytes = w.bytes();
      one = rate(flops, reps, () => matmulBf16(out, A, w, M));
      const A16 = toBf16(A); // the same product without rounding the activations in the timed call
      one16 = rate(flops, reps, () => matmulBf16(out, A16, w, M));
      oneT = rate(flops, reps, () => matmulBf16T(outT, G, w, M));
    }
    rows.push({ shape: `${M}x${N}x${K}`, M, N, K, sgemm_fp32: sgemm, own_bf16: own, onednn_bf16: one, onednn_bf16_input_bf16: one16, onednn_bf16_transposed: oneT,
      onednn_impl: implNames[i] ?? [], weight_bytes_bf16_blocked: bytes, weight_bytes_fp32: 4 * N * K });
  });
  const after = machineInfo().loadavg_1_5_15;
  console.log(`GEMM out (M, N) = A (M, K) . W (N, K)^T, GFLOP/s best / median of ${reps} / on CPU time; ${machine.cpu}, ${machine.threads} threads, ${machine.onednn}; load ${machine.loadavg_1_5_15.join(' ')} -> ${after.join(' ')}`);
  console.table(rows.map((r) => ({
    'M x N x K': r.shape, 'OpenBLAS fp32': `${r.sgemm_fp32.best} / ${r.sgemm_fp32.median} / ${r.sgemm_fp32.cpu}`, 'own bf16': `${r.own_bf16.best} / ${r.own_bf16.median} / ${r.own_bf16.cpu}`,
    'oneDNN bf16': `${r.onednn_bf16.best} / ${r.onednn_bf16.median} / ${r.onednn_bf16.cpu}`, 'oneDNN, A already bf16': `${r.onednn_bf16_input_bf16.best} / ${r.onednn_bf16_input_bf16.median} / ${r.onednn_bf16_input_bf16.cpu}`, 'oneDNN bf16 A.W': `${r.onednn_bf16_transposed.best} / ${r.onednn_bf16_transposed.median} / ${r.onednn_bf16_transposed.cpu}`,
    impl: r.onednn_impl.join('; '),
  })));
  const outDir = join(repoRoot(), 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, 'gemm.json');
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine, loadavg_after: after, reps, rows }, null, 2) + '\n');
  console.log(`wrote ${file}`);
}
