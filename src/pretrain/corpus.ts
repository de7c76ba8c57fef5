/**
 * Pretraining text: documents read from plain text (one document per non-empty line, as HF's "text" loader),
 * JSON Lines (named fields) or TSV (named columns of a headed file), tokenized with EOS after each document and
 * concatenated, then cut into chunks of the raw length span corruption expands to (HF run_t5_mlm_flax.py
 * group_texts; the remainder is dropped).
 *
 *   const docs = readDocuments({ file: 'corpus/span.txt' });
 *   const packed = packDocuments(docs, tokenizer, expandedLengths(512).tokensLength);  // 568-token chunks
 */
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import type { Tokenizer } from '../io/tokenizer.js';
import { readJsonl } from '../tasks/jsonl.js';
import { numberedLines, readText } from '../tasks/read-text.js';
import { columnIndex, readTsv } from '../tasks/tsv.js';

export type CorpusFormat = 'text' | 'jsonl' | 'tsv';

export interface CorpusFile {
  file: string;
  /** Default from the extension: .jsonl/.json → jsonl, .tsv → tsv, anything else text. */
  format?: CorpusFormat;
  /** jsonl: keys (default ["text"]); tsv: column names (required). Several are joined with a space. */
  fields?: string[];
}

export function corpusFormat(spec: CorpusFile): CorpusFormat {
  if (spec.format !== undefined) return spec.format;
  const ext = path.extname(spec.file).toLowerCase();
  return ext === '.jsonl' || ext === '.json' ? 'jsonl' : ext === '.tsv' ? 'tsv' : 'text';
}

/** The documents of one corpus file, in file order; empty documents are skipped. */
export function readDocuments(spec: CorpusFile): string[] {
  const format = corpusFormat(spec);
  if (format === 'text') return numberedLines(readText(spec.file)).map((l) => l.text.trim()).filter((t) => t !== '');
  if (format === 'jsonl') {
    const fields = spec.fields ?? ['text'];
    return readJsonl(spec.file).map(({ line, value }) => fields.map((f) => {
      const v = value[f];
      if (typeof v !== 'string') {
        throw new SoftpromptError('invalid_data', `${spec.file} line ${line}: field "${f}" is ${v === undefined ? 'missing' : `not a string (${JSON.stringify(v)})`}.`, { file: spec.file, path: `line ${line}.${f}` });
      }
      return v.trim();
    }).join(' ').trim()).filter((t) => t !== '');
  }
  if (spec.fields === undefined || spec.fields.length === 0) {
    throw new SoftpromptError('invalid_config', `TSV corpus ${spec.file} needs the column names to read (fields).`, { file: spec.file, path: 'fields' });
  }
  const table = readTsv(spec.file);
  const cols = spec.fields.map((f) => columnIndex(table, f));
  return table.rows.map((r) => cols.map((c) => r.cells[c]!.trim()).join(' ').trim()).filter((t) => t !== '');
}

export interface PackedCorpus {
  /** All tokens, documents EOS-terminated and concatenated, cut to numChunks · chunkLength. */
  tokens: Int32Array;
  chunkLength: number;
  numChunks: number;
  /** Tokens before the cut (the dropped remainder is tokenCount − numChunks · chunkLength). */
  tokenCount: number;
  documents: number;
}

/** Tokenize (EOS appended per document, as tokenizer(text) does for T5) and pack into chunks of chunkLength. */
export function packDocuments(docs: Iterable<string>, tok: Tokenizer, chunkLength: number): PackedCorpus {
  if (!Number.isSafeInteger(chunkLength) || chunkLength < 2) {
    throw new SoftpromptError('invalid_config', `chunkLength must be an integer ≥ 2, got ${chunkLength}.`, { path: 'chunkLength' });
  }
  let buf = new Int32Array(1 << 16);
  let n = 0, documents = 0;
  for (const doc of docs) {
    const ids = tok.encode(doc);
    if (n + ids.length > buf.length) {
      const bigger = new Int32Array(Math.max(buf.length * 2, n + ids.length));
      bigger.set(buf.subarray(0, n));
      buf = bigger;
    }
    buf.set(ids, n);
    n += ids.length;
    documents++;
  }
  const numChunks = Math.floor(n / chunkLength);
  if (numChunks === 0) {
    throw new SoftpromptError('invalid_data', `The corpus has ${n} tokens, fewer than one chunk of ${chunkLength}; add text or lower the input length.`, { path: 'corpus' });
  }
  return { tokens: buf.slice(0, numChunks * chunkLength), chunkLength, numChunks, tokenCount: n, documents };
}

export function chunkAt(p: PackedCorpus, i: number): Int32Array {
  return p.tokens.subarray(i * p.chunkLength, (i + 1) * p.chunkLength);
}
