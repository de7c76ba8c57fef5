/**
 * The task an adapter was trained on, saved beside it as `softprompt_task.json`, so that
 *
 *   softprompt eval --adapter DIR --data dev.csv
 *   softprompt predict --adapter DIR --text "a gorgeous movie"
 *
 * need no other flags: the task (a GLUE/SuperGLUE name or "local"), how a row becomes a source (local: template
 * and columns), the label words, the evaluation mode, the input limit and the model family. A file of its own
 * (not keys in adapter_config.json, which PEFT must keep loading). Flags given to eval/predict override it.
 *
 *   { "format": "softprompt.task", "version": 1, "task": "local", "template": "review: {text}",
 *     "textColumn": "review", "textPairColumn": null, "labelColumn": "sentiment", "labels": ["neg", "pos"],
 *     "labelWords": ["negative", "positive"], "evalMode": "rank", "maxLength": 64, "maxNewTokens": 20,
 *     "seed": 42, "modelFamily": "t5" }
 *
 * Adapter folders come from strangers: the file is read with a size cap, never through a symlink, and validated
 * (zod, unknown keys refused); a bad value is an invalid_config error naming the file and the field.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { SoftpromptError } from '../errors.js';
import { atomicWriteFile } from '../io/atomic.js';
import { readUntrustedText } from '../io/untrusted-file.js';
import { parseWith } from '../validate.js';
import { withLabelWords } from './label-words.js';
import { createLocalTask, type LocalTaskOptions } from './local.js';
import { canonicalTaskName, getTask } from './registry.js';
import type { TaskSpec } from './types.js';

export const SAVED_TASK_FILE = 'softprompt_task.json';
/** Far above any real task file (a few hundred bytes; a thousand long label words fit). */
export const MAX_SAVED_TASK_BYTES = 256 << 10;

const name = z.string().min(1).max(256);
const words = z.array(z.string().min(1).max(1000)).min(1).max(10_000);

export const SavedTaskSchema = z.object({
  format: z.literal('softprompt.task'),
  version: z.literal(1),
  task: z.string().min(1).max(64).refine((t) => t === 'local' || canonicalTaskName(t) !== undefined, 'not a known task name or "local"'),
  template: z.string().min(1).max(10_000).nullable(), // local: the source template; null: the named task's own format
  textColumn: name.nullable(),
  textPairColumn: name.nullable(),
  labelColumn: name.nullable(),
  labels: words.nullable(), // local: the files' label values in class order
  labelWords: words.nullable(), // the targets of the classes (after --label-words); null: regression / QA
  evalMode: z.enum(['generate', 'rank']),
  maxLength: z.number().int().min(2).max(1 << 20),
  maxNewTokens: z.number().int().min(1).max(1 << 16),
  seed: z.number().int().min(0).max(2 ** 32 - 1),
  modelFamily: z.enum(['t5', 'gpt2', 'llama']),
}).strict();

export type SavedTask = z.output<typeof SavedTaskSchema>;
export type ModelFamily = SavedTask['modelFamily'];

/** What a training run knows about its task, for savedTaskOf. */
export interface SavedTaskSource {
  task: TaskSpec;
  /** "local" or the task's name as trained */
  taskName: string;
  evalMode: 'generate' | 'rank';
  maxLength: number;
  maxNewTokens: number;
  seed: number;
  modelFamily: ModelFamily;
}

export function savedTaskOf(s: SavedTaskSource): SavedTask {
  const local = s.taskName === 'local' ? s.task.localFormat?.() : undefined;
  if (s.taskName === 'local' && local === undefined) throw new Error('savedTaskOf: a local task without localFormat()');
  return {
    format: 'softprompt.task', version: 1,
    task: local !== undefined ? 'local' : s.task.name,
    template: local?.template ?? null,
    textColumn: local?.textColumn ?? null,
    textPairColumn: local?.textPairColumn ?? null,
    labelColumn: local?.labelColumn ?? null,
    labels: local?.labels ?? null,
    labelWords: s.task.labelWords,
    evalMode: s.evalMode, maxLength: s.maxLength, maxNewTokens: s.maxNewTokens, seed: s.seed, modelFamily: s.modelFamily,
  };
}

