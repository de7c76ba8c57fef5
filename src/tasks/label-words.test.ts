import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withLabelWords } from './label-words.js';
import { evaluate } from './metrics.js';
import { bundledDataDir, getTask, loadSplits } from './registry.js';

describe('withLabelWords', () => {
  it('relabels SST-2 class by class; the rows, splits and accuracy are unchanged', () => {
    const plain = loadSplits('sst2', bundledDataDir());
    const task = withLabelWords(getTask('sst2'), ['negative', 'positive']);
    const words = loadSplits(task, bundledDataDir());
    assert.deepEqual(task.labelWords, ['negative', 'positive']);
    assert.deepEqual(words.test.map((e) => e.source), plain.test.map((e) => e.source));
    assert.deepEqual(words.test.map((e) => e.target), plain.test.map((e) => (e.target === '1' ? 'positive' : 'negative')));
    const guess = words.test.map(() => 'positive');
    assert.deepEqual(evaluate(task, guess, words.test.map((e) => e.target)), evaluate(getTask('sst2'), plain.test.map(() => '1'), plain.test.map((e) => e.target)));
  });
  it('binary F1 and MCC count the class, not the word (MRPC with words)', () => {
    const task = withLabelWords(getTask('mrpc'), ['different', 'same']);
    const preds = ['same', 'different', 'same', 'same'], targets = ['same', 'same', 'different', 'same'];
    const ref = evaluate(getTask('mrpc'), preds.map((p) => (p === 'same' ? '1' : '0')), targets.map((t) => (t === 'same' ? '1' : '0')));
    assert.deepEqual(evaluate(task, preds, targets), ref);
  });
  it('refuses a wrong count, duplicates, or a task without label words', () => {
    assert.throws(() => withLabelWords(getTask('sst2'), ['a']), /1 words .* 2 classes/);
    assert.throws(() => withLabelWords(getTask('sst2'), ['a', 'a']), /distinct/);
    assert.throws(() => withLabelWords(getTask('stsb'), ['a', 'b']), /no label words/);
  });
});
