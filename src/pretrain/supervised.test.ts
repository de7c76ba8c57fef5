import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadTokenizerSync } from '../io/tokenizer.js';
import { bundledDataDir } from '../tasks/registry.js';
import { expectError } from '../../test/expect-error.js';
import { fixture } from '../../test/paths.js';
import { buildCorpus, CORPUS_MANIFEST, SPAN_FILE, SUPERVISED_FILE, wikitextDocuments, type CorpusSource } from './corpus-builder.js';
import { supervisedExamples, tokenizeSupervised } from './supervised.js';

const DATA = bundledDataDir(); // real GLUE slices: sst2, rte, cola
const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-sup-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));
const tok = loadTokenizerSync(fixture('tokenizers', 't5'));

/** CoLA's header-less TSV: source, label, original label, sentence. */
function colaRows(): { label: string; sentence: string }[] {
  return fs.readFileSync(path.join(DATA, 'cola', 'train.tsv'), 'utf8').split('\n').filter((l) => l !== '')
    .map((l) => l.split('\t')).map((c) => ({ label: c[1]!, sentence: c[3]! }));
}

describe('supervised mixture examples', () => {
  it('CoLA: "cola sentence: …" → acceptable / unacceptable by the file\'s label column; polar words too', () => {
    const rows = colaRows();
    const t5 = supervisedExamples(DATA, ['cola'], 't5');
    const polar = supervisedExamples(DATA, ['cola'], 'polar');
    assert.equal(t5.length, rows.length);
    const bySentence = new Map(rows.map((r) => [`cola sentence: ${r.sentence}`, r.label]));
    for (let i = 0; i < t5.length; i++) {
      const label = bySentence.get(t5[i]!.input);
      assert.ok(label !== undefined, t5[i]!.input);
      assert.equal(t5[i]!.target, label === '1' ? 'acceptable' : 'unacceptable');
      assert.equal(polar[i]!.target, label === '1' ? 'positive' : 'negative');
      assert.equal(polar[i]!.input, t5[i]!.input);
    }
  });

  it('RTE: entailment is the first class; sentence1/sentence2 prefixes', () => {
    const ex = supervisedExamples(DATA, ['rte'], 't5');
    const raw = fs.readFileSync(path.join(DATA, 'rte', 'train.tsv'), 'utf8').split('\n').slice(1).filter((l) => l !== '').map((l) => l.split('\t'));
    const first = raw[0]!; // index, sentence1, sentence2, label
    const e = ex.find((x) => x.input === `rte sentence1: ${first[1]} sentence2: ${first[2]}`);
    assert.ok(e !== undefined);
    assert.equal(e.target, first[3]);
    assert.deepEqual(new Set(ex.map((x) => x.target)), new Set(['entailment', 'not_entailment']));
  });

  it('SST-2 and unknown tasks are refused', () => {
    expectError(() => supervisedExamples(DATA, ['cola', 'sst2']), 'invalid_config', 'sst2', 'unseen');
    expectError(() => supervisedExamples(DATA, ['imdb']), 'invalid_config', 'imdb');
  });

  it('tokenized with EOS; long inputs cut with EOS last', () => {
    const [t] = tokenizeSupervised([{ task: 'cola', input: 'cola sentence: A b c d e f g.', target: 'acceptable' }], tok, 5);
    assert.equal(t!.inputs.length, 5);
    assert.equal(t!.inputs[4], tok.eosId);
    assert.deepEqual([...t!.targets], tok.encode('acceptable'));
  });
});

describe('corpus builder', () => {
  const sources: CorpusSource[] = [
    { name: 'cola', task: 'cola', license: 'L1', origin: 'O1' },
    { name: 'sst2', task: 'sst2', license: 'L2', origin: 'O2' },
    { name: 'wiki', file: path.relative(DATA, fixture('pretrain', 'wikitext-sample.txt')), clean: 'wikitext', license: 'CC BY-SA 3.0', origin: 'O3' },
  ];

  it('wikitext clean-up: headings and blank lines dropped, @-@ @.@ @,@ undone', () => {
    assert.deepEqual(wikitextDocuments(' \n = Title = \n a 1 @,@ 000 km @-@ long , 0 @.@ 5 m . \n = = Sub = = \n'), ['a 1,000 km-long , 0.5 m .']);
  });

  it('span.txt holds the train-split text of every source once, supervised.jsonl the tasks\' rows, corpus.json the counts', () => {
    const out = path.join(ROOT, 'corpus');
    const reports = buildCorpus(DATA, out, { tokenizer: tok, sources, supervisedTasks: ['cola'] });
    const lines = fs.readFileSync(path.join(out, SPAN_FILE), 'utf8').split('\n').filter((l) => l !== '');
    const cola = colaRows();
    assert.ok(cola.every((r) => lines.includes(`sentence: ${r.sentence}`)));
    assert.ok(lines.some((l) => l.startsWith('Homarus gammarus , known as')));
    assert.ok(!lines.some((l) => l.includes('@') || l.startsWith('=')));
    const span = reports.filter((r) => r.part === 'span');
    assert.deepEqual(span.map((r) => r.name), ['cola', 'sst2', 'wiki']);
    assert.equal(span.reduce((a, r) => a + r.documents, 0), lines.length);
    assert.equal(span.reduce((a, r) => a + r.tokens, 0), lines.reduce((a, l) => a + tok.encode(l).length, 0));
    // SST-2 text, never its labels: its rows are in span.txt only, as text without a label word
    const sup = fs.readFileSync(path.join(out, SUPERVISED_FILE), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { task: string });
    assert.equal(sup.length, cola.length);
    assert.ok(sup.every((r) => r.task === 'cola'));
    const manifest = JSON.parse(fs.readFileSync(path.join(out, CORPUS_MANIFEST), 'utf8')) as { sources: { name: string; files: { sha256: string }[] }[] };
    assert.match(manifest.sources[0]!.files[0]!.sha256, /^[0-9a-f]{64}$/);
  });

  it('--exclude sst2 keeps SST-2 text out too; unknown names are refused', () => {
    const out = path.join(ROOT, 'no-sst2');
    const reports = buildCorpus(DATA, out, { tokenizer: tok, sources, exclude: ['sst2'], supervisedTasks: [] });
    assert.deepEqual(reports.map((r) => r.name), ['cola', 'wiki']);
    const sst2 = fs.readFileSync(path.join(DATA, 'sst2', 'train.tsv'), 'utf8').split('\n')[1]!.split('\t')[0]!.trim();
    assert.ok(!fs.readFileSync(path.join(out, SPAN_FILE), 'utf8').includes(sst2));
    expectError(() => buildCorpus(DATA, out, { tokenizer: tok, sources, exclude: ['imdb'] }), 'invalid_config', 'imdb');
  });
});
