/**
 * The glue-small result as a table: the JSON document's shape, DePT-vs-PT ordering against the paper's, the
 * Markdown page and the SVG chart (vega-lite, rendered headless by vega).
 */
import { isAbsolute, relative } from 'node:path';
import type { MachineInfo } from './machine.js';
import { repoRoot } from './util.js';
import type { BaselineResult } from './baselines.js';
import type { RunRow } from './glue-small-worker.js';
import { METHOD_PLANS, taskPlan } from './glue-small-plan.js';

export interface TaskResult {
  task: string;
  /** the registry's primary metric (what the paper reports) and all metric keys */
  metric: string;
  metricNames: string[];
  /** rows used (after the caps) and rows the split protocol gave */
  rows: { train: number; trainAvailable: number; validation: number; test: number };
  splitProtocol: string;
  notes: string[];
  baselines: { majority: BaselineResult; tfidf: BaselineResult & { seconds: number } };
  runs: Array<RunRow | { method: string; label: string; error: string }>;
}

export interface OrderingRow {
  task: string;
  metric: string;
  dept: number | null;
  pt: number | null;
  /** DePT − PT, test split */
  diff: number | null;
  paperDept: number;
  paperPt: number;
  paperDiff: number;
  /** same sign as the paper's (DePT above PT); null when a run is missing */
  sameOrder: boolean | null;
  /** trainable parameters: DePT's rank is rounded down when (budget − l)·d / (s + d) is not an integer */
  paramsDept: number | null;
  paramsPt: number | null;
}

export interface Ordering {
  rows: OrderingRow[];
  matches: number;
  compared: number;
  meanDept: number | null;
  meanPt: number | null;
  paperMeanDept: number;
  paperMeanPt: number;
  verdict: string;
}

export interface GlueSmallResult {
  bench: 'glue-small';
  date: string;
  command: string;
  machine: MachineInfo;
  model: string;
  tokenizer: string | null;
  dataDir: string;
  settings: {
    steps: number; batchSize: number; maxLength: number; warmupSteps: number; maxTrain: number | null; maxEval: number | null;
    evalMode: string; seed: number; evaluated: string;
  };
  methods: Array<{ key: string; label: string; method: string; why: string }>;
  tasks: TaskResult[];
  ordering: Ordering;
  wall_s: number;
}

export function isRun(r: TaskResult['runs'][number]): r is RunRow {
  return !('error' in r);
}

function runOf(t: TaskResult, key: string): RunRow | undefined {
  const r = t.runs.find((x) => x.method === key);
  return r !== undefined && isRun(r) ? r : undefined;
}

