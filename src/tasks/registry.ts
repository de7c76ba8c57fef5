/**
 * Task registry and the one entry point for data: loadSplits(task, dataDir) reads a task's original splits and
 * applies DePT's split protocol (splits.ts) with the reference's torch permutations where they were exported.
 *
 *   const s = loadSplits('sst2', bundledDataDir());        // data/sst2 slice
 *   const r = loadSplits('rte', '/work/shared/data');      // glue/RTE/{train,dev}.tsv → 2490 / 138 / 139
 *   r.splitProtocol                                         // 'torch-randperm-42'
 */

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SoftpromptError } from '../errors.js';
import type { DefinedTask } from './define.js';
import { cola, makeStsb, mnli, mrpc, qnli, qqp, rte, sst2, stsb, wnli } from './glue.js';
import { Permuter, EXPORT_SEED } from './permutation.js';
import { applySplitProtocol, type SplitOptions } from './splits.js';
import type { StsbRounding } from './stsb.js';
import { boolq, cb, copa, multirc, superglueRte, wic, wsc } from './superglue.js';
import type { SourceSplit, SplitProtocol, Splits, TaskSpec } from './types.js';

const stsbFixed = makeStsb('fixed');

const TASKS: ReadonlyMap<string, DefinedTask> = new Map(
  [cola, sst2, rte, mrpc, stsb, stsbFixed, qnli, wnli, qqp, mnli, boolq, cb, copa, multirc, superglueRte, wic, wsc].map((t) => [t.name, t]),
);

/** Canonical task names, e.g. "sst2", "superglue-rte", "wsc". */
export const TASK_NAMES: readonly string[] = [...TASKS.keys()];

const SUPERGLUE_PREFIX = /^(superglue|super_glue|super-glue)[-_/]/;
const GLUE_PREFIX = /^glue[-_/]/;

/**
 * The canonical name for a user-facing one, or undefined: "SST-2", "glue-sst2", "glue/sst2" → "sst2";
 * "superglue-cb", "super_glue/cb" → "cb"; "superglue-rte" → "superglue-rte" (plain "rte" is GLUE's);
 * "wsc.fixed" → "wsc"; "sts-b" → "stsb"; "stsb-fixed" → "stsb-fixed".
 */
export function canonicalTaskName(name: string): string | undefined {
  let s = name.trim().toLowerCase();
  const superglue = SUPERGLUE_PREFIX.test(s);
  s = s.replace(SUPERGLUE_PREFIX, '').replace(GLUE_PREFIX, '').replace(/\.fixed$/, '');
  if (superglue && s === 'rte') return 'superglue-rte';
  if (s === 'superglue-rte') return s;
  const key = s.replace(/[-_ ]/g, '');
  if (key === 'stsbfixed') return 'stsb-fixed';
  return TASKS.has(key) ? key : undefined;
}

export interface GetTaskOptions {
  /** STS-B targets: DePT's 'compat' one-decimal rounding (default) or T5's 'fixed' nearest 0.2. */
  stsbRounding?: StsbRounding;
}

export function getTask(name: string, opts: GetTaskOptions = {}): TaskSpec {
  let canonical = canonicalTaskName(name);
  if (canonical === undefined) {
    throw new SoftpromptError('invalid_config', `Unknown task "${name}". Known tasks: ${TASK_NAMES.join(', ')}.`, {
      path: 'task',
      hint: 'aliases such as "SST-2", "glue-sst2" and "superglue-cb" work too; for your own files: --task local --train-file FILE --dev-file FILE (library: createLocalTask).',
    });
  }
  if (canonical === 'stsb' && opts.stsbRounding === 'fixed') canonical = 'stsb-fixed';
  return TASKS.get(canonical) as DefinedTask;
}

export interface LoadSplitsOptions extends SplitOptions, GetTaskOptions {
  /** Shuffle seed; 42 (the reference's) uses the exported torch permutations. */
  seed?: number;
}

export interface LoadedSplits extends Splits {
  task: string;
  seed: number;
  splitProtocol: SplitProtocol;
  /** The files read. */
  files: { train: string; dev: string; devMismatched?: string };
  /** Where this data or split differs from the reference's. */
  notes: string[];
}

function isDefined(t: TaskSpec): t is DefinedTask {
  return typeof (t as Partial<DefinedTask>).noteFor === 'function' && typeof (t as Partial<DefinedTask>).fileFor === 'function';
}

export function loadSplits(task: string | TaskSpec, dataDir: string, opts: LoadSplitsOptions = {}): LoadedSplits {
  const spec = typeof task === 'string' ? getTask(task, opts) : task;
  if (!fs.statSync(dataDir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new SoftpromptError('file_not_found', `Data folder ${dataDir} does not exist.`, { file: dataDir, path: 'dataDir' });
  }
  const train = spec.read(dataDir, 'train');
  const dev = spec.read(dataDir, 'dev');
  const devMismatched = spec.splitKind === 'mnli' ? (spec.readMismatched?.(dataDir) ?? null) : null;
  const permuter = new Permuter(opts.seed ?? EXPORT_SEED);
  const { splits, notes } = applySplitProtocol(spec.splitKind, { train, dev, devMismatched }, permuter, opts);

  const where = (split: SourceSplit): string => spec.locate?.(dataDir, split) ?? path.join(dataDir, `(${split})`);
  const files: LoadedSplits['files'] = { train: where('train'), dev: where('dev') };
  const mismatchedFile = devMismatched !== null && isDefined(spec) ? spec.fileFor(dataDir, 'devMismatched') : undefined;
  if (mismatchedFile !== undefined) files.devMismatched = mismatchedFile;
  const fileNotes = isDefined(spec) ? [spec.noteFor(dataDir, 'train'), spec.noteFor(dataDir, 'dev')] : [];
  const allNotes = [...new Set(fileNotes.filter((n): n is string => n !== undefined))].concat(notes);
  if (permuter.protocol === 'softprompt-seeded') {
    allNotes.push(
      permuter.seed !== EXPORT_SEED
        ? `seed ${permuter.seed}: shuffles come from the TS re-creation of torch.randperm, not from exported permutations.`
        : `no exported torch permutation for n = ${[...new Set(permuter.fallbacks)].join(', ')}: those shuffles come from the TS re-creation of torch.randperm (run scripts/export-splits.py to export them).`,
    );
  }
  return { ...splits, task: spec.name, seed: permuter.seed, splitProtocol: permuter.protocol, files, notes: allNotes };
}

/** The repo's bundled data/ folder (real GLUE slices: sst2, rte, cola), from src/tasks or dist/src/tasks. */
export function bundledDataDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, '..', '..', 'data'), path.join(here, '..', '..', '..', 'data')];
  const found = candidates.find((d) => fs.existsSync(path.join(d, 'sst2', 'train.tsv')));
  if (found === undefined) {
    throw new SoftpromptError('file_not_found', `The bundled data folder was not found (looked in ${candidates.join(', ')}).`, {
      path: 'dataDir',
    });
  }
  return path.resolve(found);
}
