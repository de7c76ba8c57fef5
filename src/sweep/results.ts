/**
 * The paper's selection protocol over a sweep's runs: within each group (default: per task), every configuration
 * is scored by its metric on the selection split (validation), averaged over `averageOver` fields (e.g. seeds);
 * the best score wins and its test metric is the reported number. Pure functions over job records, plus the
 * sweep.json / Markdown / HTML renderings.
 */
import type { JobFailure, RunSummary } from './run-folder.js';
import { fieldValue, type Scalar, type SweepJob, type SweepSelect } from './spec.js';

export type JobState = 'done' | 'failed' | 'running' | 'queued' | 'interrupted' | 'pending';

export interface JobRecord {
  name: string;
  id: string;
  /** Run folder relative to the sweep folder. */
  runDir: string;
  values: Record<string, Scalar>;
  group: Record<string, Scalar>;
  /** The task's primary metric (selection uses select.metric when set). */
  metric: string;
  state: JobState;
  validation: Record<string, number> | null;
  test: Record<string, number> | null;
  bestStep: number | null;
  steps: number | null;
  seconds: number | null;
  worker?: string;
  error?: string;
  progress?: { step: number; steps: number };
}

export interface ConfigRow {
  /** The configuration's grid values without the averaged fields, e.g. "lr=0.3, lrLowrank=0.005". */
  label: string;
  values: Record<string, Scalar>;
  jobs: string[];
  /** Finished runs in the mean. */
  n: number;
  validation: number | null;
  test: number | null;
  validationStd: number | null;
  testStd: number | null;
}

export interface GroupResult {
  group: Record<string, Scalar>;
  label: string;
  metric: string;
  best: ConfigRow | null;
  /** Best first; configurations without a finished run last. */
  rows: ConfigRow[];
}

export interface SweepResults {
  format: 'softprompt.sweep';
  version: 1;
  name: string;
  file: string;
  output: string;
  queue: string | null;
  select: SweepSelect;
  updatedAt: string;
  counts: Record<JobState, number>;
  groups: GroupResult[];
  jobs: (JobRecord & { config: Record<string, unknown> })[];
}

/** A job's record from its plan entry and what is known of its run. */
export function jobRecord(job: SweepJob, output: string, select: SweepSelect, primaryMetric: string,
  state: JobState, summary: RunSummary | null, extra: { worker?: string; failure?: JobFailure | null; progress?: { step: number; steps: number } } = {}): JobRecord {
  const rel = job.runDir.startsWith(output + '/') ? job.runDir.slice(output.length + 1) : job.runDir;
  const rec: JobRecord = {
    name: job.name, id: job.id, runDir: rel, values: job.values,
    group: Object.fromEntries(select.groupBy.map((k) => [k, fieldValue(job, k)])),
    metric: primaryMetric, state,
    validation: summary?.bestValidation ?? null, test: summary?.test ?? null,
    bestStep: summary?.loop.bestStep ?? null, steps: summary?.loop.step ?? null, seconds: summary?.seconds ?? null,
  };
  if (extra.worker !== undefined) rec.worker = extra.worker;
  if (extra.failure !== undefined && extra.failure !== null) rec.error = `${extra.failure.code}: ${extra.failure.message}`;
  if (extra.progress !== undefined) rec.progress = extra.progress;
  return rec;
}

function labelOf(values: Record<string, Scalar>): string {
  const parts = Object.entries(values).map(([k, v]) => `${k}=${v}`);
  return parts.length === 0 ? '(base)' : parts.join(', ');
}

function meanStd(xs: number[]): [number | null, number | null] {
  if (xs.length === 0) return [null, null];
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (xs.length === 1) return [m, null];
  const v = xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1);
  return [m, Math.sqrt(v)];
}

