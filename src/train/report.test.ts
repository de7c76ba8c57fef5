/**
 * report.html of a real (tiny) train run: its structure as an HTML5 parser sees it (parse5, the WHATWG algorithm
 * browsers use), then the page in a real headless Chromium when one is installed (Debian's `chromium`): no console
 * errors, no network, charts drawn at a nonzero size, a screenshot.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse, type DefaultTreeAdapterMap } from 'parse5';
import { repoRoot } from '../../test/paths.js';
import { parseTrainConfig } from './config.js';
import { readMetrics } from './metrics-log.js';
import { REPORT_FILE, renderRunReport } from './report.js';
import { trainRun } from './run.js';

type Node = DefaultTreeAdapterMap['node'];
type El = DefaultTreeAdapterMap['element'];

function* walk(n: Node): Generator<Node> {
  yield n;
  const kids = 'childNodes' in n ? n.childNodes : [];
  for (const k of kids) yield* walk(k);
  if (n.nodeName === 'template') yield* walk((n as DefaultTreeAdapterMap['template']).content);
}
const isElement = (n: Node): n is El => 'tagName' in n;
const elements = (root: Node, tag?: string): El[] => [...walk(root)].filter(isElement).filter((e) => tag === undefined || e.tagName === tag);
const attr = (e: El, name: string): string | undefined => e.attrs.find((a) => a.name === name)?.value;
const byId = (root: Node, id: string): El => {
  const found = elements(root).filter((e) => attr(e, 'id') === id);
  assert.equal(found.length, 1, `one element with id ${id}`);
  return found[0]!;
};
const text = (root: Node): string => [...walk(root)].map((n) => (n.nodeName === '#text' ? (n as DefaultTreeAdapterMap['textNode']).value : '')).join('');
/** Rows of a table as [header cell, data cells…] texts. */
const rows = (table: El): string[][] => elements(table, 'tr').map((tr) => elements(tr).filter((c) => c.tagName === 'th' || c.tagName === 'td').map((c) => text(c).trim()));

const root = repoRoot();
let runDir = '';

before(() => {
  runDir = mkdtempSync(join(tmpdir(), 'sp-report-'));
  trainRun(parseTrainConfig({
    model: join(root, 'test/fixtures/t5-tiny'), tokenizer: join(root, 'test/fixtures/tokenizers/t5'),
    task: 'sst2', dataDir: join(root, 'data'), method: 'dept', promptLength: 4, budget: 6, maxLength: 24,
    batchSize: 4, steps: 12, evalEvery: 4, warmupSteps: 2, evalMode: 'rank', maxTrainExamples: 48, maxEvalExamples: 16,
    evalBatchSize: 16, quiet: true, output: runDir,
  }), { log: () => {} });
});

