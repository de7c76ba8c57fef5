import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SoftpromptError } from '../errors.js';
import { columnIndex, parseTsv } from './tsv.js';

test('header, CRLF, BOM-less text, quotes kept as text, blank lines skipped', () => {
  const t = parseTsv('index\tsentence\tlabel\r\n0\tHe said "hi" .\t1\r\n\r\n1\t" open\t0\r\n', 'x.tsv');
  assert.deepEqual(t.columns, ['index', 'sentence', 'label']);
  assert.deepEqual(t.rows, [
    { line: 2, cells: ['0', 'He said "hi" .', '1'] },
    { line: 4, cells: ['1', '" open', '0'] },
  ]);
  assert.equal(columnIndex(t, 'label'), 2);
});

test('header-less files take the given column names; no final newline is fine', () => {
  const t = parseTsv('gj04\t1\t\tThe cat sat.\ngj04\t0\t*\tCat the sat.', 'cola.tsv', { columns: ['source', 'label', 'original_label', 'sentence'] });
  assert.equal(t.rows.length, 2);
  assert.deepEqual(t.rows[1], { line: 2, cells: ['gj04', '0', '*', 'Cat the sat.'] });
});

test('a row with the wrong column count names file and line', () => {
  assert.throws(
    () => parseTsv('a\tb\n1\t2\n3\n', 'bad.tsv'),
    (e: unknown) =>
      e instanceof SoftpromptError && e.code === 'invalid_data' && e.file === 'bad.tsv' && e.message === 'bad.tsv line 3: expected 2 tab-separated columns (a, b), found 1.',
  );
  assert.throws(
    () => columnIndex(parseTsv('a\tb\n', 'h.tsv'), 'label'),
    (e: unknown) => e instanceof SoftpromptError && e.code === 'malformed_file' && /no column "label"/.test(e.message),
  );
  assert.throws(() => parseTsv('', 'empty.tsv'), (e: unknown) => e instanceof SoftpromptError && e.code === 'malformed_file');
});
