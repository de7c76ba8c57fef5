import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { cola, makeStsb, mnli, mrpc, qnli, qqp, rte, sst2, stsb, wnli } from './glue.js';
import { bundledDataDir } from './registry.js';
import { HAVE_SHARED, SHARED_DATA, softError, tempData } from './test-helpers.js';

test('bundled slices read in the GLUE formats', () => {
  const data = bundledDataDir();
  const s = sst2.read(path.join(data, 'sst2'), 'dev');
  assert.equal(s.length, 200);
  // first row of glue/SST-2/dev.tsv; the trailing space is in the file (and in HF glue/sst2)
  assert.deepEqual(s[0], { source: "sentence: it 's a charming and often affecting journey . ", target: '1', label: 1, id: 'dev.tsv:2' });
  const c = cola.read(data, 'train'); // a data root works too: data/cola/train.tsv
  assert.equal(c.length, 400);
  assert.deepEqual(c[0], { source: "sentence: Our friends won't buy this analysis, let alone the next one we propose.", target: '1', label: 1, id: 'train.tsv:1' });
  const r = rte.read(data, 'dev');
  assert.equal(r.length, 200);
  assert.equal(r[0]?.source, 'sentence1: Dana Reeve, the widow of the actor Christopher Reeve, has died of lung cancer at age 44, according to the Christopher Reeve Foundation. sentence2: Christopher Reeve had an accident.');
  assert.equal(r[0]?.target, '1'); // not_entailment
});

test('full GLUE files: row counts and first-row formats', { skip: !HAVE_SHARED && 'no shared data' }, () => {
  const counts: Array<[typeof sst2, number, number]> = [
    [cola, 8551, 1043],
    [sst2, 67349, 872],
    [rte, 2490, 277],
    [mrpc, 3668, 408],
    [stsb, 5749, 1500],
    [wnli, 635, 71],
  ];
  for (const [task, nTrain, nDev] of counts) {
    assert.equal(task.read(SHARED_DATA, 'train').length, nTrain, task.name);
    assert.equal(task.read(SHARED_DATA, 'dev').length, nDev, task.name);
  }
  const m = mrpc.read(SHARED_DATA, 'dev')[0]; // dev.tsv starts with a BOM
  assert.equal(m?.source, "sentence1: He said the foodservice pie business doesn 't fit the company 's long-term growth strategy . sentence2: \" The foodservice pie business does not fit our long-term growth strategy .");
  assert.equal(m?.target, '1');
  const st = stsb.read(SHARED_DATA, 'dev');
  assert.deepEqual(st[0], { source: 'sentence1: A man with a hard hat is dancing. sentence2: A man wearing a hard hat is dancing.', target: '5.0', label: 5, id: 'dev.tsv:2' });
  assert.equal(st[1]?.target, '4.8'); // 4.750 → "4.8"
  const q = qnli.read(SHARED_DATA, 'dev');
  assert.equal(q.length, 5463);
  assert.equal(q[0]?.source, 'question: What came into force after the new constitution was herald? sentence: As of that day, the new constitution heralding the Second Republic came into force.');
  assert.equal(q[0]?.target, '0');
  // QNLI has no GLUE train.tsv here: train comes from glue-samples
  assert.equal(qnli.locate?.(SHARED_DATA, 'train'), path.join(SHARED_DATA, 'glue-samples/QNLI/train.json'));
  assert.equal(qnli.read(SHARED_DATA, 'train').length, 8999);
  assert.equal(wnli.read(SHARED_DATA, 'dev')[0]?.source, 'sentence1: The drain is clogged with hair. It has to be cleaned. sentence2: The hair has to be cleaned.');
});

test('glue-samples JSON: QQP, MNLI label tables', { skip: !HAVE_SHARED && 'no shared data' }, () => {
  const q = qqp.read(SHARED_DATA, 'dev');
  assert.equal(q.length, 1000);
  assert.deepEqual(q[0], {
    source: 'question1: Who is the stupidest character in Game of Thrones? question2: Who is the most misunderstood character in Game of Thrones?',
    target: '0',
    label: 0,
    id: 'dev.json:0',
  });
  const m = mnli.read(SHARED_DATA, 'dev');
  assert.equal(m[0]?.source, 'premise: Salt kept the town fed. hypothesis: Salt kept the town thriving.');
  assert.equal(m[0]?.target, '0'); // entailment
  assert.equal(m[1]?.target, '2'); // contradiction (HF glue/mnli: entailment 0, neutral 1, contradiction 2)
  assert.equal(mnli.readMismatched?.(SHARED_DATA), null);
});

test('GLUE QQP / MNLI TSV layouts (not in the shared data) read by header names', () => {
  const dir = tempData({
    'QQP/train.tsv': 'id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n7\t1\t2\tWhy?\tHow?\t1\n',
    'MNLI/dev_mismatched.tsv': 'index\tsentence1\tsentence2\tgold_label\n0\tA man.\tA person.\tneutral\n',
  });
  assert.deepEqual(qqp.read(dir, 'train'), [{ source: 'question1: Why? question2: How?', target: '1', label: 1, id: 'train.tsv:2' }]);
  assert.deepEqual(mnli.readMismatched?.(dir), [{ source: 'premise: A man. hypothesis: A person.', target: '1', label: 1, id: 'dev_mismatched.tsv:2' }]);
});

test('STS-B fixed rounding', () => {
  const dir = tempData({ 'train.tsv': 'index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n0\tg\tf\ty\t0\tn\tn\tA.\tB.\t3.700\n' });
  assert.equal(stsb.read(dir, 'train')[0]?.target, '3.7');
  assert.equal(makeStsb('fixed').read(dir, 'train')[0]?.target, '3.6');
});

test('malformed rows name the file, the line and the field', () => {
  const dir = tempData({
    'rte/train.tsv': 'index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tb\tcontradiction\n',
    'rte/dev.tsv': 'index\tsentence1\tsentence2\tlabel\n0\ta\tb\n',
    'cola/train.tsv': 'gj04\t1\t\tok\ngj04\t2\t\tbad label\n',
    'stsb/train.tsv': 'index\tsentence1\tsentence2\tscore\n0\ta\tb\t\n',
    'sst2/train.tsv': 'text\tlabel\nfoo\t1\n',
  });
  const file = (rel: string): string => path.join(dir, rel).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  assert.throws(
    () => rte.read(dir, 'train'),
    softError('invalid_data', new RegExp(`^${file('rte/train.tsv')} line 3, field "label": unknown label "contradiction", expected one of entailment, not_entailment\\.$`)),
  );
  assert.throws(() => rte.read(dir, 'dev'), softError('invalid_data', /rte\/dev\.tsv line 2: expected 4 tab-separated columns \(index, sentence1, sentence2, label\), found 3/));
  assert.throws(() => cola.read(dir, 'train'), softError('invalid_data', /cola\/train\.tsv line 2, field "label": unknown label "2"/));
  assert.throws(() => stsb.read(dir, 'train'), softError('invalid_data', /line 2, field "score": expected a similarity score, got ""/));
  assert.throws(() => sst2.read(dir, 'train'), softError('malformed_file', /has no column "sentence"/));
  assert.throws(() => wnli.read(dir, 'train'), softError('file_not_found', /No train file for task "wnli"/));
});
