import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SILVER, SILVER_TASK, sentences, silverSentimentExamples, silverStudentExamples } from './silver-sentiment.js';

test('sentences splits after end punctuation only', () => {
  assert.deepEqual(sentences('It was great. Was it? Yes! 3.5 stars'), ['It was great.', 'Was it?', 'Yes!', '3.5 stars']);
});

test('silver rows: clear cases only, classes balanced, the template applied, duplicates once', () => {
  const docs = [
    'this is a wonderful , moving and beautiful film .',
    'this is a wonderful , moving and beautiful film .',
    'a dull , tedious and painfully boring mess .',
    'the film runs for two hours and ten minutes .',
    'what a great , funny and charming story .',
  ];
  const rows = silverSentimentExamples(docs, DEFAULT_SILVER);
  assert.deepEqual(rows, [
    { task: SILVER_TASK, input: 'sentence: this is a wonderful , moving and beautiful film .', target: 'positive' },
    { task: SILVER_TASK, input: 'sentence: a dull , tedious and painfully boring mess .', target: 'negative' },
  ]);
});

test('sentences outside the word bounds are skipped', () => {
  assert.deepEqual(silverSentimentExamples(['great !', 'awful .'], DEFAULT_SILVER), []);
});

test('sentences drop the field labels the corpus builder writes', () => {
  assert.deepEqual(sentences('sentence1: The plot is thin. sentence2: I loved it!'), ['The plot is thin.', 'I loved it!']);
  assert.deepEqual(sentences('question: Is it good? passage: It is.'), ['Is it good?', 'It is.']);
});

test('student rows: the lexicons seed a classifier that labels sentences they find neutral', () => {
  // "superb"/"awful" carry lexicon polarity; "zany"/"plodding" carry none, but co-occur with them in the seed rows.
  const docs: string[] = [];
  for (let i = 0; i < 20; i++) {
    docs.push(`a superb and zany film number ${i} .`, `an awful and plodding film number ${i} .`);
  }
  docs.push('a zany caper about nothing .', 'a plodding caper about nothing .');
  const rows = silverStudentExamples(docs, DEFAULT_SILVER, { seedFraction: 0.5, minAgreement: 1, keep: 0.5, l2: 1e-6, epochs: 200 });
  const label = (text: string) => rows.find((r) => r.input === `sentence: ${text}`)?.target;
  assert.equal(label('a zany caper about nothing .'), 'positive');
  assert.equal(label('a plodding caper about nothing .'), 'negative');
  assert.equal(rows.filter((r) => r.target === 'positive').length, rows.filter((r) => r.target === 'negative').length);
});
