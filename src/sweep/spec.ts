/**
 * A sweep file (JSON or YAML) and its expansion into jobs.
 *
 *   {
 *     "name": "sst2-lr",                       optional; default: the file's name
 *     "output": "sweeps/sst2-lr",              the sweep folder; default sweeps/<name>
 *     "baseConfig": "train.json",              optional: a `softprompt train --config` file as the base (its
 *                                              output and resume are dropped)
 *     "base": { "model": "./t5-base", "task": "sst2", "steps": 30000 },    train options (override baseConfig)
 *     "grid": { "lr": [0.3, 0.4, 0.5], "lrLowrank": [5e-3, 3e-1, 5e-4], "seed": [1, 2] },
 *     "select": { "metric": "accuracy", "split": "validation", "mode": "max", "groupBy": ["task"], "averageOver": ["seed"] }
 *   }
 *
 * `grid` maps any train option to its values; the jobs are the cartesian product. A list of grids is their union
 * (e.g. a different lr range per task). Each job is a full train config: base < grid values, plus the fields the
 * sweep owns (output = <output>/runs/<job name>, resume = true, quiet = true). Relative paths resolve against the
 * current directory, as for `softprompt train`, and are sent to workers as absolute paths.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { SoftpromptError } from '../errors.js';
import type { TrainConfig } from '../train/config.js';
import { parseWith } from '../validate.js';

export type Scalar = string | number | boolean | null;

const ScalarSchema = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const GridSchema = z.record(z.string(), z.array(ScalarSchema).min(1, 'each grid axis needs at least one value'));

const SelectSchema = z.object({
  metric: z.string().min(1).optional(), // default: each task's primary metric
  split: z.enum(['validation', 'test']).default('validation'), // the split the best configuration is chosen on
  mode: z.enum(['max', 'min']).default('max'),
  groupBy: z.array(z.string().min(1)).default(['task']), // one best configuration per value of these fields
  averageOver: z.array(z.string().min(1)).default([]), // fields (e.g. seed) whose runs are averaged into one row
}).strict();

const SweepFileSchema = z.object({
  name: z.string().min(1).optional(),
  output: z.string().min(1).optional(),
  baseConfig: z.string().min(1).optional(),
  base: z.record(z.string(), z.unknown()).default({}),
  grid: z.union([GridSchema, z.array(GridSchema).min(1)]).default({}),
  select: SelectSchema.default({ split: 'validation', mode: 'max', groupBy: ['task'], averageOver: [] }),
}).strict();

export type SweepSelect = z.output<typeof SelectSchema>;

/** How train options become a validated TrainConfig; the CLI passes its own (src/cli/train-config.ts). */
export interface TrainConfigReader {
  /** Keys of a config object in TrainConfig spelling (unknown keys refused); `where` names the source. */
  values(obj: Record<string, unknown>, where: string): Record<string, unknown>;
  /** A `softprompt train --config` file's values. */
  file(file: string): Record<string, unknown>;
  /** Validate merged values. */
  parse(values: Record<string, unknown>, where: string): TrainConfig;
}

export interface SweepJob {
  /** Folder name under <output>/runs, from the job's grid values, e.g. "lr=0.3_seed=1". */
  name: string;
  /** Stable id: a hash of the config and the run folder (the BullMQ job id). */
  id: string;
  /** This job's grid values (train option → value). */
  values: Record<string, Scalar>;
  config: TrainConfig;
  /** Absolute run folder. */
  runDir: string;
}

export interface SweepPlan {
  name: string;
  /** The sweep file (absolute). */
  file: string;
  /** The sweep folder (absolute). */
  output: string;
  select: SweepSelect;
  jobs: SweepJob[];
}

/** Fields the sweep sets for every job; a sweep file may not set them. */
const OWNED = ['output', 'resume'] as const;
/** Path-valued train options, made absolute so workers anywhere read the same files. */
const PATH_KEYS = ['model', 'tokenizer', 'dataDir', 'trainFile', 'devFile', 'initAdapter'] as const;
/** Fields that do not change a run's result; ignored when comparing configs. */
export const RUNTIME_KEYS: readonly string[] = ['output', 'resume', 'quiet', 'threads'];

export const RESULTS_FILE = 'sweep.json';
/** The BullMQ queue `sweep --queue` and `worker` use unless --queue-name. */
export const DEFAULT_QUEUE_NAME = 'softprompt';

export function readSweepFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR') throw new SoftpromptError('file_not_found', `Sweep file ${file} does not exist${code === 'EISDIR' ? ' (it is a folder)' : ''}.`, { file, path: 'config' });
    throw err;
  }
  const yaml = /\.ya?ml$/i.test(file);
  try {
    return yaml ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new SoftpromptError('malformed_file', `Sweep file ${file} is not valid ${yaml ? 'YAML' : 'JSON'}: ${(err as Error).message.split('\n')[0]}`, { file, cause: err });
  }
}

