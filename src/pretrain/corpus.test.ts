import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadTokenizerSync } from '../io/tokenizer.js';
import { expectError } from '../../test/expect-error.js';
import { fixture } from '../../test/paths.js';
import { chunkAt, packDocuments, readDocuments } from './corpus.js';

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-corpus-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));
const tok = loadTokenizerSync(fixture('tokenizers', 't5'));

function write(name: string, text: string): string {
  const f = path.join(ROOT, name);
  fs.writeFileSync(f, text);
  return f;
}

describe('corpus documents', () => {
  it('text: one document per non-empty line; JSONL: named fields joined; TSV: named columns of a headed file', () => {
    assert.deepEqual(readDocuments({ file: write('a.txt', 'first line\n\n  second  \r\nthird') }), ['first line', 'second', 'third']);
    const jl = write('a.jsonl', '{"text": "one", "b": "x"}\n\n{"text": "two", "b": "y"}\n');
    assert.deepEqual(readDocuments({ file: jl }), ['one', 'two']);
    assert.deepEqual(readDocuments({ file: jl, fields: ['b', 'text'] }), ['x one', 'y two']);
    const tsv = write('a.tsv', 'id\tsentence\tlabel\n1\tA film.\t1\n2\tBad.\t0\n');
    assert.deepEqual(readDocuments({ file: tsv, fields: ['sentence'] }), ['A film.', 'Bad.']);
    assert.deepEqual(readDocuments({ file: tsv, format: 'text' }), ['id\tsentence\tlabel', '1\tA film.\t1', '2\tBad.\t0']);
  });

  it('errors name the file and the field', () => {
    const jl = write('b.jsonl', '{"text": "one"}\n{"body": "two"}\n');
    expectError(() => readDocuments({ file: jl }), 'invalid_data', jl, 'line 2', '"text"', 'missing');
    const tsv = write('b.tsv', 'a\tb\n1\t2\n');
    expectError(() => readDocuments({ file: tsv }), 'invalid_config', tsv, 'column names');
    expectError(() => readDocuments({ file: tsv, fields: ['c'] }), 'malformed_file', 'c');
    expectError(() => readDocuments({ file: path.join(ROOT, 'nope.txt') }), 'file_not_found');
  });
});

describe('packing (HF group_texts)', () => {
  it('tokens are the documents\' encodings (EOS each) concatenated, cut into whole chunks, the remainder dropped', () => {
    const docs = readDocuments({ file: fixture('pretrain', 'wikitext-sample.txt') });
    const all = docs.flatMap((d) => tok.encode(d));
    assert.ok(all.filter((id) => id === tok.eosId).length === docs.length);
    const packed = packDocuments(docs, tok, 17);
    assert.equal(packed.tokenCount, all.length);
    assert.equal(packed.documents, docs.length);
    assert.equal(packed.numChunks, Math.floor(all.length / 17));
    assert.deepEqual([...packed.tokens], all.slice(0, packed.numChunks * 17));
    assert.deepEqual([...chunkAt(packed, 2)], all.slice(34, 51));
  });

  it('a corpus shorter than one chunk is an error', () => {
    expectError(() => packDocuments(['tiny'], tok, 568), 'invalid_data', '568');
    expectError(() => packDocuments(['tiny'], tok, 1), 'invalid_config', 'chunkLength');
  });
});
