/**
 * `npm run bench -- reference [--steps 4] [--tasks sst2,rte] [--batch 16] [--max-length 256] [--variants best,nogroup]
 *   [--python /work/venv/bin/python] [--peers fp32,bf16] [--threads N] [--seed 42] [--out reference.json]`
 *
 * Training time per epoch of DePT-60/30 at the DePT reference's settings (T5-base shapes with random weights,
 * batch 16, max_length 256) on real SST-2 and RTE training rows, softprompt against a PyTorch peer, back to back:
 *
 * - softprompt in its best mode: `--precision bf16`, dynamic padding (each batch to its longest row, exact for
 *   right-padded T5) and `--group-by-length` (variant `best`); `nogroup` is the same without length grouping,
 *   `best16` adds activations saved for backward in bf16, and `fp32` is the fp32 path with both (the effect of each);
 * - the peer (bench/reference_peer.py, PyTorch + HF T5) pads every batch to 256 as the reference does, in fp32 and
 *   in bf16 (weights in bfloat16 under torch.autocast, PyTorch's CPU bf16 path).
 *
 * Rows are the task's training split under DePT's protocol, encoded as `softprompt train` encodes them
 * (loadSplits + encodeSplit, the bundled T5 tokenizer): the full GLUE files in ../shared/data/glue when present,
 * else the committed slices (data/sst2-4k, data/rte), whose length distribution stands for the full set. The epoch
 * is the full training split (SST-2 66,349 rows, RTE 2,490). Each side takes one epoch's batch order (grouped or
 * shuffled, as `train` would, seeded), runs the batch holding the longest row untimed (it sizes the workspace;
 * the first batch when grouped) and then `--steps` batches at evenly spaced positions of the epoch (a stratified sample, since
 * grouped batches differ in cost); time per epoch = mean step × batches per epoch. Each configuration runs in its
 * own process (peak RSS per configuration). A roofline probe (fp32 and bf16 GEMM rate, gemm bench code) runs
 * first; the step's analytic FLOPs over its time give the fraction of that peak reached. Wall time and CPU time
 * per thread are both reported: on a shared machine the CPU-time ratios are the steadier comparison.
 * Writes bench/results/reference.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getThreads, setThreads } from '../src/engine/index.js';
import { loadTokenizerSync } from '../src/io/tokenizer.js';
import { withMethod } from '../src/methods/method.js';
import { getMethod, optimizerGroups } from '../src/methods/registry.js';
import { lossAndGrad, encodeSplit } from '../src/predict/index.js';
import type { EncodedExample } from '../src/tasks/encode.js';
import { targetLength } from '../src/tasks/encode.js';
import { getTask, loadSplits } from '../src/tasks/registry.js';
import { clipGradNorm } from '../src/train/clip.js';
import { DataOrder } from '../src/train/data-order.js';
import { AdamW } from '../src/train/optimizer.js';
import { Rng } from '../src/train/rng.js';
import { gemmPeak, type GemmPeak } from './gemm.js';
import { machineInfo } from './machine.js';
import { randomT5 } from './random-t5.js';
import { t5StepFlops } from './t5.js';
import { flag, repoRoot } from './util.js';

type Task = 'sst2' | 'rte';
/** training rows of one epoch under DePT's split protocol: SST-2 train minus the 1,000 held out; RTE's whole train */
const FULL_TRAIN_ROWS: Record<Task, number> = { sst2: 66349, rte: 2490 };
const PROMPT = 60, RANK = 30;

interface Variant { label: string; precision: 'fp32' | 'bf16'; group: boolean; savedActivations?: 'bf16' }
const VARIANTS: Record<string, Variant> = {
  best: { label: 'softprompt bf16, dynamic padding, grouped by length', precision: 'bf16', group: true },
  best16: { label: 'softprompt bf16, activations saved in bf16, dynamic padding, grouped by length', precision: 'bf16', group: true, savedActivations: 'bf16' },
  nogroup: { label: 'softprompt bf16, dynamic padding, shuffled', precision: 'bf16', group: false },
  fp32: { label: 'softprompt fp32, dynamic padding, grouped by length', precision: 'fp32', group: true },
};

