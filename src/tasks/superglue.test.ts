import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boolq, cb, copa, multirc, removeMarkup, superglueRte, wic, wsc } from './superglue.js';
import { HAVE_SHARED, SHARED_DATA, softError, tempData } from './test-helpers.js';

const line = (o: unknown): string => `${JSON.stringify(o)}\n`;

test('formats and HF label tables', () => {
  const dir = tempData({
    'BoolQ/val.jsonl': line({ question: 'is it', passage: 'It is.', idx: 0, label: true }),
    'CB/val.jsonl': [
      line({ premise: 'P.', hypothesis: 'H.', label: 'entailment', idx: 0 }),
      line({ premise: 'P.', hypothesis: 'H.', label: 'contradiction', idx: 1 }),
      line({ premise: 'P.', hypothesis: 'H.', label: 'neutral', idx: 2 }),
    ].join(''),
    'COPA/val.jsonl': line({ premise: 'It rained.', choice1: 'Wet.', choice2: 'Dry.', question: 'effect', label: 0, idx: 5 }),
    'RTE/val.jsonl': line({ premise: 'P.', hypothesis: 'H.', label: 'not_entailment', idx: 3 }),
    'WiC/val.jsonl': line({ word: 'bank', sentence1: 'A bank.', sentence2: 'The bank.', idx: 0, label: false }),
    'WSC/val.jsonl': line({ text: 'Bob saw Tom and he waved .', target: { span1_text: 'Tom', span1_index: 2, span2_text: 'he', span2_index: 4 }, idx: 9, label: true }),
  });
  assert.deepEqual(boolq.read(dir, 'dev'), [{ source: 'question: is it passage: It is.', target: '1', label: 1, id: 'val.jsonl:1', extra: { idx: 0 } }]);
  // CB follows HF super_glue/cb: entailment 0, contradiction 1, neutral 2
  assert.deepEqual(cb.read(dir, 'dev').map((e) => e.target), ['0', '1', '2']);
  assert.equal(cb.read(dir, 'dev')[0]?.source, 'premise: P. hypothesis: H.');
  assert.deepEqual(copa.read(dir, 'dev'), [{ source: 'premise: It rained. choice1: Wet. choice2: Dry.', target: '0', label: 0, id: 'val.jsonl:1', extra: { idx: 5 } }]);
  assert.deepEqual(superglueRte.read(dir, 'dev')[0]?.target, '1');
  assert.deepEqual(wic.read(dir, 'dev'), [{ source: 'sentence1: A bank. sentence2: The bank. word: bank', target: '0', label: 0, id: 'val.jsonl:1', extra: { idx: 0 } }]);
  assert.deepEqual(wsc.read(dir, 'dev'), [{ source: 'text: Bob saw * Tom * and # he # waved .', target: '1', label: 1, id: 'val.jsonl:1', extra: { idx: 9 } }]);
});

test('MultiRC: one example per answer, markup removed, group = question idx', () => {
  const dir = tempData({
    'MultiRC/val.jsonl': line({
      idx: 4,
      passage: {
        text: '<b>Sent 1: </b>Tom ran.<br><b>Sent 2: </b>He won.',
        questions: [
          { question: 'Who <b>ran</b>?', idx: 17, answers: [{ text: 'Tom', idx: 0, label: 1 }, { text: 'Ann', idx: 1, label: 0 }] },
          { question: 'Did he win?', idx: 18, answers: [{ text: 'Yes', idx: 2, label: true }] },
        ],
      },
    }),
  });
  const ex = multirc.read(dir, 'dev');
  assert.equal(ex.length, 3);
  assert.deepEqual(ex[0], {
    source: 'question: Who ran? answer: Tom paragraph: Sent 1: Tom ran. Sent 2: He won.',
    target: '1',
    label: 1,
    id: 'val.jsonl:1:17:0',
    extra: { group: 17, paragraph: 4 },
  });
  assert.deepEqual(ex.map((e) => [e.target, e.extra?.['group']]), [['1', 17], ['0', 17], ['1', 18]]);
  assert.equal(removeMarkup('a<br>b <b>c</b>'), 'a b c');
});

test('bad rows: missing field, unknown label, bad JSON', () => {
  const dir = tempData({
    'BoolQ/train.jsonl': line({ question: 'q', passage: 'p', label: true }) + line({ question: 'q', label: false }),
    'CB/train.jsonl': line({ premise: 'p', hypothesis: 'h', label: 'maybe' }),
    'WiC/train.jsonl': '{"word": "x",\n',
    'WSC/train.jsonl': line({ text: 't', target: { span1_text: 'a', span1_index: 'one', span2_text: 'b', span2_index: 0 }, label: true }),
  });
  assert.throws(() => boolq.read(dir, 'train'), softError('invalid_data', /BoolQ\/train\.jsonl line 2, field "passage": expected a string, missing\./));
  assert.throws(() => cb.read(dir, 'train'), softError('invalid_data', /line 1, field "label": unknown label "maybe", expected one of entailment, contradiction, neutral/));
  assert.throws(() => wic.read(dir, 'train'), softError('malformed_file', /WiC\/train\.jsonl line 1 is not valid JSON/));
  assert.throws(() => wsc.read(dir, 'train'), softError('invalid_data', /field "span1_index": expected an integer, got "one"/));
});

test('full SuperGLUE files: counts, FewGLUE train32 fallback', { skip: !HAVE_SHARED && 'no shared data' }, () => {
  const dev: Array<[typeof cb, number]> = [
    [boolq, 3270],
    [cb, 56],
    [copa, 100],
    [multirc, 4848],
    [superglueRte, 277],
    [wic, 638],
    [wsc, 104],
  ];
  for (const [task, n] of dev) assert.equal(task.read(SHARED_DATA, 'dev').length, n, task.name);
  assert.equal(cb.read(SHARED_DATA, 'train').length, 250);
  assert.equal(wic.read(SHARED_DATA, 'train').length, 32); // only train32.jsonl exists
  assert.match(wic.locate?.(SHARED_DATA, 'train') ?? '', /WiC\/train32\.jsonl$/);
  assert.equal(
    wsc.read(SHARED_DATA, 'dev')[0]?.source,
    'text: Bernard , who had not told the government official that he was less than 21 when he filed for a homestead claim, did not consider that he had done anything dishonest. Still, * anyone * who knew that he was 19 years old could take his claim away from # him # .',
  );
});
