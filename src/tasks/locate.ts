/**
 * Finding a task's files. `dir` may be the task folder itself (data/sst2) or a data root holding the usual
 * sub-folder (/work/shared/data → glue/SST-2). Each split lists candidate files in preference order; the first
 * one that exists is read.
 */

import fs from 'node:fs';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import type { Example } from './types.js';

export interface Candidate {
  /** Path relative to the data dir, e.g. "glue/SST-2/train.tsv". */
  rel: string;
  parse(file: string): Example[];
  /** Said in loadSplits' notes when this file is the one read, e.g. that it is a 32-example FewGLUE sample. */
  note?: string;
}

/** One file name under the folder itself and under each of `dirs`: under(["SST-2"], "train.tsv", p). */
export function under(dirs: readonly string[], file: string, parse: (file: string) => Example[], note?: string): Candidate[] {
  return ['', ...dirs].map((d) => (note === undefined ? { rel: path.join(d, file), parse } : { rel: path.join(d, file), parse, note }));
}

export interface Found {
  file: string;
  candidate: Candidate;
}

export function findFile(dir: string, candidates: readonly Candidate[]): Found | undefined {
  for (const c of candidates) {
    const file = path.join(dir, c.rel);
    if (fs.statSync(file, { throwIfNoEntry: false })?.isFile()) return { file, candidate: c };
  }
  return undefined;
}

export function requireFile(task: string, what: string, dir: string, candidates: readonly Candidate[]): Found {
  const found = findFile(dir, candidates);
  if (found !== undefined) return found;
  const tried = candidates.map((c) => c.rel);
  const shown = tried.length > 6 ? [...tried.slice(0, 6), `… (${tried.length} in all)`] : tried;
  throw new SoftpromptError('file_not_found', `No ${what} file for task "${task}" in ${dir} (looked for ${shown.join(', ')}).`, {
    file: dir,
    path: `${task}.${what}`,
    hint: 'pass the task folder (e.g. data/sst2) or a data root with the GLUE/SuperGLUE layout (glue/SST-2/train.tsv).',
  });
}