/** Group, average and rank the jobs by the selection rule. */
export function selectBest(jobs: readonly JobRecord[], select: SweepSelect): GroupResult[] {
  const groups = new Map<string, JobRecord[]>();
  for (const j of jobs) {
    const key = JSON.stringify(select.groupBy.map((k) => j.group[k] ?? null));
    groups.set(key, [...(groups.get(key) ?? []), j]);
  }
  const out: GroupResult[] = [];
  for (const members of groups.values()) {
    const metric = select.metric ?? members[0]!.metric;
    const configs = new Map<string, JobRecord[]>();
    const valuesOf = (j: JobRecord): Record<string, Scalar> =>
      Object.fromEntries(Object.entries(j.values).filter(([k]) => !select.averageOver.includes(k) && !select.groupBy.includes(k)));
    for (const j of members) {
      const key = JSON.stringify(valuesOf(j));
      configs.set(key, [...(configs.get(key) ?? []), j]);
    }
    const rows: ConfigRow[] = [...configs.values()].map((runs) => {
      const done = runs.filter((r) => r.state === 'done');
      const pick = (split: 'validation' | 'test'): number[] => done.flatMap((r) => {
        const v = r[split]?.[metric];
        return typeof v === 'number' && Number.isFinite(v) ? [v] : [];
      });
      const [validation, validationStd] = meanStd(pick('validation'));
      const [test, testStd] = meanStd(pick('test'));
      const values = valuesOf(runs[0]!);
      return { label: labelOf(values), values, jobs: runs.map((r) => r.name), n: done.length, validation, test, validationStd, testStd };
    });
    const score = (r: ConfigRow): number | null => (select.split === 'validation' ? r.validation : r.test);
    const sign = select.mode === 'max' ? -1 : 1;
    const ranked = rows.map((r, i) => ({ r, i })).sort((a, b) => {
      const sa = score(a.r), sb = score(b.r);
      if (sa === null || sb === null) return (sa === null ? 1 : 0) - (sb === null ? 1 : 0) || a.i - b.i;
      return sign * (sa - sb) || a.i - b.i; // ties: the first configuration in grid order
    }).map((x) => x.r);
    const group = members[0]!.group;
    const best = ranked[0] !== undefined && score(ranked[0]) !== null ? ranked[0] : null;
    out.push({ group, label: labelOf(group), metric, best, rows: ranked });
  }
  return out;
}

export function countStates(jobs: readonly JobRecord[]): Record<JobState, number> {
  const c: Record<JobState, number> = { done: 0, failed: 0, running: 0, queued: 0, interrupted: 0, pending: 0 };
  for (const j of jobs) c[j.state]++;
  return c;
}

export function fmt(v: number | null, std: number | null = null): string {
  if (v === null) return '–';
  const s = Number(v.toFixed(4)).toString();
  return std === null ? s : `${s} ± ${Number(std.toFixed(2)).toString()}`;
}

