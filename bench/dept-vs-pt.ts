/**
 * `npm run bench -- dept-vs-pt [--config t5-base] [--batch 8] [--seq 256] [--reps 3] [--threads N]
 *                              [--batches 6] [--dyn-reps 2] [--seed 42] [--quick]`
 *
 * Tests DePT's efficiency claim (spec §3.4: "saving over 20% memory and time costs compared to vanilla PT")
 * on the CPU engine. It times one training step, the same step as bench/t5.ts: method.apply → model.lossAndGrad
 * → method.backward → clipGradNorm → AdamW, with labels [209, 1], on a random-weight T5 with real shapes.
 * Three methods with the same budget of trainable parameters (spec §1.6): PT-100, DePT-60/r and DePT-40/r, where
 * r = (100 − l)·d / (s + d), i.e. 30 and 45 on T5-Base at s=256. Each method runs with three kinds of padding:
 *
 *   fixed-<s>      every input padded to s, as the reference does (encoder length l + s). Content does not
 *                  matter: attention is dense, so a pad costs as much as a token. Median of --reps steps.
 *   sst2-dynamic   real SST-2 / RTE dev lengths (bench/lengths.ts): a fixed, seeded set of --batches batches,
 *   rte-dynamic    each right-padded only to its own longest row L (encoder length l + L; DePT uses A[:L], §1.11).
 *                  Mean over the batches of each batch's median of --dyn-reps steps.
 *
 * Each (method, padding) pair has its own process, so peak RSS is per pair. All workers start together and load
 * the engine at once (one build for every row, even if build/Release is rebuilt meanwhile); each builds its model
 * when its padding's turn comes. The three methods of one padding live side by side but step one at a time,
 * interleaved batch by batch in rotating order, so that load from other processes on the machine hits every
 * method alike. A worker's first step is an untimed warm-up on its longest batch, which sizes the workspace.
 * Writes bench/results/dept-vs-pt.json.
 * `--quick`: t5-small, 1 rep, 2 batches per task, for a smoke run; explicit flags override it. It writes
 * bench/results/dept-vs-pt.quick.json instead, so a smoke run never overwrites the full results.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getThreads, setThreads } from '../src/engine/index.js';
import { loadTokenizerSync } from '../src/io/tokenizer.js';
import { Dept, deptParamCount, deptRankForBudget, validateDeptConfig } from '../src/methods/dept/index.js';
import type { PeftMethod } from '../src/methods/method.js';
import { getMethod, optimizerGroups } from '../src/methods/registry.js';
import { PromptTuning, validatePromptTuningConfig } from '../src/methods/prompt-tuning/index.js';
import { clipGradNorm } from '../src/train/clip.js';
import { AdamW } from '../src/train/optimizer.js';
import { Rng } from '../src/train/rng.js';
import { drawBatches, LENGTH_TASKS, padBatch, tokenizeDev, type LengthStats, type PaddedBatch } from './lengths.js';
import { randomT5, T5_SHAPES } from './random-t5.js';
import { t5StepFlops } from './t5.js';
import { flag, median, repoRoot } from './util.js';

const PT_TOKENS = 100; // the paper's vanilla PT budget: L = 100 virtual tokens
const DEPT_PROMPTS = [60, 40]; // l of the two DePT variants; r follows from the budget

export interface MethodSpec {
  name: string; // PT-100, DePT-60/30
  kind: 'pt' | 'dept';
  l: number;
  r: number;
  params: number; // trainable scalars, analytic (l·d for PT, deptParamCount for DePT)
}

type Padding = string; // fixed-<s>, sst2-dynamic, rte-dynamic

interface WorkerJob {
  method: MethodSpec;
  padding: Padding;
  config: string;
  seq: number;
  seed: number;
  batches: PaddedBatch[];
}

/** parent → worker */
type ToWorker = { cmd: 'load'; threads: number } | { cmd: 'init'; job: WorkerJob } | { cmd: 'step'; batch: number; timed: boolean } | { cmd: 'finish' };
/** worker → parent */
type FromWorker = { type: 'loaded' } | { type: 'ready' } | { type: 'step'; ms: number } | { type: 'row'; row: DeptVsPtRow };

