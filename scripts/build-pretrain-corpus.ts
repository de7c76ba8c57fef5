/**
 * Build the pretraining corpus from the public text in a data folder (default ../shared/data):
 *
 *   npx tsx scripts/build-pretrain-corpus.ts [--data ../shared/data] [--out corpus/] [--exclude sst2,qqp]
 *     [--supervised-tasks cola,rte,…|none] [--label-words t5|polar] [--silver-sentiment] [--silver-student] [--tokenizer test/fixtures/tokenizers/t5]
 *
 * Writes span.txt, supervised.jsonl (and with --silver-student silver-student.jsonl) and corpus.json (sources, licenses, T5 token counts) into --out, and prints
 * the table. The files are regenerated, not committed (they are several MB).
 */
import path from 'node:path';
import { loadTokenizerSync } from '../src/io/tokenizer.js';
import { buildCorpus } from '../src/pretrain/corpus-builder.js';
import type { LabelWordSet } from '../src/pretrain/supervised.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.lastIndexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}
const list = (s: string) => (s === '' ? [] : s.split(','));

const dataDir = flag('--data', path.join('..', 'shared', 'data'));
const outDir = flag('--out', 'corpus');
const sup = flag('--supervised-tasks', '');
const t0 = Date.now();
const reports = buildCorpus(dataDir, outDir, {
  tokenizer: loadTokenizerSync(flag('--tokenizer', path.join('test', 'fixtures', 'tokenizers', 't5'))),
  exclude: list(flag('--exclude', '')),
  ...(sup === '' ? {} : { supervisedTasks: sup === 'none' ? [] : list(sup) }),
  labelWords: flag('--label-words', 't5') as LabelWordSet,
  silverSentiment: process.argv.includes('--silver-sentiment'),
  silverStudent: process.argv.includes('--silver-student'),
});
const pad = (s: string | number, n: number) => String(s).padStart(n);
for (const part of ['span', 'supervised'] as const) {
  const rows = reports.filter((r) => r.part === part);
  console.log(`\n${part === 'span' ? 'span corruption (span.txt)' : 'supervised mixture (supervised.jsonl)'}`);
  for (const r of rows) console.log(`${r.name.padEnd(28)} ${pad(r.documents, 7)} docs ${pad(r.tokens, 9)} tokens   ${r.license}`);
  console.log(`${'total'.padEnd(28)} ${pad(rows.reduce((a, r) => a + r.documents, 0), 7)} docs ${pad(rows.reduce((a, r) => a + r.tokens, 0), 9)} tokens`);
}
console.log(`\nwrote ${outDir}/ in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