function countsLine(c: Record<JobState, number>): string {
  const total = Object.values(c).reduce((a, b) => a + b, 0);
  const parts = (Object.entries(c) as [JobState, number][]).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`);
  return `${total} jobs: ${parts.join(' · ')}`;
}

function protocolLine(r: SweepResults): string {
  const s = r.select;
  const by = s.groupBy.length > 0 ? `per ${s.groupBy.join(' × ')}` : 'over all jobs';
  const avg = s.averageOver.length > 0 ? ` (mean over ${s.averageOver.join(', ')})` : '';
  const other = s.split === 'validation' ? 'test' : 'validation';
  const metrics = [...new Set(r.groups.map((g) => g.metric))];
  const metric = s.metric ?? `primary metric (${metrics.length > 0 ? metrics.join(', ') : 'per task'})`;
  return `Selection ${by}: the configuration with the ${s.mode === 'max' ? 'highest' : 'lowest'} ${s.split} ${metric}${avg}; its ${other} metric is reported.`;
}

function axisKeys(g: GroupResult): string[] {
  const keys: string[] = [];
  for (const r of g.rows) for (const k of Object.keys(r.values)) if (!keys.includes(k)) keys.push(k);
  return keys;
}

function mdCell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

export function renderMarkdown(r: SweepResults): string {
  const lines = [`# Sweep ${r.name}`, '', `${countsLine(r.counts)}. ${protocolLine(r)}`, ''];
  const gkeys = r.select.groupBy;
  lines.push(`| ${[...gkeys, 'best configuration', 'metric', 'validation', 'test', 'runs'].join(' | ')} |`);
  lines.push(`|${' --- |'.repeat(gkeys.length + 5)}`);
  for (const g of r.groups) {
    const b = g.best;
    lines.push(`| ${[...gkeys.map((k) => String(g.group[k])), b?.label ?? '(no finished run)', g.metric, fmt(b?.validation ?? null, b?.validationStd ?? null), fmt(b?.test ?? null, b?.testStd ?? null), String(b?.n ?? 0)].map(mdCell).join(' | ')} |`);
  }
  for (const g of r.groups) {
    const keys = axisKeys(g);
    lines.push('', `## ${g.label} — ${g.metric}`, '');
    lines.push(`| ${['#', ...keys, `validation ${g.metric}`, `test ${g.metric}`, 'runs', 'jobs'].join(' | ')} |`);
    lines.push(`|${' --- |'.repeat(keys.length + 5)}`);
    g.rows.forEach((row, i) => {
      lines.push(`| ${[String(i + 1), ...keys.map((k) => String(row.values[k] ?? '')), fmt(row.validation, row.validationStd), fmt(row.test, row.testStd), `${row.n}/${row.jobs.length}`, row.jobs.map((j) => `runs/${j}`).join(' ')].map(mdCell).join(' | ')} |`);
    });
  }
  const failed = r.jobs.filter((j) => j.state === 'failed');
  if (failed.length > 0) {
    lines.push('', '## Failed jobs', '');
    for (const j of failed) lines.push(`- ${j.name}: ${j.error ?? 'failed'}`);
  }
  return lines.join('\n') + '\n';
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function htmlTable(head: string[], rows: string[][]): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('');
  const body = rows.map((row) => `<tr>${row.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table class="sortable"><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** A standalone page; click a column header to sort by it. */
export function renderHtml(r: SweepResults): string {
  const gkeys = r.select.groupBy;
  const parts = [`<h1>Sweep ${esc(r.name)}</h1>`, `<p>${esc(countsLine(r.counts))}. ${esc(protocolLine(r))}</p>`];
  parts.push(htmlTable([...gkeys, 'best configuration', 'metric', 'validation', 'test', 'runs'], r.groups.map((g) => {
    const b = g.best;
    return [...gkeys.map((k) => String(g.group[k])), b?.label ?? '(no finished run)', g.metric, fmt(b?.validation ?? null, b?.validationStd ?? null), fmt(b?.test ?? null, b?.testStd ?? null), String(b?.n ?? 0)];
  })));
  for (const g of r.groups) {
    const keys = axisKeys(g);
    parts.push(`<h2>${esc(g.label)} — ${esc(g.metric)}</h2>`);
    parts.push(htmlTable(['#', ...keys, `validation ${g.metric}`, `test ${g.metric}`, 'runs', 'jobs'], g.rows.map((row, i) =>
      [String(i + 1), ...keys.map((k) => String(row.values[k] ?? '')), fmt(row.validation, row.validationStd), fmt(row.test, row.testStd), `${row.n}/${row.jobs.length}`, row.jobs.join(' ')])));
  }
  const script = `document.querySelectorAll('table.sortable th').forEach((th, col) => th.addEventListener('click', () => {
  const body = th.closest('table').tBodies[0]; const asc = th.dataset.asc !== '1'; th.dataset.asc = asc ? '1' : '0';
  const key = (tr) => { const t = tr.cells[col].textContent; const n = parseFloat(t); return Number.isNaN(n) ? t : n; };
  [...body.rows].sort((a, b) => { const x = key(a), y = key(b); const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y)); return asc ? c : -c; }).forEach((tr) => body.appendChild(tr));
}));`;
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Sweep ${esc(r.name)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}th{cursor:pointer;background:#f4f4f4}</style>
</head><body>
${parts.join('\n')}
<script>${script}</script>
</body></html>
`;
}