function mean(xs: number[]): number | null {
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** DePT against PT on each task's test metric, beside the paper's (where DePT is above PT on all six). */
export function ordering(tasks: readonly TaskResult[]): Ordering {
  const rows = tasks.map((t): OrderingRow => {
    const p = taskPlan(t.task)!.paper;
    const deptRun = runOf(t, 'dept'), ptRun = runOf(t, 'pt');
    const dept = deptRun?.test[t.metric] ?? null;
    const pt = ptRun?.test[t.metric] ?? null;
    const diff = dept !== null && pt !== null ? dept - pt : null;
    const paperDiff = p.dept - p.pt;
    return { task: t.task, metric: t.metric, dept, pt, diff, paperDept: p.dept, paperPt: p.pt, paperDiff, sameOrder: diff === null ? null : Math.sign(diff) === Math.sign(paperDiff),
      paramsDept: deptRun?.trainable ?? null, paramsPt: ptRun?.trainable ?? null };
  });
  const both = rows.filter((r) => r.diff !== null);
  const matches = both.filter((r) => r.sameOrder === true).length;
  const meanDept = mean(both.map((r) => r.dept!)), meanPt = mean(both.map((r) => r.pt!));
  const ties = both.filter((r) => r.diff === 0).length;
  const f = (x: number | null): string => (x === null ? '–' : x.toFixed(1));
  const verdict = both.length === 0 ? 'no task has both a DePT and a PT run'
    : `DePT above PT on ${matches} of ${both.length} tasks${ties > 0 ? ` (${ties} tied)` : ''}; mean test metric DePT ${f(meanDept)} vs PT ${f(meanPt)}. ` +
      `The paper (T5-Base, 30k+ steps) has DePT above PT on all of them (mean ${f(mean(both.map((r) => r.paperDept)))} vs ${f(mean(both.map((r) => r.paperPt)))}): ` +
      (matches === both.length ? 'the ordering matches.' : matches === 0 ? 'the ordering does not match on any task.' : 'the ordering matches on some tasks only.');
  return {
    rows, matches, compared: both.length, meanDept, meanPt,
    paperMeanDept: mean(rows.map((r) => r.paperDept))!, paperMeanPt: mean(rows.map((r) => r.paperPt))!, verdict,
  };
}

const METRIC_SHORT: Record<string, string> = { accuracy: 'acc', f1: 'F1', matthews_correlation: 'MCC', pearson: 'Pearson', spearmanr: 'Spearman' };

function fmt(x: number | undefined | null, digits = 1): string {
  return x === undefined || x === null || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}

function metricCell(m: Record<string, number>, names: readonly string[]): string {
  return names.map((n) => fmt(m[n])).join(' / ');
}

export function markdown(r: GlueSmallResult): string {
  const s = r.settings;
  const lines: string[] = [];
  lines.push('# glue-small: PT, DePT, LoRA and full fine-tuning on six GLUE/SuperGLUE tasks', '');
  lines.push(`${r.date}, \`${r.command}\`, ${r.machine.cpu}, ${r.machine.threads} threads, load ${r.machine.loadavg_1_5_15.join(' / ')}, ${fmt(r.wall_s / 60)} min in all.`, '');
  lines.push(`Model \`${r.model}\`${r.tokenizer !== null ? ` (tokenizer \`${r.tokenizer}\`)` : ''}; data \`${r.dataDir}\` with DePT's split protocol (src/tasks/splits.ts).`);
  lines.push(`Every run: ${s.steps} steps, batch ${s.batchSize}, max length ${s.maxLength} (dynamic padding), linear warmup ${s.warmupSteps} steps then linear decay, AdamW (eps 1e-6), clip 1.0, seed ${s.seed}, fp32. ` +
    `Training rows capped at ${s.maxTrain ?? 'none (all)'} per task; validation and test at ${s.maxEval ?? 'none (all)'} rows each. ${s.evaluated}`, '');
  lines.push('## Test metric per task', '');
  lines.push('The task\'s metric as the registry defines it (first = the one the paper reports), on the test split (DePT\'s protocol). Baselines are fitted on the same capped training rows.', '');
  const methods = r.methods;
  lines.push(`| task | metric | majority | TF-IDF + LR | ${methods.map((m) => m.label).join(' | ')} |`);
  lines.push(`|---|---|---|---|${methods.map(() => '---|').join('')}`);
  for (const t of r.tasks) {
    const cells = methods.map((m) => {
      const run = t.runs.find((x) => x.method === m.key);
      return run === undefined ? '' : isRun(run) ? metricCell(run.test, t.metricNames) : 'failed';
    });
    lines.push(`| ${t.task} | ${t.metricNames.map((n) => METRIC_SHORT[n] ?? n).join(' / ')} | ${metricCell(t.baselines.majority.test, t.metricNames)} | ${metricCell(t.baselines.tfidf.test, t.metricNames)} | ${cells.join(' | ')} |`);
  }
  lines.push('', '## Cost per run', '');
  lines.push('Step time: median wall time of one training step (forward, backward, clip, AdamW), first step excluded. Eval s: evaluating validation and test after the last step (and saving the adapter). Run s: the whole child process\'s run (load, train, evaluate, save); CPU s: its CPU time over all threads. Peak RSS: the run\'s own process.', '');
  lines.push('| task | method | trainable params | validation | test | step ms | train s | eval s | run s | CPU s | peak RSS MB | loss first → last |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const t of r.tasks) {
    for (const run of t.runs) {
      if (!isRun(run)) {
        lines.push(`| ${t.task} | ${run.label} | failed: ${run.error.replace(/\|/g, '\\|').split('\n')[0]} | | | | | | | | | |`);
        continue;
      }
      lines.push(`| ${t.task} | ${run.label} | ${run.trainable.toLocaleString('en-US')} | ${metricCell(run.validation, t.metricNames)} | ${metricCell(run.test, t.metricNames)} | ${fmt(run.step_ms, 0)} | ${fmt(run.train_s)} | ${fmt(run.eval_s)} | ${fmt(run.run_s)} | ${fmt(run.cpu_s)} | ${run.maxrss_mb} | ${fmt(run.first_loss, 3)} → ${fmt(run.last_loss, 3)} |`);
    }
  }
  lines.push('', '## DePT against PT at the same parameter count', '');
  lines.push('| task | metric | DePT | PT | DePT − PT | paper DePT | paper PT | paper DePT − PT | same order | params DePT / PT |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const o of r.ordering.rows) {
    lines.push(`| ${o.task} | ${METRIC_SHORT[o.metric] ?? o.metric} | ${fmt(o.dept)} | ${fmt(o.pt)} | ${fmt(o.diff)} | ${o.paperDept} | ${o.paperPt} | ${fmt(o.paperDiff)} | ${o.sameOrder === null ? '–' : o.sameOrder ? 'yes' : 'no'} | ${o.paramsDept?.toLocaleString('en-US') ?? '–'} / ${o.paramsPt?.toLocaleString('en-US') ?? '–'}${o.paramsDept !== null && o.paramsPt !== null && o.paramsDept !== o.paramsPt ? ' (not equal: r rounded down)' : ''} |`);
  }
  lines.push('', `**${r.ordering.verdict}**`, '');
  lines.push('Paper numbers: spec §3.1 (DePT paper Table 1 as ULPT reprints it, T5-Base, 220M parameters, tens of thousands of steps). The PT row is the one DePT\'s paper prints (marked [UNVERIFIED] in the spec; ULPT\'s own PT replication is much stronger). This bench trains a far smaller model for a few hundred steps, so only the ordering is comparable, not the levels.', '');
  lines.push('## Settings per method', '');
  for (const m of methods) lines.push(`- **${m.label}** (\`${m.method}\`): ${m.why}.`);
  const lrs = r.tasks.map((t) => {
    const d = t.runs.find((x) => x.method === 'dept');
    return d !== undefined && isRun(d) ? `${t.task}: ${d.summary.replace(/^DePT: /, '')}; lr ${Object.entries(d.lr).map(([k, v]) => `${k} ${v}`).join(', ')}` : null;
  }).filter((x): x is string => x !== null);
  if (lrs.length > 0) lines.push('', 'DePT per task:', '', ...lrs.map((x) => `- ${x}`));
  const notes = r.tasks.flatMap((t) => [
    ...(t.rows.train < t.rows.trainAvailable ? [`${t.task}: training capped at ${t.rows.train} of ${t.rows.trainAvailable} rows.`] : []),
    ...t.notes.map((n) => `${t.task}: ${n}`),
  ]);
  if (notes.length > 0) lines.push('', '## Data notes', '', ...notes.map((n) => `- ${n}`));
  lines.push('', 'Rows per task (train used / validation / test):', '', ...r.tasks.map((t) => `- ${t.task}: ${t.rows.train} / ${t.rows.validation} / ${t.rows.test}; TF-IDF L2 ${t.baselines.tfidf.l2} (picked on validation), fitted in ${fmt(t.baselines.tfidf.seconds)} s`));
  return lines.join('\n') + '\n';
}

/** One bar per (task, method or baseline): the test value of the task's primary metric. */
export function chartValues(r: GlueSmallResult): Array<{ task: string; method: string; value: number; metric: string }> {
  const out: Array<{ task: string; method: string; value: number; metric: string }> = [];
  for (const t of r.tasks) {
    const label = `${t.task} (${METRIC_SHORT[t.metric] ?? t.metric})`;
    const add = (method: string, value: number | undefined): void => {
      if (value !== undefined && Number.isFinite(value)) out.push({ task: label, method, value, metric: t.metric });
    };
    add('majority', t.baselines.majority.test[t.metric]);
    add('TF-IDF + LR', t.baselines.tfidf.test[t.metric]);
    for (const m of r.methods) {
      const run = runOf(t, m.key);
      add(m.label, run?.test[t.metric]);
    }
  }
  return out;
}

export async function svgChart(r: GlueSmallResult): Promise<string> {
  const vl = await import('vega-lite');
  const vega = await import('vega');
  const values = chartValues(r);
  const order = ['majority', 'TF-IDF + LR', ...r.methods.map((m) => m.label)];
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `glue-small: test metric per task (${r.settings.steps} steps, batch ${r.settings.batchSize})`, subtitle: `${modelLabel(r.model)}, ${r.settings.maxTrain ?? 'all'} training rows at most, test split (${r.settings.maxEval ?? 'all'} rows at most)` },
    data: { values },
    width: { step: 14 },
    height: 260,
    mark: { type: 'bar', tooltip: true },
    encoding: {
      x: { field: 'task', type: 'nominal', title: null, axis: { labelAngle: 0 }, sort: [...new Set(values.map((v) => v.task))] },
      xOffset: { field: 'method', type: 'nominal', sort: order },
      y: { field: 'value', type: 'quantitative', title: 'test metric (×100)' },
      color: { field: 'method', type: 'nominal', sort: order, title: null, scale: { range: ['#bbbbbb', '#7f7f7f', '#1f77b4', '#d62728', '#2ca02c', '#9467bd'] } },
    },
    config: { font: 'sans-serif' },
  };
  const compiled = vl.compile(spec as Parameters<typeof vl.compile>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

function modelLabel(model: string): string {
  const rel = relative(repoRoot(), model);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : model;
}

/** Methods in report order, for the JSON. */
export function methodList(keys: readonly string[]): GlueSmallResult['methods'] {
  return METHOD_PLANS.filter((m) => keys.includes(m.key)).map((m) => ({ key: m.key, label: m.label, method: m.method, why: m.why }));
}
