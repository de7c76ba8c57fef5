import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createLocalTask } from './local.js';
import { loadSplits } from './registry.js';
import { softError, tempData } from './test-helpers.js';

test('CSV with quotes, custom columns and template; labels inferred and sorted', () => {
  const dir = tempData({
    'train.csv': 'review,stars,extra\n"Great, really ""great""",5,x\n"Bad\nvery bad",1,y\nOK,3,z\nMeh,10,w\n',
    'dev.csv': 'review,stars,extra\nFine,3,q\n',
  });
  const task = createLocalTask({ dir, textColumn: 'review', labelColumn: 'stars', template: 'review: {text} ({extra})' });
  assert.deepEqual(task.labelWords, ['1', '3', '5', '10']); // numeric labels sort numerically
  const train = task.read(dir, 'train');
  assert.deepEqual(train[0], { source: 'review: Great, really "great" (x)', target: '5', label: 2, id: 'train.csv:2' });
  assert.equal(train[1]?.source, 'review: Bad\nvery bad (y)');
  assert.equal(train[2]?.id, 'train.csv:5'); // the quoted newline moved the next record to line 5
  assert.equal(task.read(dir, 'dev')[0]?.label, 1);
});

test('JSONL with a text_pair column uses the pair template by default', () => {
  const dir = tempData({
    'train.jsonl': '{"text": "A.", "text_pair": "B.", "label": "yes"}\n{"text": "C.", "text_pair": "D.", "label": "no"}\n',
    'dev.jsonl': '{"text": "E.", "text_pair": "F.", "label": "no"}\n',
  });
  const task = createLocalTask({ dir });
  assert.deepEqual(task.labelWords, ['no', 'yes']);
  assert.deepEqual(task.read(dir, 'train')[0], { source: 'sentence1: A. sentence2: B.', target: 'yes', label: 1, id: 'train.jsonl:1' });
  const s = loadSplits(task, dir);
  assert.deepEqual([s.train.length, s.validation.length, s.test.length], [2, 0, 1]);
  assert.equal(s.task, 'local');
});

test('TSV, given label words, explicit files', () => {
  const dir = tempData({ 'a.tsv': 'text\tlabel\nhi "there"\tpos\n', 'b.tsv': 'text\tlabel\nbye\tneg\n' });
  const task = createLocalTask({ dir, train: 'a.tsv', dev: 'b.tsv', labelWords: ['neg', 'pos'] });
  assert.deepEqual(task.read(dir, 'train')[0], { source: 'sentence: hi "there"', target: 'pos', label: 1, id: 'a.tsv:2' });
  assert.equal(task.locate?.(dir, 'dev'), path.join(dir, 'b.tsv'));
});

test('errors: missing column, unknown label, bad template, missing files', () => {
  const dir = tempData({
    'train.jsonl': '{"text": "a", "label": "x"}\n{"txt": "b", "label": "y"}\n',
    'dev.jsonl': '{"text": "c", "label": "z"}\n',
    'other/train.csv': 'text,label\na,1\nb\n',
  });
  const task = createLocalTask({ dir });
  assert.throws(() => task.read(dir, 'train'), softError('invalid_data', /train\.jsonl line 2, field "text": missing\./));
  assert.throws(() => task.read(dir, 'dev'), softError('invalid_data', /dev\.jsonl line 1, field "label": unknown label "z", expected one of x, y\./));
  assert.throws(() => createLocalTask({ dir, template: 'text: {text' }), softError('invalid_config', /does not open a \{field\} placeholder/));
  assert.throws(() => createLocalTask({ dir, template: 'a} {text}' }), softError('invalid_config', /unmatched "}"/));
  assert.throws(() => createLocalTask({ dir: path.join(dir, 'other') }), softError('invalid_data', /train\.csv line 3: expected 2 columns \(text, label\), found 1/));
  assert.throws(() => createLocalTask({ dir: path.join(dir, 'none') }), softError('file_not_found', /No train file for task "local"/));
  assert.throws(() => createLocalTask({ dir, metricNames: ['bleu'] }), softError('invalid_config', /Unknown metric "bleu"/));
  assert.throws(
    () => createLocalTask({ dir, template: '{text} {text_pair}' }).read(dir, 'dev'),
    softError('invalid_config', /uses \{text_pair\} but .* has no text_pair column/),
  );
});