/** Read a sweep file and expand it into jobs; every job's config is validated before anything runs. */
export function planSweep(file: string, reader: TrainConfigReader, cwd = process.cwd()): SweepPlan {
  const raw = readSweepFile(file);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new SoftpromptError('malformed_file', `Sweep file ${file} should hold an object with "base", "grid" and "select", e.g. {"base": {"model": "./t5-base"}, "grid": {"lr": [0.3, 0.5]}}.`, { file });
  }
  const fields = Object.fromEntries(Object.entries(raw).filter(([k]) => !k.startsWith('//') && !k.startsWith('$'))); // comments
  const known = Object.keys(SweepFileSchema.shape);
  for (const k of Object.keys(fields)) {
    if (!known.includes(k)) {
      throw new SoftpromptError('invalid_config', `Sweep file ${file} has an unknown key "${k}"; the keys are ${known.map((x) => `"${x}"`).join(', ')}.`, {
        file, path: `sweep.${k}`, hint: 'train options go inside "base" (fixed) or "grid" (lists of values).',
      });
    }
  }
  const spec = parseWith(SweepFileSchema, fields, 'sweep', file);
  const name = spec.name ?? path.basename(file).replace(/\.(json|ya?ml)$/i, '');
  const output = path.resolve(cwd, spec.output ?? path.join('sweeps', name));

  let base: Record<string, unknown> = {};
  if (spec.baseConfig !== undefined) {
    // a train config's run folder and resume flag mean nothing here: the sweep sets them per job
    const { output: _output, resume: _resume, ...rest } = reader.file(path.resolve(cwd, spec.baseConfig));
    base = rest;
  }
  base = { ...base, ...reader.values(spec.base, `${file} (base)`) };
  const grids = (Array.isArray(spec.grid) ? spec.grid : [spec.grid]).map((g, i) => reader.values(g, `${file} (grid${Array.isArray(spec.grid) ? `[${i}]` : ''})`) as Record<string, Scalar[]>);
  for (const key of OWNED) {
    const inGrid = grids.some((g) => key in g);
    if (key in base || inGrid) {
      throw new SoftpromptError('invalid_config', `Sweep file ${file} sets "${key}" ${inGrid ? 'in the grid' : 'in the base'}, but the sweep sets it for every job (${key === 'output' ? 'each job runs in <output>/runs/<job name>; set the sweep\'s "output" instead' : 'jobs always resume their own run folder'}).`, {
        file, path: `sweep.${inGrid ? 'grid' : 'base'}.${key}`,
      });
    }
  }
  const { select } = spec;
  for (const key of [...select.groupBy, ...select.averageOver]) {
    if (!(key in base) && !grids.some((g) => key in g) && !isTrainKey(reader, key)) {
      throw new SoftpromptError('invalid_config', `Sweep file ${file}: select names "${key}", which is not a train option.`, { file, path: 'sweep.select' });
    }
  }

  const jobs: SweepJob[] = [];
  const seen = new Map<string, SweepJob>();
  for (const grid of grids) {
    for (const values of cartesian(grid)) {
      const merged: Record<string, unknown> = { ...base, ...reader.values(values, `${file} (grid)`) };
      for (const k of PATH_KEYS) if (typeof merged[k] === 'string') merged[k] = path.resolve(cwd, merged[k] as string);
      const jobName = jobNameOf(values);
      const runDir = path.join(output, 'runs', jobName);
      let config: TrainConfig;
      try {
        config = reader.parse({ ...merged, output: runDir, resume: true, quiet: true }, file);
      } catch (err) {
        if (err instanceof SoftpromptError && Object.keys(values).length > 0) {
          throw new SoftpromptError(err.code, `${err.message.replace(/\.$/, '')} (job ${jobName}).`, { ...(err.path !== undefined ? { path: err.path } : {}), file, ...(err.hint !== undefined ? { hint: err.hint } : {}) });
        }
        throw err;
      }
      const id = jobId(config);
      if (seen.has(id)) continue; // the same config from two grids runs once
      const clash = jobs.find((j) => j.name === jobName);
      const job: SweepJob = { name: clash === undefined ? jobName : `${jobName}-${id.slice(0, 6)}`, id, values, config, runDir };
      if (clash !== undefined) {
        job.runDir = path.join(output, 'runs', job.name);
        job.config = { ...config, output: job.runDir };
        job.id = jobId(job.config);
      }
      seen.set(id, job);
      jobs.push(job);
    }
  }
  return { name, file: path.resolve(cwd, file), output, select, jobs };
}

function isTrainKey(reader: TrainConfigReader, key: string): boolean {
  try {
    reader.values({ [key]: null }, 'select');
    return true;
  } catch {
    return false;
  }
}

/** Every combination of the axes' values, in file order (the last axis varies fastest). */
export function cartesian(grid: Record<string, Scalar[]>): Record<string, Scalar>[] {
  let out: Record<string, Scalar>[] = [{}];
  for (const [key, vals] of Object.entries(grid)) out = out.flatMap((o) => vals.map((v) => ({ ...o, [key]: v })));
  return out;
}

/** "lr=0.3_seed=1"; "base" for a job with no grid values. Unsafe characters and long values are shortened. */
export function jobNameOf(values: Record<string, Scalar>): string {
  const parts = Object.entries(values).map(([k, v]) => {
    const text = String(v);
    let safe = text.replace(/[^A-Za-z0-9.+-]/g, '-');
    if (safe !== text || safe.length > 24) safe = `${safe.slice(0, 16)}-${shortHash(text)}`;
    return `${k}=${safe}`;
  });
  return parts.length === 0 ? 'base' : parts.join('_');
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/** A config without the fields that do not change the result, keys sorted, as JSON. */
export function canonicalConfig(config: Record<string, unknown>): string {
  const keys = Object.keys(config).filter((k) => !RUNTIME_KEYS.includes(k) && config[k] !== undefined).sort();
  return JSON.stringify(Object.fromEntries(keys.map((k) => [k, config[k]])));
}

/** Same config and run folder → same id, so enqueueing a sweep twice adds each job once. */
export function jobId(config: TrainConfig): string {
  return createHash('sha256').update(canonicalConfig(config)).update('\0').update(config.output ?? '').digest('hex').slice(0, 24);
}

/** The value of a grouping / averaging field for a job: its grid value, or the config's. */
export function fieldValue(job: Pick<SweepJob, 'values' | 'config'>, key: string): Scalar {
  if (key in job.values) return job.values[key]!;
  const v = (job.config as Record<string, unknown>)[key];
  return v === undefined ? null : (v as Scalar);
}