/** what a worker gets: the sampled batches as encoded rows */
interface Job {
  task: Task;
  maxLength: number;
  targetLength: number;
  padId: number;
  /** warm-up batch first, then the timed ones */
  batches: { position: number; rows: { source: number[]; target: number[] }[] }[];
}

interface Measured {
  step_ms: number[];
  cpu_ms_per_thread: number[];
  maxrss_mb: number;
  threads: number;
  /** encoder input length (padded, prompt excluded) of each timed batch */
  input_len: number[];
  gflop: number[];
}

interface Row {
  task: Task;
  side: string;
  epoch_batches: number;
  mean_step_ms: number;
  mean_cpu_ms_per_thread: number;
  epoch_min: number;
  epoch_cpu_min_per_thread: number;
  maxrss_mb: number;
  mean_input_len: number;
  gflops_cpu: number | null;
  peak_fraction_cpu: number | null;
  measured: Measured;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const r1 = (x: number) => Math.round(x * 10) / 10;

// ---------------------------------------------------------------------------------------------------------------
// softprompt worker: one variant, its own process

function worker(jobFile: string, variant: Variant): Measured {
  const job = JSON.parse(readFileSync(jobFile, 'utf8')) as Job;
  const model = randomT5('t5-base', {}, 1, variant.precision);
  if (variant.savedActivations !== undefined) model.savedActivations = variant.savedActivations;
  const entry = getMethod('dept');
  const settings = { maxLength: job.maxLength, promptLength: PROMPT, rank: RANK, init: 'SAMPLE_VOCAB' };
  const rng = new Rng(1);
  const m = entry.create(settings, { dModel: model.config.d_model, vocabSize: model.config.vocab_size, embed: (ids) => model.embed(ids), rng, model });
  const lm = { kind: 'seq2seq' as const, model };
  return withMethod(model, m, () => {
    const params = m.params();
    const opt = new AdamW(params, optimizerGroups(entry, settings), { eps: 1e-6 });
    const out: Measured = { step_ms: [], cpu_ms_per_thread: [], maxrss_mb: 0, threads: getThreads(), input_len: [], gflop: [] };
    job.batches.forEach((b, i) => {
      const examples: EncodedExample[] = b.rows.map((r) => ({ source: Int32Array.from(r.source), target: Int32Array.from(r.target) }));
      const idx = examples.map((_, k) => k);
      const c0 = process.cpuUsage(), t0 = performance.now();
      for (const p of params) p.grad.fill(0);
      lossAndGrad(lm, m, examples, idx, { padId: job.padId, targetLength: job.targetLength }, { train: false, seed: i });
      clipGradNorm(params, 1.0);
      opt.step(1);
      const ms = performance.now() - t0, cpu = process.cpuUsage(c0);
      if (i === 0) return; // warm-up
      const T = Math.max(...examples.map((x) => x.source.length));
      out.step_ms.push(r1(ms));
      out.cpu_ms_per_thread.push(r1((cpu.user + cpu.system) / 1000 / getThreads()));
      out.input_len.push(T);
      out.gflop.push(r1(t5StepFlops(model, examples.length, PROMPT + T, job.targetLength) / 1e9));
    });
    out.maxrss_mb = Math.round(process.resourceUsage().maxRSS / 1024);
    return out;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// the parent: data, orders, jobs, processes, table

/** the task's training split as `train` encodes it, and where it came from */
function trainRows(task: Task, maxLength: number, seed: number) {
  const root = repoRoot();
  const shared = join(root, '..', 'shared', 'data', 'glue');
  const glueDir = task === 'sst2' ? 'SST-2' : 'RTE';
  const full = existsSync(join(shared, glueDir, 'train.tsv'));
  const dataDir = full ? shared : join(root, 'data', task === 'sst2' ? 'sst2-4k' : 'rte');
  const tok = loadTokenizerSync(join(root, 'test', 'fixtures', 'tokenizers', 't5'));
  const spec = getTask(task);
  const splits = loadSplits(spec, dataDir, { seed });
  const S = targetLength(tok, spec.labelList ?? spec.labelWords, spec.maxTargetLength ?? 20);
  return { examples: encodeSplit('seq2seq', tok, splits.train, maxLength, S), targetLength: S, padId: tok.padId, dataDir, full };
}

/** one epoch's batches in `train`'s order (seeded shuffle, grouped by length or not) */
function epochOrder(examples: readonly EncodedExample[], B: number, seed: number, group: boolean): number[][] {
  const order = new DataOrder(examples.length, B, new Rng(seed, 0), group ? examples.map((x) => x.source.length) : null);
  return Array.from({ length: order.batchesPerEpoch }, () => order.next().indices);
}

/** the batch holding the longest row (warm-up: it sizes the workspace), then `steps` batches evenly spaced over the epoch */
function sample(batches: number[][], lengths: readonly number[], steps: number): number[] {
  const longest = batches.map((b) => Math.max(...b.map((i) => lengths[i]!)));
  const n = batches.length, picks = [longest.indexOf(Math.max(...longest))];
  for (let k = 0; k < steps; k++) picks.push(Math.min(n - 1, Math.floor(((k + 0.5) * n) / steps)));
  return picks;
}

function writeJob(dir: string, name: string, data: ReturnType<typeof trainRows>, task: Task, maxLength: number, batches: number[][], picks: number[]): string {
  const job: Job = {
    task, maxLength, targetLength: data.targetLength, padId: data.padId,
    batches: picks.map((p) => ({ position: p, rows: batches[p]!.map((i) => ({ source: [...data.examples[i]!.source], target: [...data.examples[i]!.target] })) })),
  };
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(job));
  return file;
}

function lastJson<T>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}

export function runReferenceBench(argv: string[]): void {
  const threads = Number(flag(argv, '--threads', '0'));
  if (threads > 0) setThreads(threads);
  const job = flag(argv, '--worker-job', '');
  if (job !== '') {
    process.stdout.write(JSON.stringify(worker(job, VARIANTS[flag(argv, '--variant', 'best')]!)) + '\n');
    return;
  }
  const steps = Number(flag(argv, '--steps', '4'));
  const B = Number(flag(argv, '--batch', '16'));
  const maxLength = Number(flag(argv, '--max-length', '256'));
  const seed = Number(flag(argv, '--seed', '42'));
  const tasks = flag(argv, '--tasks', 'sst2,rte').split(',') as Task[];
  const variants = flag(argv, '--variants', 'best,nogroup').split(',').filter((v) => v in VARIANTS);
  const python = flag(argv, '--python', existsSync('/work/venv/bin/python') ? '/work/venv/bin/python' : '');
  const peers = python === '' ? [] : flag(argv, '--peers', 'fp32,bf16').split(',');
  const machine = machineInfo();
  const peak = gemmPeak(5);
  console.log(`roofline probe (${peak.shapes}), GFLOP/s best wall / median wall / on CPU time per thread: fp32 ${peak.fp32.best} / ${peak.fp32.median} / ${peak.fp32.cpu}, bf16 ${peak.bf16.best} / ${peak.bf16.median} / ${peak.bf16.cpu}`);
  const entry = fileURLToPath(new URL('./run.js', import.meta.url));
  const tmp = mkdtempSync(join(tmpdir(), 'sp-reference-'));
  const rows: Row[] = [];
  const sources: Record<string, string> = {};
  for (const task of tasks) {
    const data = trainRows(task, maxLength, seed);
    sources[task] = `${data.dataDir} (${data.examples.length} training rows${data.full ? '' : `; epoch scaled to ${FULL_TRAIN_ROWS[task]}`})`;
    const epochBatches = Math.ceil((data.full ? data.examples.length : FULL_TRAIN_ROWS[task]) / B);
    const addRow = (side: string, m: Measured, flops: boolean) => {
      const step = mean(m.step_ms), cpu = mean(m.cpu_ms_per_thread);
      const gflops = flops ? mean(m.gflop) / (cpu / 1000) : null;
      rows.push({
        task, side, epoch_batches: epochBatches, mean_step_ms: r1(step), mean_cpu_ms_per_thread: r1(cpu),
        epoch_min: r1((step * epochBatches) / 60000), epoch_cpu_min_per_thread: r1((cpu * epochBatches) / 60000), maxrss_mb: m.maxrss_mb,
        mean_input_len: r1(mean(m.input_len)), gflops_cpu: gflops === null ? null : Math.round(gflops),
        peak_fraction_cpu: gflops === null ? null : Math.round((gflops / (side.includes('fp32') ? peak.fp32.cpu : peak.bf16.cpu)) * 100) / 100,
        measured: m,
      });
    };
    for (const v of variants) {
      const batches = epochOrder(data.examples, B, seed, VARIANTS[v]!.group);
      const file = writeJob(tmp, `${task}-${v}`, data, task, maxLength, batches, sample(batches, data.examples.map((x) => x.source.length), steps));
      const r = spawnSync(process.execPath, [entry, 'reference', '--worker-job', file, '--variant', v, ...(threads > 0 ? ['--threads', String(threads)] : [])],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      if (r.status !== 0) throw new Error(`softprompt worker ${task}/${v} failed (exit ${r.status})`);
      addRow(VARIANTS[v]!.label, lastJson<Measured>(r.stdout), true);
    }
    if (peers.length > 0) {
      const batches = epochOrder(data.examples, B, seed, false);
      const file = writeJob(tmp, `${task}-peer`, data, task, maxLength, batches, sample(batches, data.examples.map((x) => x.source.length), steps));
      for (const p of peers) {
        const r = spawnSync(python, [join(repoRoot(), 'bench', 'reference_peer.py'), file], {
          encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, PEER_PRECISION: p },
        });
        if (r.status !== 0) { process.stderr.write(`peer ${task}/${p} failed (exit ${r.status})\n`); continue; }
        addRow(`PyTorch ${p === 'bf16' ? 'bf16 (autocast, bf16 weights)' : 'fp32'}, padded to ${maxLength}`, lastJson<Measured>(r.stdout), false);
      }
    }
  }
  const after = machineInfo().loadavg_1_5_15;
  console.log(`DePT-${PROMPT}/${RANK}, t5-base shapes (random weights), batch ${B}, max_length ${maxLength}, ${steps} timed steps + 1 warm-up per row; ${machine.cpu}, ${machine.threads} threads, ${machine.onednn}; load ${machine.loadavg_1_5_15.join(' ')} -> ${after.join(' ')}`);
  for (const [t, s] of Object.entries(sources)) console.log(`  ${t}: ${s}`);
  const ratio = (a: number, b: number | undefined) => (b === undefined ? '' : (a / b).toFixed(2));
  console.table(rows.map((r) => {
    const peer = (p: string) => rows.find((x) => x.task === r.task && x.side.startsWith(`PyTorch ${p}`));
    return {
      task: r.task, side: r.side, 'input len': r.mean_input_len, 'step ms': r.mean_step_ms, 'CPU ms/thread': r.mean_cpu_ms_per_thread,
      'epoch min': r.epoch_min, 'epoch CPU min/thread': r.epoch_cpu_min_per_thread, 'peak RSS MB': r.maxrss_mb,
      'GFLOP/s (CPU)': r.gflops_cpu ?? '', 'of peak': r.peak_fraction_cpu ?? '',
      'CPU vs PT fp32': ratio(r.mean_cpu_ms_per_thread, peer('fp32')?.mean_cpu_ms_per_thread),
      'CPU vs PT bf16': ratio(r.mean_cpu_ms_per_thread, peer('bf16')?.mean_cpu_ms_per_thread),
      'wall vs PT bf16': ratio(r.mean_step_ms, peer('bf16')?.mean_step_ms),
      'RSS vs PT bf16': ratio(r.maxrss_mb, peer('bf16')?.maxrss_mb),
    };
  }));
  const outDir = join(repoRoot(), 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, flag(argv, '--out', 'reference.json'));
  const report: { date: string; machine: typeof machine; loadavg_after: number[]; gemm_peak: GemmPeak; batch: number; max_length: number; steps: number; sources: Record<string, string>; rows: Row[] } = {
    date: new Date().toISOString(), machine, loadavg_after: after, gemm_peak: peak, batch: B, max_length: maxLength, steps, sources, rows,
  };
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  console.log(`wrote ${file}`);
}
