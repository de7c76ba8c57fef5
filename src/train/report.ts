/**
 * report.html: one self-contained page per run folder, for a browser opened on the file (file://). It holds the
 * run's facts and metrics, the training curves as inline SVG (the same charts as loss.svg / eval.svg), the
 * configuration, and the adapter's model card (Markdown rendered to HTML). No scripts and no external resources:
 * a Content-Security-Policy of default-src 'none' makes the browser refuse any load, so the page shows the same
 * offline, years later, as today.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Marked } from 'marked';
import { atomicWriteFile } from '../io/atomic.js';
import { evalChartOptions, lossChartOptions, renderLineChart, type CurvesOptions } from './curves.js';
import type { MetricsRecord } from './metrics-log.js';

export const REPORT_FILE = 'report.html';

export type ReportValue = string | number | boolean | null;

export interface RunReport {
  /** Page title, e.g. "dept on sst2". */
  title: string;
  /** One line under the title, e.g. the run folder. */
  subtitle?: string;
  /** Key facts in order (steps, time, trainable parameters…). */
  facts: Record<string, ReportValue>;
  /** Final metrics by split ("best validation", "test"…), each metric name → value. */
  metrics?: Record<string, Record<string, number>>;
  /** The resolved configuration (run_config.json), shown key by key. */
  config: Record<string, unknown>;
  /** The adapter's model card (README.md, Markdown with YAML front matter). */
  modelCard?: string;
  /** metrics.jsonl's records, for the curves. */
  records: readonly MetricsRecord[];
  curves?: CurvesOptions;
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function formatValue(v: unknown): string {
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return v.toLocaleString('en-US');
    return Number.isFinite(v) ? String(Number.parseFloat(v.toPrecision(6))) : String(v);
  }
  if (v === null || v === undefined) return '–';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

function keyValueTable(id: string, rows: Record<string, unknown>): string {
  const body = Object.entries(rows)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(formatValue(v))}</td></tr>`)
    .join('\n');
  return `<table id="${id}" class="kv">\n${body}\n</table>`;
}

/** One row per metric, one column per split. */
function metricsTable(metrics: Record<string, Record<string, number>>): string {
  const splits = Object.keys(metrics);
  const names = [...new Set(splits.flatMap((s) => Object.keys(metrics[s]!)))];
  const head = `<tr><th scope="col">metric</th>${splits.map((s) => `<th scope="col">${escapeHtml(s)}</th>`).join('')}</tr>`;
  const rows = names.map((n) => `<tr><th scope="row">${escapeHtml(n)}</th>${splits.map((s) => `<td>${escapeHtml(formatValue(metrics[s]![n]))}</td>`).join('')}</tr>`);
  return `<table id="metrics-table">\n<thead>${head}</thead>\n<tbody>\n${rows.join('\n')}\n</tbody>\n</table>`;
}

/** Model card Markdown → HTML; raw HTML in the card is shown as text, never interpreted. */
function renderModelCard(markdown: string): string {
  const m = /^---\n([\s\S]*?)\n---\n/.exec(markdown);
  const front = m === null ? '' : m[1]!;
  const body = m === null ? markdown : markdown.slice(m[0].length);
  const md = new Marked({ async: false, gfm: true });
  md.use({ renderer: { html: ({ text }) => escapeHtml(text) } });
  const html = md.parse(body) as string;
  const meta = front === '' ? '' : `<details open><summary>metadata</summary><pre class="front-matter">${escapeHtml(front)}</pre></details>\n`;
  return `${meta}<article class="card">\n${html}</article>`;
}

const STYLE = `
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1f24; background: #f6f7f9; margin: 0; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 32px 64px; background: #fff; }
h1 { font-size: 26px; margin: 8px 0 2px; }
h2 { font-size: 19px; border-bottom: 1px solid #d8dee4; padding-bottom: 4px; margin-top: 32px; }
.subtitle { color: #57606a; margin: 0 0 8px; font-family: ui-monospace, monospace; font-size: 13px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #d8dee4; padding: 4px 10px; text-align: left; vertical-align: top; }
thead th { background: #f0f3f6; }
table.kv th { background: #f6f8fa; font-weight: 600; white-space: nowrap; }
td { font-variant-numeric: tabular-nums; word-break: break-word; }
.charts { display: flex; flex-direction: column; gap: 16px; }
figure.chart { margin: 0; }
figure.chart svg { max-width: 100%; height: auto; display: block; }
figure.chart figcaption { color: #57606a; font-size: 13px; }
pre { background: #f6f8fa; padding: 10px 12px; overflow-x: auto; font-size: 13px; border-radius: 4px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
article.card { border: 1px solid #d8dee4; border-radius: 6px; padding: 4px 20px; }
article.card h1 { font-size: 21px; }
article.card h2 { font-size: 17px; margin-top: 20px; }
details summary { cursor: pointer; color: #57606a; }
p.empty { color: #57606a; font-style: italic; }
`;

/** The report page for a run. */
export function renderRunReport(r: RunReport): string {
  const loss = lossChartOptions(r.records, r.curves?.smoothing ?? 0.9);
  const ev = evalChartOptions(r.records, r.curves ?? {});
  const figure = (id: string, file: string, svg: string): string =>
    `<figure class="chart" id="${id}">\n${svg.trim()}\n<figcaption>also in ${file}</figcaption>\n</figure>`;
  const charts = [
    ...(loss !== null ? [figure('loss-chart', 'loss.svg', renderLineChart(loss))] : []),
    ...(ev !== null ? [figure('eval-chart', 'eval.svg', renderLineChart(ev))] : []),
  ];
  const sections = [
    `<section id="summary">\n<h2>Summary</h2>\n${keyValueTable('facts', r.facts)}\n</section>`,
  ];
  if (r.metrics !== undefined && Object.keys(r.metrics).length > 0) {
    sections.push(`<section id="metrics">\n<h2>Metrics</h2>\n${metricsTable(r.metrics)}\n</section>`);
  }
  sections.push(
    `<section id="curves">\n<h2>Curves</h2>\n${charts.length > 0 ? `<div class="charts">\n${charts.join('\n')}\n</div>` : '<p class="empty">No steps were logged.</p>'}\n</section>`,
    `<section id="config">\n<h2>Configuration</h2>\n${keyValueTable('config-table', r.config)}\n</section>`,
  );
  if (r.modelCard !== undefined) sections.push(`<section id="model-card">\n<h2>Model card</h2>\n${renderModelCard(r.modelCard)}\n</section>`);
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="generator" content="softprompt">',
    `<title>${escapeHtml(r.title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    '<main>',
    `<header>\n<h1>${escapeHtml(r.title)}</h1>${r.subtitle !== undefined ? `\n<p class="subtitle">${escapeHtml(r.subtitle)}</p>` : ''}\n</header>`,
    ...sections,
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** Writes `<dir>/report.html` atomically; returns its path. */
export function writeRunReport(dir: string, r: RunReport): string {
  const file = join(dir, REPORT_FILE);
  atomicWriteFile(file, renderRunReport(r));
  return file;
}

/** A file's text, or undefined when it is not there (the report shows what the run folder holds). */
export function readIfExists(file: string): string | undefined {
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}
