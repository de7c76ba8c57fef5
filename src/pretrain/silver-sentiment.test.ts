import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SILVER, SILVER_TASK, sentences, silverSentimentExamples } from './silver-sentiment.js';

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