export function writeSavedTask(dir: string, t: SavedTask): string {
  const file = path.join(dir, SAVED_TASK_FILE);
  atomicWriteFile(file, JSON.stringify(SavedTaskSchema.parse(t), null, 2) + '\n');
  return file;
}

/** The folder's softprompt_task.json, or null when it has none. */
export function readSavedTask(dir: string): SavedTask | null {
  const file = path.join(dir, SAVED_TASK_FILE);
  if (fs.lstatSync(file, { throwIfNoEntry: false }) === undefined) return null;
  const text = readUntrustedText(file, { followSymlinks: false, what: 'Task file', maxBytes: MAX_SAVED_TASK_BYTES });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SoftpromptError('malformed_file', `Task file ${file} is not valid JSON: ${(err as Error).message}.`, { file, cause: err });
  }
  const t = parseWith(SavedTaskSchema, json, 'task', file);
  const bad = (field: string, why: string): SoftpromptError =>
    new SoftpromptError('invalid_config', `task.${field}: ${why} (in ${file}).`, { file, path: `task.${field}` });
  if (t.task === 'local') {
    if (t.template === null || t.textColumn === null || t.labelColumn === null || t.labels === null) {
      throw bad(t.template === null ? 'template' : t.textColumn === null ? 'textColumn' : t.labelColumn === null ? 'labelColumn' : 'labels', 'a local task needs template, textColumn, labelColumn and labels');
    }
    if (t.labelWords !== null && t.labelWords.length !== t.labels.length) {
      throw bad('labelWords', `${t.labelWords.length} label words for ${t.labels.length} labels`);
    }
  }
  if (t.evalMode === 'rank' && t.labelWords === null) throw bad('evalMode', 'rank needs labelWords');
  return t;
}

/** Overrides from the command line (eval / predict flags); a different task name discards the saved format. */
export interface TaskOverrides {
  task?: string;
  template?: string;
  textColumn?: string;
  textPairColumn?: string;
  labelColumn?: string;
  labelWords?: string[];
  /** local: the files read for labels (when none are saved) and the split protocol */
  trainFile?: string;
  devFile?: string;
}

/** The task a saved definition describes, with overrides; null saved: the flags alone (as before task files). */
export function taskFromSaved(saved: SavedTask | null, o: TaskOverrides): TaskSpec {
  const same = saved !== null && (o.task === undefined || sameTask(o.task, saved.task));
  const taskName = o.task ?? saved?.task;
  if (taskName === undefined) {
    throw new SoftpromptError('usage', 'No task: the adapter folder has no softprompt_task.json; give --task.', { path: '--task' });
  }
  const s = same ? saved : null;
  if (taskName === 'local') {
    const opts: LocalTaskOptions = {
      textColumn: o.textColumn ?? s?.textColumn ?? 'text',
      labelColumn: o.labelColumn ?? s?.labelColumn ?? 'label',
    };
    const pair = o.textPairColumn ?? s?.textPairColumn ?? undefined;
    if (pair !== undefined) opts.textPairColumn = pair;
    else if (s !== null) opts.textPairColumn = null;
    const template = o.template ?? s?.template ?? undefined;
    if (template !== undefined) opts.template = template;
    if (s !== null && s.labels !== null) opts.labelWords = s.labels;
    if (o.trainFile !== undefined) opts.train = o.trainFile;
    if (o.devFile !== undefined) opts.dev = o.devFile;
    const task = createLocalTask(opts);
    const words = o.labelWords ?? s?.labelWords ?? undefined;
    return words === undefined || sameWords(words, task.labelWords) ? task : withLabelWords(task, words);
  }
  const task = getTask(taskName);
  const words = o.labelWords ?? s?.labelWords ?? undefined;
  return words === undefined || sameWords(words, task.labelWords) ? task : withLabelWords(task, words);
}

function sameTask(a: string, b: string): boolean {
  return a === b || (a !== 'local' && b !== 'local' && canonicalTaskName(a) === canonicalTaskName(b));
}

function sameWords(a: readonly string[], b: readonly string[] | null): boolean {
  return b !== null && a.length === b.length && a.every((w, i) => w === b[i]);
}
