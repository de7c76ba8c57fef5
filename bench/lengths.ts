/**
 * Real input lengths for benchmarks: the GLUE dev sets of SST-2 and RTE, formatted with DePT's T5 templates
 * (spec §2.2), tokenized with the T5 tokenizer (`</s>` appended) and truncated to s, as the reference's
 * `tokenizer(..., max_length=s, truncation=True)` does: the last kept token stays `</s>`.
 *
 *   sst2   sentence: {sentence}
 *   rte    sentence1: {sentence1} sentence2: {sentence2}
 *
 * Files: the full dev sets in ../shared/data/glue when present, else the bundled slices in data/ (same TSV format).
 * Batches are drawn like a shuffled training loader (seeded), then right-padded to their longest row only
 * (dynamic padding; A[:L] for DePT, spec §1.11).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Tokenizer } from '../src/io/tokenizer.js';
import { Rng } from '../src/train/rng.js';
import { repoRoot } from './util.js';

export type LengthTask = 'sst2' | 'rte';
export const LENGTH_TASKS: readonly LengthTask[] = ['sst2', 'rte'];

interface TaskFormat {
  glueDir: string; // folder name in the GLUE distribution
  columns: readonly string[]; // TSV columns the template reads
  source: (row: Record<string, string>) => string;
}

const FORMATS: Record<LengthTask, TaskFormat> = {
  sst2: { glueDir: 'SST-2', columns: ['sentence'], source: (r) => `sentence: ${r['sentence']}` },
  rte: { glueDir: 'RTE', columns: ['sentence1', 'sentence2'], source: (r) => `sentence1: ${r['sentence1']} sentence2: ${r['sentence2']}` },
};

export interface DevFile {
  file: string;
  origin: 'shared' | 'bundled';
}

/** The dev TSV of `task`: the full GLUE file in ../shared when present, else the bundled slice in data/. */
export function locateDev(task: LengthTask): DevFile {
  const root = repoRoot();
  const shared = join(root, '..', 'shared', 'data', 'glue', FORMATS[task].glueDir, 'dev.tsv');
  const bundled = join(root, 'data', task, 'dev.tsv');
  if (existsSync(shared)) return { file: shared, origin: 'shared' };
  if (existsSync(bundled)) return { file: bundled, origin: 'bundled' };
  throw new Error(`No ${task} dev set for the length distribution: neither ${shared} nor ${bundled} exists. `
    + `Hint: put the GLUE distribution's ${FORMATS[task].glueDir}/dev.tsv at one of those paths (data/README.md `
    + 'describes the bundled slices).');
}

/** Source texts of a GLUE TSV with a header line (SST-2, RTE), formatted with the task's DePT template. */
export function readSources(task: LengthTask, file: string): string[] {
  const fmt = FORMATS[task];
  const lines = readFileSync(file, 'utf8').split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const header = (lines[0] ?? '').split('\t');
  for (const c of fmt.columns) {
    if (!header.includes(c)) {
      throw new Error(`${file}:1: ${task} header has no column "${c}", got [${header.join(', ')}]. Is this the GLUE ${fmt.glueDir} dev.tsv?`);
    }
  }
  const out: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const cells = lines[i]!.split('\t');
    if (cells.length !== header.length) {
      throw new Error(`${file}:${i + 1}: expected ${header.length} tab-separated fields (${header.join(', ')}), got ${cells.length}.`);
    }
    const row: Record<string, string> = {};
    header.forEach((h, j) => { row[h] = cells[j]!; });
    out.push(fmt.source(row));
  }
  if (out.length === 0) throw new Error(`${file}: no data rows after the header.`);
  return out;
}

/** Token ids with `</s>`, truncated to maxLength keeping `</s>` last (HF truncation with special tokens). */
export function encodeTruncated(tok: Tokenizer, text: string, maxLength: number): { ids: number[]; truncated: boolean } {
  const ids = tok.encode(text);
  if (ids.length <= maxLength) return { ids, truncated: false };
  return { ids: [...ids.slice(0, maxLength - 1), tok.eosId], truncated: true };
}

export interface LengthStats {
  n: number;
  mean: number;
  median: number;
  p90: number;
  max: number;
  truncated: number; // examples cut to maxLength
}

export function lengthStats(lengths: readonly number[], truncated = 0): LengthStats {
  const s = [...lengths].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length);
  return { n: s.length, mean: Math.round(mean * 10) / 10, median: at(0.5), p90: at(0.9), max: s[s.length - 1] ?? 0, truncated };
}

export interface TaskLengths {
  task: LengthTask;
  file: string; // relative to the repo root
  origin: DevFile['origin'];
  ids: number[][]; // every dev example, tokenized and truncated
  stats: LengthStats;
}

export function tokenizeDev(task: LengthTask, tok: Tokenizer, maxLength: number): TaskLengths {
  const dev = locateDev(task);
  let truncated = 0;
  const ids = readSources(task, dev.file).map((text) => {
    const e = encodeTruncated(tok, text, maxLength);
    if (e.truncated) truncated++;
    return e.ids;
  });
  return { task, file: relative(repoRoot(), dev.file), origin: dev.origin, ids, stats: lengthStats(ids.map((x) => x.length), truncated) };
}

/** A right-padded batch: ids (B, T), mask (B, T), T = its longest row. */
export interface PaddedBatch {
  B: number;
  T: number;
  ids: number[]; // (B*T), pads = padId
  mask: number[]; // (B*T), 1 for tokens, 0 for pads
  lengths: number[]; // (B) real tokens per row
}

/** Pad rows to `T` (default: the longest row, i.e. dynamic padding). */
export function padBatch(rows: readonly number[][], padId: number, T = Math.max(...rows.map((r) => r.length))): PaddedBatch {
  const B = rows.length;
  const ids = new Array<number>(B * T).fill(padId);
  const mask = new Array<number>(B * T).fill(0);
  rows.forEach((r, b) => {
    if (r.length > T) throw new Error(`padBatch: row ${b} has ${r.length} tokens, longer than the padded length ${T}.`);
    for (let t = 0; t < r.length; t++) { ids[b * T + t] = r[t]!; mask[b * T + t] = 1; }
  });
  return { B, T, ids, mask, lengths: rows.map((r) => r.length) };
}

/**
 * `count` batches of `B` distinct examples: a seeded shuffle of the dev set (as a training loader would draw
 * them), cut into consecutive batches. Throws when the set has fewer than count·B examples.
 */
export function drawBatches(examples: readonly number[][], B: number, count: number, seed: number, padId: number): PaddedBatch[] {
  if (examples.length < B * count) {
    throw new Error(`Need ${count} batches of ${B} = ${B * count} examples, but the dev set has only ${examples.length}. Use fewer --batches or a smaller --batch.`);
  }
  const order = new Rng(seed).shuffle(examples.map((_, i) => i));
  const out: PaddedBatch[] = [];
  for (let k = 0; k < count; k++) out.push(padBatch(order.slice(k * B, (k + 1) * B).map((i) => examples[i]!), padId));
  return out;
}
