/** Builds a TaskSpec from per-split candidate files (see locate.ts). */

import path from 'node:path';
import { requireFile, findFile, type Candidate } from './locate.js';
import type { Example, SourceSplit, TaskSpec } from './types.js';

export interface TaskFiles {
  train: Candidate[];
  dev: Candidate[];
  /** MNLI's mismatched dev set. */
  devMismatched?: Candidate[];
}

export type TaskDefinition = Omit<TaskSpec, 'read' | 'locate' | 'readMismatched'> & { files: TaskFiles };

/** A TaskSpec plus the file each split resolves to and its note (for loadSplits' report). */
export interface DefinedTask extends TaskSpec {
  fileFor(dir: string, split: SourceSplit | 'devMismatched'): string | undefined;
  noteFor(dir: string, split: SourceSplit | 'devMismatched'): string | undefined;
}

export function defineTask(def: TaskDefinition): DefinedTask {
  const { files, ...spec } = def;
  const cands = (split: SourceSplit | 'devMismatched'): Candidate[] => files[split] ?? [];
  const task: DefinedTask = {
    ...spec,
    read(dir: string, split: SourceSplit): Example[] {
      const { file, candidate } = requireFile(def.name, split, dir, cands(split));
      return candidate.parse(file);
    },
    locate: (dir, split) => findFile(dir, cands(split))?.file,
    // a file given by name is parsed as the dev candidate with its extension (SST-2/dev.tsv, glue-samples dev.json)
    readFile(file: string): Example[] {
      const ext = path.extname(file).toLowerCase();
      const dev = cands('dev');
      const c = dev.find((x) => path.extname(x.rel).toLowerCase() === ext) ?? dev[0];
      if (c === undefined) throw new Error(`task ${def.name} lists no dev file`);
      return c.parse(file);
    },
    fileFor: (dir, split) => findFile(dir, cands(split))?.file,
    noteFor: (dir, split) => findFile(dir, cands(split))?.candidate.note,
  };
  if (files.devMismatched !== undefined) {
    task.readMismatched = (dir: string): Example[] | null => {
      const found = findFile(dir, cands('devMismatched'));
      return found === undefined ? null : found.candidate.parse(found.file);
    };
  }
  return task;
}