test('report.html: a self-contained HTML5 page with facts, metrics, both charts, the config and the model card', () => {
  const html = readFileSync(join(runDir, REPORT_FILE), 'utf8');
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  const doc = parse(html, { sourceCodeLocationInfo: false });
  assert.equal(text(elements(doc, 'title')[0]!), 'dept on sst2');
  const csp = elements(doc, 'meta').find((m) => attr(m, 'http-equiv') === 'Content-Security-Policy');
  assert.match(attr(csp!, 'content')!, /default-src 'none'/);
  // Self-contained: nothing that loads or runs anything.
  for (const tag of ['script', 'link', 'img', 'iframe', 'object', 'embed']) assert.equal(elements(doc, tag).length, 0, `no <${tag}>`);
  assert.ok(elements(doc).every((e) => attr(e, 'src') === undefined), 'no src attributes');
  assert.doesNotMatch(html, /url\(/);

  assert.deepEqual(elements(doc, 'section').map((s) => attr(s, 'id')), ['summary', 'metrics', 'curves', 'config', 'model-card']);

  const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as { test: Record<string, number>; bestValidation: Record<string, number>; loop: { bestStep: number } };
  const metrics = rows(byId(doc, 'metrics-table'));
  assert.deepEqual(metrics[0], ['metric', `validation (best, step ${summary.loop.bestStep})`, 'test']);
  assert.deepEqual(metrics[1], ['accuracy', String(summary.bestValidation['accuracy']), String(summary.test['accuracy'])]);
  const facts = Object.fromEntries(rows(byId(doc, 'facts')).map(([k, v]) => [k, v]));
  assert.equal(facts['status'], 'completed');
  assert.equal(facts['steps'], '12 of 12');

  // Charts: inline SVG documents, the loss chart drawing every logged step.
  const loss = byId(doc, 'loss-chart');
  const svg = elements(loss, 'svg');
  assert.equal(svg.length, 1);
  assert.ok(Number(attr(svg[0]!, 'width')) > 100 && Number(attr(svg[0]!, 'height')) > 100);
  const logged = readMetrics(join(runDir, 'metrics.jsonl')).filter((r) => typeof r.loss === 'number').length;
  const lossPath = elements(loss, 'path').find((p) => attr(p, 'aria-label')?.endsWith('series: loss'));
  assert.equal(attr(lossPath!, 'd')!.match(/[ML]/g)!.length, logged);
  assert.equal(elements(byId(doc, 'eval-chart'), 'svg').length, 1);
  assert.equal(readFileSync(join(runDir, 'loss.svg'), 'utf8').trim(), html.slice(html.indexOf('<svg', html.indexOf('id="loss-chart"')), html.indexOf('</svg>', html.indexOf('id="loss-chart"')) + 6),
    'the report shows the same chart as loss.svg');

  const config = JSON.parse(readFileSync(join(runDir, 'run_config.json'), 'utf8')) as Record<string, unknown>;
  const configRows = rows(byId(doc, 'config-table'));
  assert.deepEqual(configRows.map((r) => r[0]), Object.keys(config));
  assert.equal(configRows.find((r) => r[0] === 'steps')![1], '12');

  const card = readFileSync(join(runDir, 'adapter/README.md'), 'utf8');
  const section = byId(doc, 'model-card');
  assert.equal(text(elements(section, 'h1')[0]!), /^# (.*)$/m.exec(card)![1]);
  // the card names the base model by its folder; the full path of this machine stays in run_config.json
  assert.match(text(elements(section, 'pre')[0]!), /^base_model: t5-tiny$/m);
  assert.equal(config['model'], join(root, 'test/fixtures/t5-tiny'));
  assert.ok(!card.includes(root) && !card.includes(runDir), 'no path of the training machine in the model card');
  assert.ok(elements(section, 'table').length >= 2, 'the card\'s Markdown tables became tables');
});

test('renderRunReport escapes every string: titles, config values and raw HTML in the card stay text', () => {
  const evil = '<script>alert(1)</script><img src=x onerror=alert(2)>';
  const html = renderRunReport({
    title: evil, subtitle: evil, facts: { [evil]: evil }, metrics: { [evil]: { [evil]: 1 } }, config: { [evil]: evil },
    modelCard: `---\nbase_model: x\n---\n# ${evil}\n\n${evil}\n\n<div onclick="x()">raw</div>\n`, records: [{ step: 1, loss: 1 }, { step: 2, loss: 0.5 }],
  });
  const doc = parse(html);
  for (const tag of ['script', 'img']) assert.equal(elements(doc, tag).length, 0, `no <${tag}>`);
  assert.deepEqual(elements(doc, 'div').map((d) => attr(d, 'class')), ['charts'], 'only the report\'s own <div>');
  assert.ok(elements(doc).every((e) => e.attrs.every((a) => !a.name.startsWith('on'))), 'no event handlers');
  assert.ok(text(doc).includes(evil), 'shown as text');
});

/** Debian's chromium, or CHROMIUM_PATH. */
function chromiumPath(): string | null {
  for (const p of [process.env['CHROMIUM_PATH'], '/usr/bin/chromium', '/usr/bin/chromium-browser']) if (p && existsSync(p)) return p;
  return null;
}
const chromium = chromiumPath();

test('report.html renders in headless Chromium: no console errors or requests, charts drawn, screenshot', {
  skip: chromium === null ? 'no Chromium installed (apt-get install chromium, or set CHROMIUM_PATH)' : false,
  timeout: 120_000,
}, async () => {
  const { chromium: launcher } = await import('playwright-core');
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start; the page is our own file.
  const browser = await launcher.launch({ executablePath: chromium!, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    const url = pathToFileURL(join(runDir, REPORT_FILE)).href;
    page.on('request', (r) => { if (r.url() !== url) problems.push(`request: ${r.url()}`); });
    await page.goto(url, { waitUntil: 'load' });
    const seen = await page.evaluate(() => {
      const box = (e: Element | null) => { const r = e?.getBoundingClientRect(); return r ? { w: r.width, h: r.height } : null; };
      return {
        title: document.title,
        charts: [...document.querySelectorAll('figure.chart')].map((f) => ({
          id: f.id, svg: box(f.querySelector('svg')),
          // the drawn lines' own extent, from the layout engine
          lines: [...f.querySelectorAll('path[aria-roledescription="line mark"]')].map((p) => { const b = (p as SVGGraphicsElement).getBBox(); return { w: b.width, h: b.height }; }),
        })),
        tables: document.querySelectorAll('table').length,
        cardTitle: document.querySelector('#model-card article h1')?.textContent ?? null,
      };
    });
    assert.deepEqual(problems, []);
    assert.equal(seen.title, 'dept on sst2');
    assert.deepEqual(seen.charts.map((c) => c.id), ['loss-chart', 'eval-chart']);
    for (const c of seen.charts) {
      assert.ok(c.svg !== null && c.svg.w > 300 && c.svg.h > 150, `${c.id} drawn at ${JSON.stringify(c.svg)}`);
      assert.ok(c.lines.length > 0 && c.lines.every((l) => l.w > 10), `${c.id} lines ${JSON.stringify(c.lines)}`);
    }
    assert.ok(seen.tables >= 5 && seen.cardTitle !== null);
    const shot = join(runDir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true, timeout: 60_000 });
    const png = readFileSync(shot);
    assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
    const [w, h] = [png.readUInt32BE(16), png.readUInt32BE(20)];
    assert.ok(w === 1100 && h > 900, `full page ${w}×${h}`);
    assert.ok(statSync(shot).size > 20_000, 'a screenshot with content');
  } finally {
    await browser.close();
  }
});