interface BatchResult {
  T: number; // padded input length of the batch
  step_ms: number; // median over reps
  times_ms: number[]; // every timed step, in order
  enc_gflop: number;
}

export interface DeptVsPtRow {
  method: string;
  padding: Padding;
  l: number;
  r: number;
  params: number;
  batch: number;
  batches: number;
  reps: number;
  mean_input_len: number; // real tokens per example (fixed-<s>: all s positions)
  mean_encoder_len: number; // l + padded length, averaged over batches
  step_ms: number; // mean over batches of the per-batch median
  peak_rss_mb: number;
  load_rss_mb: number; // RSS after building the model and method, before the first step
  step_rss_mb: number; // peak − load: what the training step itself adds
  enc_gflop: number; // analytic FLOPs that grow with the encoder length (mean over batches)
  step_gflop: number; // analytic FLOPs of the whole step (mean over batches)
  threads: number;
  per_batch: BatchResult[];
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The methods compared: PT-L and DePT-l/r with r from the budget; `params` from deptParamCount. */
export function budgetMethods(d: number, s: number): MethodSpec[] {
  const out: MethodSpec[] = [{ name: `PT-${PT_TOKENS}`, kind: 'pt', l: PT_TOKENS, r: 0, params: PT_TOKENS * d }];
  for (const l of DEPT_PROMPTS) {
    const r = deptRankForBudget(PT_TOKENS, l, s, d);
    out.push({ name: `DePT-${l}/${r}`, kind: 'dept', l, r, params: deptParamCount(l, r, s, d) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// worker: one (method, padding) pair in its own process, driven step by step over IPC

function setupWorker(job: WorkerJob) {
  const model = randomT5(job.config);
  const C = model.config.d_model;
  const { method: spec, seq: s } = job;
  const ctx = { dModel: C, vocabSize: model.config.vocab_size, embed: (ids: Int32Array) => model.embed(ids), rng: new Rng(job.seed) };
  const m: PeftMethod = spec.kind === 'pt'
    ? PromptTuning.init(validatePromptTuningConfig({ numVirtualTokens: spec.l, init: 'SAMPLE_VOCAB' }), ctx)
    : Dept.init(validateDeptConfig({ numVirtualTokens: spec.l, rank: spec.r, maxLength: s, init: 'SAMPLE_VOCAB' }), ctx);
  if (m.numParams() !== spec.params) {
    throw new Error(`${spec.name}: the method holds ${m.numParams()} trainable values, the budget says ${spec.params} (l=${spec.l}, r=${spec.r}, s=${s}, d=${C}).`);
  }
  const params = m.params();
  const opt = new AdamW(params, optimizerGroups(getMethod(m.type), {}), { eps: 1e-6 }); // prompt 0.3, lowrank 1e-4, no decay
  const batches = job.batches.map((b) => {
    const labels = new Int32Array(b.B * 2); // (B, S=2): "1" </s>
    for (let i = 0; i < b.B; i++) { labels[i * 2] = 209; labels[i * 2 + 1] = 1; }
    return { B: b.B, T: b.T, E: model.embed(Int32Array.from(b.ids)), mask: Float32Array.from(b.mask), labels };
  });
  (globalThis as { gc?: () => void }).gc?.(); // --expose-gc: drop init garbage before the baseline
  const loadRss = process.memoryUsage().rss;
  const times: number[][] = batches.map(() => []);

  const step = (i: number): number => {
    const x = batches[i]!;
    const t0 = performance.now();
    for (const p of params) p.grad.fill(0);
    const inp = m.apply(x.E, x.mask, x.B, x.T);
    const out = model.lossAndGrad({ B: x.B, Te: inp.Te, inputsEmbeds: inp.inputsEmbeds, encoderMask: inp.mask, S: 2, labels: x.labels });
    m.backward(out.dInputsEmbeds, x.B, x.T);
    clipGradNorm(params, 1.0);
    opt.step(1);
    return performance.now() - t0;
  };

  const row = (): DeptVsPtRow => {
    const l = m.numVirtualTokens;
    const encFlops = (B: number, T: number) => t5StepFlops(model, B, l + T, 2) - t5StepFlops(model, B, 0, 2);
    const perBatch: BatchResult[] = batches.map((b, i) => ({ T: b.T, step_ms: r1(median(times[i]!)), times_ms: times[i]!.map(r1), enc_gflop: r1(encFlops(b.B, b.T) / 1e9) }));
    const peak = process.resourceUsage().maxRSS * 1024;
    return {
      method: spec.name, padding: job.padding, l: spec.l, r: spec.r, params: spec.params,
      batch: batches[0]!.B, batches: batches.length, reps: times[0]!.length,
      mean_input_len: r1(mean(job.batches.flatMap((b) => b.lengths))), mean_encoder_len: r1(l + mean(batches.map((b) => b.T))),
      step_ms: r1(mean(batches.map((_, i) => median(times[i]!)))),
      peak_rss_mb: Math.round(peak / 2 ** 20), load_rss_mb: Math.round(loadRss / 2 ** 20), step_rss_mb: Math.round((peak - loadRss) / 2 ** 20),
      enc_gflop: r1(mean(batches.map((b) => encFlops(b.B, b.T))) / 1e9),
      step_gflop: r1(mean(batches.map((b) => t5StepFlops(model, b.B, l + b.T, 2))) / 1e9),
      threads: getThreads(), per_batch: perBatch,
    };
  };
  return { step, times, row };
}

function serveWorker(): void {
  let w: ReturnType<typeof setupWorker> | undefined;
  const reply = (msg: FromWorker) => process.send!(msg);
  process.on('message', (msg: ToWorker) => {
    try {
      if (msg.cmd === 'load') {
        if (msg.threads > 0) setThreads(msg.threads);
        getThreads(); // loads the engine now, so every worker runs the same build even if it is rebuilt later
        reply({ type: 'loaded' });
      } else if (msg.cmd === 'init') {
        w = setupWorker(msg.job);
        reply({ type: 'ready' });
      } else if (msg.cmd === 'step') {
        const ms = w!.step(msg.batch);
        if (msg.timed) w!.times[msg.batch]!.push(ms);
        reply({ type: 'step', ms });
      } else {
        reply({ type: 'row', row: w!.row() });
        process.disconnect();
      }
    } catch (err) {
      console.error(err);
      process.exit(1);
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// driver

/** A forked worker answering one request at a time. */
class WorkerHandle {
  private readonly child: ChildProcess;
  private pending: { resolve: (m: FromWorker) => void; reject: (e: Error) => void } | undefined;
  readonly exited: Promise<void>;

  constructor(entry: string, readonly label: string) {
    this.child = fork(entry, ['dept-vs-pt', '--worker'], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: FromWorker) => {
      const p = this.pending;
      this.pending = undefined;
      p?.resolve(m);
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        const p = this.pending;
        this.pending = undefined;
        p?.reject(new Error(`bench worker ${label} exited (code ${code}${signal ? `, ${signal}` : ''}) before replying.`));
        resolve();
      });
    });
  }

  request(msg: ToWorker): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.child.send(msg);
    });
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill();
  }
}

/** Run every method on one padding's batches, interleaved; returns one row per method. */
async function runPadding(handles: WorkerHandle[], methods: MethodSpec[], padding: Padding, batches: PaddedBatch[], reps: number,
  base: Omit<WorkerJob, 'method' | 'padding' | 'batches'>): Promise<DeptVsPtRow[]> {
  await Promise.all(handles.map((h, k) => h.request({ cmd: 'init', job: { ...base, method: methods[k]!, padding, batches } })));
  const longest = batches.reduce((a, b, i) => (b.T > batches[a]!.T ? i : a), 0);
  for (const h of handles) await h.request({ cmd: 'step', batch: longest, timed: false }); // warm-up
  const K = handles.length;
  for (let rep = 0; rep < reps; rep++) {
    for (let i = 0; i < batches.length; i++) {
      for (let j = 0; j < K; j++) await handles[(j + rep + i) % K]!.request({ cmd: 'step', batch: i, timed: true });
    }
  }
  const rows: DeptVsPtRow[] = [];
  for (const h of handles) {
    const reply = await h.request({ cmd: 'finish' });
    if (reply.type !== 'row') throw new Error(`bench worker ${h.label} answered ${reply.type} to finish.`);
    rows.push(reply.row);
  }
  await Promise.all(handles.map((h) => h.exited));
  return rows;
}

/** One batch of B full-length rows (every position a token): the reference's pad-to-s protocol. */
function fixedBatch(B: number, s: number, vocab: number): PaddedBatch {
  const rng = new Rng(12345);
  const rows = Array.from({ length: B }, () => Array.from({ length: s }, () => 2 + rng.nextInt(vocab - 2)));
  return padBatch(rows, 0, s);
}

/** mtime of the compiled engine, to notice a rebuild during the run (others may rebuild it meanwhile). */
function addonMtime(): string | null {
  try {
    return statSync(join(repoRoot(), 'build', 'Release', 'softprompt_native.node')).mtime.toISOString();
  } catch {
    return null;
  }
}

/** "−12.3 %" relative to the PT row of the same padding; "—" for PT itself. */
function versus(x: number, pt: number, isPt: boolean): string {
  if (isPt) return '—';
  const d = (x / pt - 1) * 100;
  return `${d < 0 ? '−' : '+'}${Math.abs(d).toFixed(1)} %`;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${v}.`);
  return v;
}

export async function runDeptVsPtBench(argv: string[]): Promise<void> {
  if (argv.includes('--worker')) return serveWorker();
  const quick = argv.includes('--quick');
  const config = flag(argv, '--config', quick ? 't5-small' : 't5-base');
  const B = positiveInt('--batch', Number(flag(argv, '--batch', '8')));
  const s = positiveInt('--seq', Number(flag(argv, '--seq', '256')));
  const reps = positiveInt('--reps', Number(flag(argv, '--reps', quick ? '1' : '3')));
  const dynReps = positiveInt('--dyn-reps', Number(flag(argv, '--dyn-reps', quick ? '1' : '2')));
  const nBatches = positiveInt('--batches', Number(flag(argv, '--batches', quick ? '2' : '6')));
  const threads = Number(flag(argv, '--threads', '0'));
  const seed = Number(flag(argv, '--seed', '42'));
  const shapes = T5_SHAPES[config];
  if (shapes === undefined) throw new Error(`Unknown --config ${config}; known: ${Object.keys(T5_SHAPES).join(', ')}.`);
  const d = shapes.d_model!;
  const t0 = performance.now();
  const loadStart = loadavg();

  // trainable-parameter budget (spec §1.6)
  const methods = budgetMethods(d, s);
  const ptParams = methods[0]!.params;
  console.log(`Budget at d=${d}, s=${s}: PT-${PT_TOKENS} = ${PT_TOKENS}·${d} = ${ptParams} trainable values`);
  for (const m of methods.slice(1)) {
    const same = m.params === ptParams ? 'equal' : `≠ PT (${m.params - ptParams}; r rounded down)`;
    console.log(`  ${m.name}: deptParamCount(${m.l}, ${m.r}, ${s}, ${d}) = ${m.l}·${d} + ${m.r}·(${s}+${d}) = ${m.params}, ${same}`);
  }

  // real length distributions → fixed, seeded batches shared by every method
  const tok = loadTokenizerSync(join(repoRoot(), 'test', 'fixtures', 'tokenizers', 't5'));
  const lengths: Record<string, { file: string; origin: string; stats: LengthStats; batch_T: number[] }> = {};
  const plan: Array<{ padding: Padding; batches: PaddedBatch[]; reps: number }> = [
    { padding: `fixed-${s}`, batches: [fixedBatch(B, s, 32128 /* randomT5's vocab_size */)], reps },
  ];
  for (const task of LENGTH_TASKS) {
    const dev = tokenizeDev(task, tok, s);
    const batches = drawBatches(dev.ids, B, nBatches, seed, tok.padId);
    lengths[task] = { file: dev.file, origin: dev.origin, stats: dev.stats, batch_T: batches.map((b) => b.T) };
    const st = dev.stats;
    console.log(`${task}: ${st.n} dev examples (${dev.file}), tokens incl. </s>: mean ${st.mean}, median ${st.median}, p90 ${st.p90}, `
      + `max ${st.max}, ${st.truncated} truncated to ${s}; batch lengths L = [${batches.map((b) => b.T).join(', ')}]`);
    plan.push({ padding: `${task}-dynamic`, batches, reps: dynReps });
  }

  // every worker starts now and loads the engine at once (one build for all rows); models are built per padding
  const entry = fileURLToPath(new URL('./run.js', import.meta.url));
  const workers = plan.map(({ padding }) => methods.map((m) => new WorkerHandle(entry, `${m.name} / ${padding}`)));
  try {
    await Promise.all(workers.flat().map((h) => h.request({ cmd: 'load', threads })));
  } catch (err) {
    for (const h of workers.flat()) h.kill();
    throw err;
  }
  const addonStart = addonMtime(); // the build every worker has loaded
  const rows: DeptVsPtRow[] = [];
  const groups: Array<{ padding: Padding; wall_s: number; load1_start: number; load1_end: number }> = [];
  for (const [k, { padding, batches, reps: n }] of plan.entries()) {
    const g0 = performance.now(), l0 = loadavg()[0]!;
    let got: DeptVsPtRow[];
    try {
      got = await runPadding(workers[k]!, methods, padding, batches, n, { config, seq: s, seed });
    } catch (err) {
      for (const h of workers.flat()) h.kill();
      throw err;
    }
    groups.push({ padding, wall_s: r1((performance.now() - g0) / 1000), load1_start: r1(l0), load1_end: r1(loadavg()[0]!) });
    const g = groups[groups.length - 1]!;
    console.log(`  ${padding}: ${got.map((x) => `${x.method} ${x.step_ms} ms, ${x.peak_rss_mb} MB`).join(' | ')}  (${g.wall_s} s, load ${g.load1_start} → ${g.load1_end})`);
    rows.push(...got);
  }
  const loadEnd = loadavg();
  const addonEnd = addonMtime();
  if (addonEnd !== addonStart) {
    console.log(`note: build/Release was rebuilt during the run (${addonStart} → ${addonEnd}); every row still used the build of ${addonStart}, loaded at the start.`);
  }
  const wallS = r1((performance.now() - t0) / 1000);

  const ptOf = (p: Padding) => rows.find((x) => x.padding === p && x.method === methods[0]!.name)!;
  console.log(`\nDePT vs PT training step, ${config} (random weights), batch ${B}, s=${s}, ${rows[0]?.threads} threads, fp32; `
    + `fixed: median of ${reps}; dynamic: mean over ${nBatches} batches of the median of ${dynReps}`);
  console.table(rows.map((x) => {
    const pt = ptOf(x.padding), isPt = x === pt;
    return {
      method: x.method, padding: x.padding, 'mean input len': x.mean_input_len, 'enc len (l+L)': x.mean_encoder_len,
      'step ms': x.step_ms, 'time vs PT': versus(x.step_ms, pt.step_ms, isPt),
      'peak RSS MB': x.peak_rss_mb, 'RSS vs PT': versus(x.peak_rss_mb, pt.peak_rss_mb, isPt),
      'step RSS MB': x.step_rss_mb, 'step RSS vs PT': versus(x.step_rss_mb, pt.step_rss_mb, isPt),
      'enc GFLOP': x.enc_gflop, 'enc FLOPs vs PT': versus(x.enc_gflop, pt.enc_gflop, isPt),
    };
  }));
  console.log('step RSS = peak RSS − RSS after building the model (≈ weights); enc GFLOP = analytic FLOPs that grow with '
    + 'the encoder length, t5StepFlops(l+L) − t5StepFlops(0).');
  console.log(`load average (1/5/15 min): ${loadStart.map(r1).join(' ')} at start, ${loadEnd.map(r1).join(' ')} at end; wall ${wallS} s`);

  const outDir = join(repoRoot(), 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, quick ? 'dept-vs-pt.quick.json' : 'dept-vs-pt.json'); // a smoke run keeps the full results
  writeFileSync(file, JSON.stringify({
    date: new Date().toISOString(), config, batch: B, seq: s, reps, dyn_reps: dynReps, batches: nBatches, seed, quick,
    openblas_coretype: process.env['OPENBLAS_CORETYPE'] ?? null, loadavg_start: loadStart.map(r1), loadavg_end: loadEnd.map(r1),
    wall_s: wallS, addon_mtime: { start: addonStart, end: addonEnd }, methods, lengths, groups, rows,
  }, null, 2) + '\n');
  console.log(`wrote ${file}`);
}
