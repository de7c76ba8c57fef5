import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SoftpromptError } from '../errors.js';
import { parseCsv } from './csv.js';

const cells = (text: string, d = ','): string[][] => parseCsv(text, 'x.csv', d).map((r) => r.cells);

test('plain fields, empty fields, CRLF and LF, no final newline', () => {
  assert.deepEqual(cells('a,b,c\r\n1,,3\n,,\nx,y,z'), [
    ['a', 'b', 'c'],
    ['1', '', '3'],
    ['', '', ''],
    ['x', 'y', 'z'],
  ]);
});

test('quoted fields: commas, escaped quotes, newlines inside quotes; line numbers of record starts', () => {
  const recs = parseCsv('text,label\n"a, ""b""\nc",1\n"",0\n"x"\r\n', 'x.csv');
  assert.deepEqual(recs, [
    { line: 1, cells: ['text', 'label'] },
    { line: 2, cells: ['a, "b"\nc', '1'] },
    { line: 4, cells: ['', '0'] },
    { line: 5, cells: ['x'] },
  ]);
});

test('a quote inside an unquoted field is text; BOM dropped; blank lines skipped; other delimiters', () => {
  assert.deepEqual(cells('\uFEFFh\n\nsay "hi",1\n'), [['h'], ['say "hi"', '1']]);
  assert.deepEqual(cells('a\t"b\tc"\n', '\t'), [['a', 'b\tc']]);
});

test('malformed quoting is malformed_file with the line', () => {
  assert.throws(
    () => parseCsv('a,b\n1,"never closed\n2,3\n', 'q.csv'),
    (e: unknown) => e instanceof SoftpromptError && e.code === 'malformed_file' && /q\.csv line 2: quoted field is never closed/.test(e.message),
  );
  assert.throws(
    () => parseCsv('a\n"x"y\n', 'q.csv'),
    (e: unknown) => e instanceof SoftpromptError && e.code === 'malformed_file' && /line 2: unexpected "y" after a closing quote/.test(e.message),
  );
  assert.throws(() => parseCsv('a', 'q.csv', '"'), (e: unknown) => e instanceof SoftpromptError && e.code === 'invalid_config');
});
