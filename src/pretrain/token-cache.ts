/**
 * Tokenized corpora kept between runs of `softprompt pretrain` (tokenizing the 3.7M-token corpus takes ~45 s of
 * CPU, once per run and per resume otherwise). A cache file is a safetensors file of I32 tensors named by a
 * sha256 of everything the tokens depend on: tokenizer files, corpus bytes, fields, lengths. A changed input
 * gives another key, so a stale file is never read; a damaged one is rebuilt.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors.js';
import type { PackedCorpus } from './corpus.js';
import type { TokenizedExample } from './stream.js';

/** sha256 over labelled parts: strings as given, files by their bytes (missing files count as absent). */
export function cacheKey(strings: readonly string[], files: readonly string[]): string {
  const h = crypto.createHash('sha256');
  for (const s of strings) h.update(`s:${s.length}:${s}`);
  for (const f of files) {
    h.update(`f:${f}:`);
    if (fs.existsSync(f)) h.update(fs.readFileSync(f));
  }
  return h.digest('hex');
}

function tryRead<T>(file: string, read: (st: SafetensorsFile) => T): T | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    return read(SafetensorsFile.open(file));
  } catch {
    return undefined; // damaged or from another version: rebuild
  }
}

/** The packed corpus from `<dir>/corpus-<key>.safetensors`, or built and stored there. */
export function cachedCorpus(dir: string | undefined, key: string, build: () => PackedCorpus): { corpus: PackedCorpus; hit: boolean } {
  if (dir === undefined) return { corpus: build(), hit: false };
  const file = path.join(dir, `corpus-${key.slice(0, 24)}.safetensors`);
  const hit = tryRead(file, (st) => {
    const m = st.metadata;
    const corpus: PackedCorpus = {
      tokens: st.getI32('tokens'), chunkLength: Number(m['chunkLength']), numChunks: Number(m['numChunks']),
      tokenCount: Number(m['tokenCount']), documents: Number(m['documents']),
    };
    return m['key'] === key && corpus.tokens.length === corpus.numChunks * corpus.chunkLength ? corpus : undefined;
  });
  if (hit !== undefined) return { corpus: hit, hit: true };
  const corpus = build();
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(file, { tokens: { shape: [corpus.tokens.length], data: corpus.tokens } }, {
    key, chunkLength: String(corpus.chunkLength), numChunks: String(corpus.numChunks), tokenCount: String(corpus.tokenCount), documents: String(corpus.documents),
  });
  return { corpus, hit: false };
}

function flatten(rows: readonly Int32Array[]): { data: Int32Array; offsets: Int32Array } {
  const offsets = new Int32Array(rows.length + 1);
  rows.forEach((r, i) => { offsets[i + 1] = offsets[i]! + r.length; });
  const data = new Int32Array(offsets[rows.length]!);
  rows.forEach((r, i) => data.set(r, offsets[i]!));
  return { data, offsets };
}

function unflatten(data: Int32Array, offsets: Int32Array): Int32Array[] {
  return Array.from({ length: offsets.length - 1 }, (_, i) => data.slice(offsets[i]!, offsets[i + 1]!));
}

/** Tokenized supervised rows from `<dir>/supervised-<key>.safetensors`, or built and stored there. */
export function cachedSupervised(dir: string | undefined, key: string, build: () => TokenizedExample[]): { rows: TokenizedExample[]; hit: boolean } {
  if (dir === undefined) return { rows: build(), hit: false };
  const file = path.join(dir, `supervised-${key.slice(0, 24)}.safetensors`);
  const hit = tryRead(file, (st) => {
    if (st.metadata['key'] !== key) return undefined;
    const inputs = unflatten(st.getI32('inputs'), st.getI32('inputOffsets'));
    const targets = unflatten(st.getI32('targets'), st.getI32('targetOffsets'));
    return inputs.length === targets.length ? inputs.map((x, i) => ({ inputs: x, targets: targets[i]! })) : undefined;
  });
  if (hit !== undefined) return { rows: hit, hit: true };
  const rows = build();
  const inp = flatten(rows.map((r) => r.inputs)), tgt = flatten(rows.map((r) => r.targets));
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(file, {
    inputs: { shape: [inp.data.length], data: inp.data }, inputOffsets: { shape: [inp.offsets.length], data: inp.offsets },
    targets: { shape: [tgt.data.length], data: tgt.data }, targetOffsets: { shape: [tgt.offsets.length], data: tgt.offsets },
  }, { key });
  return { rows, hit: false };
}
