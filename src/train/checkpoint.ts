/**
 * Training checkpoints: `<dir>/checkpoint-<step>/` holding
 *
 *   trainer_state.json     step, epoch, rng state, data cursor, best metric/step, early-stopping state, param table
 *   params.safetensors     every trainable tensor by its Param name (F32)
 *   optimizer.safetensors  "<name>.exp_avg" and "<name>.exp_avg_sq" per param (F32); metadata {"step": "<t>"}
 *
 * A checkpoint appears all at once or not at all: the three files are written into `.tmp-checkpoint-<step>-…/`
 * beside it, then the folder is renamed into place. A crash (or a throw) mid-save leaves at most a stale temp
 * folder, removed by the next save, and the previous checkpoints untouched. After each save, older checkpoints
 * beyond the newest `keep` are deleted, except the best one (HF `save_total_limit` with `load_best_model_at_end`).
 */

import fs from 'node:fs';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import { atomicWriteFile, syncDir } from '../io/atomic.js';
import { SafetensorsFile, writeSafetensors, type WritableTensor } from '../io/safetensors.js';
import type { DataCursor } from './data-order.js';
import type { EarlyStoppingState } from './early-stopping.js';
import type { AdamWState } from './optimizer.js';
import type { Param } from './params.js';
import type { RngState } from './rng.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export const TRAINER_STATE = 'trainer_state.json';
export const PARAMS_FILE = 'params.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
const PREFIX = 'checkpoint-';
const TMP_PREFIX = '.tmp-checkpoint-';
const OLD_PREFIX = '.old-checkpoint-';

/** What the loop hands to saveCheckpoint. */
export interface CheckpointContent {
  params: readonly Param[];
  optimizerState: AdamWState;
  /** Optimizer steps completed. */
  step: number;
  /** 0-based epoch of the last batch. */
  epoch: number;
  /** The data Rng's state. */
  rngState: RngState;
  /** Position in the shuffled data order; null when the loop does not own the data order. */
  dataCursor: DataCursor | null;
  bestMetric: number | null;
  bestStep?: number | null;
  earlyStopping?: EarlyStoppingState | null;
  /** Anything else JSON-safe (config echo, method name, …). */
  extra?: Record<string, JsonValue>;
  /** Side files written into the checkpoint folder with it, name → text (e.g. softprompt_task.json). */
  files?: Readonly<Record<string, string>>;
}

/** trainer_state.json */
export interface TrainerState {
  format: 'softprompt.trainer_state';
  version: 1;
  step: number;
  epoch: number;
  optimizerStep: number;
  rngState: RngState;
  dataCursor: DataCursor | null;
  bestMetric: number | null;
  bestStep: number | null;
  /** Folder name of the best checkpoint, e.g. "checkpoint-3000". */
  bestCheckpoint: string | null;
  earlyStopping: EarlyStoppingState | null;
  params: { name: string; group: string; shape: number[] }[];
  extra: Record<string, JsonValue>;
  savedAt: string;
}

export interface SavedTensor {
  group: string;
  shape: number[];
  data: Float32Array;
}

export interface LoadedCheckpoint {
  /** The checkpoint folder. */
  path: string;
  state: TrainerState;
  params: Record<string, SavedTensor>;
  optimizerState: AdamWState;
}

/** The writers saveCheckpoint uses; injectable so tests can fail a save half-way. */
export interface CheckpointIO {
  writeTensors(file: string, tensors: Record<string, WritableTensor>, metadata?: Record<string, string>): void;
  writeText(file: string, text: string): void;
}

export const defaultCheckpointIO: CheckpointIO = {
  writeTensors: writeSafetensors,
  writeText: atomicWriteFile,
};

export interface SaveOptions {
  /** Keep at most this many newest checkpoints (plus the best one); undefined keeps all. */
  keep?: number;
  io?: CheckpointIO;
}

export function checkpointName(step: number): string {
  return `${PREFIX}${step}`;
}

/** Writes `<dir>/checkpoint-<step>/` atomically and rotates old checkpoints; returns the folder path. */
export function saveCheckpoint(dir: string, content: CheckpointContent, options: SaveOptions = {}): string {
  const io = options.io ?? defaultCheckpointIO;
  const { step } = content;
  if (!Number.isInteger(step) || step < 0) {
    throw new SoftpromptError('invalid_config', `Checkpoint step must be a non-negative integer, got ${step}`, { path: 'step' });
  }
  if (options.keep !== undefined && !(Number.isInteger(options.keep) && options.keep >= 1)) {
    throw new SoftpromptError('invalid_config', `keep (save_total_limit) must be a positive integer, got ${options.keep}`, {
      path: 'keep',
    });
  }
  fs.mkdirSync(dir, { recursive: true });
  cleanInterruptedSaves(dir);

  const final = path.join(dir, checkpointName(step));
  const tmp = path.join(dir, `${TMP_PREFIX}${step}-${process.pid}-${Date.now()}`);
  fs.mkdirSync(tmp);
  try {
    const paramTensors: Record<string, WritableTensor> = {};
    const optTensors: Record<string, WritableTensor> = {};
    for (const p of content.params) {
      paramTensors[p.name] = { dtype: 'F32', shape: [...p.shape], data: p.data };
      const m = content.optimizerState.expAvg[p.name];
      const v = content.optimizerState.expAvgSq[p.name];
      if (m === undefined || v === undefined) {
        throw new SoftpromptError('missing_tensor', `Optimizer state has no moments for parameter "${p.name}"`, { path: p.name });
      }
      optTensors[`${p.name}.exp_avg`] = { dtype: 'F32', shape: [...p.shape], data: m };
      optTensors[`${p.name}.exp_avg_sq`] = { dtype: 'F32', shape: [...p.shape], data: v };
    }
    const bestStep = content.bestStep ?? null;
    const state: TrainerState = {
      format: 'softprompt.trainer_state',
      version: 1,
      step,
      epoch: content.epoch,
      optimizerStep: content.optimizerState.step,
      rngState: [...content.rngState],
      dataCursor: content.dataCursor,
      bestMetric: content.bestMetric,
      bestStep,
      bestCheckpoint: bestStep === null ? null : checkpointName(bestStep),
      earlyStopping: content.earlyStopping ?? null,
      params: content.params.map((p) => ({ name: p.name, group: p.group, shape: [...p.shape] })),
      extra: content.extra ?? {},
      savedAt: new Date().toISOString(),
    };
    io.writeTensors(path.join(tmp, PARAMS_FILE), paramTensors, { format: 'softprompt.params', step: String(step) });
    io.writeTensors(path.join(tmp, OPTIMIZER_FILE), optTensors, {
      format: 'softprompt.adamw',
      step: String(content.optimizerState.step),
    });
    io.writeText(path.join(tmp, TRAINER_STATE), JSON.stringify(state, null, 2) + '\n');
    for (const [name, text] of Object.entries(content.files ?? {})) {
      if (path.basename(name) !== name || [TRAINER_STATE, PARAMS_FILE, OPTIMIZER_FILE].includes(name)) {
        throw new SoftpromptError('invalid_config', `Checkpoint side file "${name}" must be a plain file name other than the checkpoint's own files.`, { path: 'files' });
      }
      io.writeText(path.join(tmp, name), text);
    }
    syncDir(tmp);
    if (fs.existsSync(final)) {
      // Re-saving a step (resume that re-runs it): move the old one aside first; rename cannot replace a folder.
      const old = path.join(dir, `${OLD_PREFIX}${step}-${process.pid}-${Date.now()}`);
      fs.renameSync(final, old);
      fs.renameSync(tmp, final);
      fs.rmSync(old, { recursive: true, force: true });
    } else {
      fs.renameSync(tmp, final);
    }
    syncDir(dir);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  if (options.keep !== undefined) rotateCheckpoints(dir, options.keep, content.bestStep ?? null);
  return final;
}

/** Every `checkpoint-<step>` folder in `dir`, oldest first; [] when `dir` does not exist. */
export function listCheckpoints(dir: string): { step: number; path: string }[] {
  if (!fs.existsSync(dir)) return [];
  const out: { step: number; path: string }[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const m = /^checkpoint-(\d+)$/.exec(entry.name);
    if (m === null || !entry.isDirectory()) continue;
    out.push({ step: Number(m[1]), path: path.join(dir, entry.name) });
  }
  return out.sort((a, b) => a.step - b.step);
}

/** The newest complete checkpoint folder in `dir` (one with a trainer_state.json), or null. */
export function latestCheckpoint(dir: string): string | null {
  const all = listCheckpoints(dir).filter((c) => fs.existsSync(path.join(c.path, TRAINER_STATE)));
  return all.length === 0 ? null : all[all.length - 1]!.path;
}

/** Deletes all but the newest `keep` checkpoints and the one at `bestStep`. */
export function rotateCheckpoints(dir: string, keep: number, bestStep: number | null): void {
  const all = listCheckpoints(dir);
  const keepSet = new Set(all.slice(Math.max(0, all.length - keep)).map((c) => c.step));
  if (bestStep !== null) keepSet.add(bestStep);
  for (const c of all) if (!keepSet.has(c.step)) fs.rmSync(c.path, { recursive: true, force: true });
}

/** Reads a checkpoint folder; 'file_not_found' / 'malformed_file' / 'missing_tensor' errors name the file. */
export function loadCheckpoint(dir: string): LoadedCheckpoint {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    const parent = path.dirname(dir);
    const found = listCheckpoints(parent).map((c) => path.basename(c.path));
    throw new SoftpromptError('file_not_found', `Checkpoint folder ${dir} does not exist`, {
      file: dir,
      hint: found.length > 0 ? `Checkpoints in ${parent}: ${found.join(', ')}` : `No checkpoint-<step> folders in ${parent}.`,
    });
  }
  const statePath = path.join(dir, TRAINER_STATE);
  const state = readTrainerState(statePath);

  const paramsPath = path.join(dir, PARAMS_FILE);
  const optPath = path.join(dir, OPTIMIZER_FILE);
  const pf = openTensors(paramsPath);
  const of = openTensors(optPath);
  const params: Record<string, SavedTensor> = {};
  const expAvg: Record<string, Float32Array> = {};
  const expAvgSq: Record<string, Float32Array> = {};
  for (const p of state.params) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const data = readSized(pf, p.name, n);
    params[p.name] = { group: p.group, shape: [...p.shape], data };
    expAvg[p.name] = readSized(of, `${p.name}.exp_avg`, n);
    expAvgSq[p.name] = readSized(of, `${p.name}.exp_avg_sq`, n);
  }
  return { path: dir, state, params, optimizerState: { step: state.optimizerStep, expAvg, expAvgSq } };
}

/**
 * Copies saved values into the live params, by name. Every live param must be in the checkpoint with the same
 * number of values ('missing_tensor' / 'shape_mismatch' otherwise).
 */
export function restoreParams(params: readonly Param[], loaded: LoadedCheckpoint): void {
  for (const p of params) {
    const saved = loaded.params[p.name];
    if (saved === undefined) {
      throw new SoftpromptError('missing_tensor', `Parameter "${p.name}" is not in checkpoint ${loaded.path}`, {
        file: loaded.path,
        path: p.name,
        hint: `It holds: ${Object.keys(loaded.params).join(', ')}. Was it saved with the same method and config?`,
      });
    }
    if (saved.data.length !== p.data.length) {
      throw new SoftpromptError(
        'shape_mismatch',
        `Parameter "${p.name}" in ${loaded.path}: expected shape [${p.shape.join(', ')}], got [${saved.shape.join(', ')}]`,
        { file: loaded.path, path: p.name, hint: 'Was it saved with the same method and config?' },
      );
    }
  }
  for (const p of params) p.data.set(loaded.params[p.name]!.data);
}

function readTrainerState(file: string): TrainerState {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (cause) {
    throw new SoftpromptError('file_not_found', `Checkpoint file ${file} is missing`, {
      file,
      cause,
      hint: 'Was the checkpoint copied only in part? Resume from another checkpoint-<step> folder (train --resume RUN/checkpoint-<step>).',
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new SoftpromptError('malformed_file', `${file} is not valid JSON (${(cause as Error).message})`, { file, cause });
  }
  const bad = (field: string, expected: string): SoftpromptError =>
    new SoftpromptError('malformed_file', `${file}: field "${field}" should be ${expected}`, { file, path: field });
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('(root)', 'an object');
  const o = raw as Record<string, unknown>;
  if (o.format !== 'softprompt.trainer_state') throw bad('format', '"softprompt.trainer_state"');
  if (o.version !== 1) throw bad('version', '1');
  const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  const nullable = (v: unknown, ok: (x: unknown) => boolean): boolean => v === null || ok(v);
  for (const k of ['step', 'epoch', 'optimizerStep'] as const) if (!isCount(o[k])) throw bad(k, 'a non-negative integer');
  if (!Array.isArray(o.rngState) || o.rngState.length !== 4 || !o.rngState.every(isCount)) {
    throw bad('rngState', 'four uint32 words');
  }
  if (!nullable(o.bestMetric, (v) => typeof v === 'number')) throw bad('bestMetric', 'a number or null');
  if (!nullable(o.bestStep, isCount)) throw bad('bestStep', 'a non-negative integer or null');
  if (!nullable(o.dataCursor, (v) => typeof v === 'object' && v !== null && ['numExamples', 'batchSize', 'epoch', 'position'].every((k) => isCount((v as Record<string, unknown>)[k])))) {
    throw bad('dataCursor', 'an object {numExamples, batchSize, epoch, position, epochStartRng} or null');
  }
  if (!nullable(o.earlyStopping, (v) => typeof v === 'object' && v !== null && isCount((v as Record<string, unknown>).badEvals))) {
    throw bad('earlyStopping', 'an object {best, bestStep, badEvals} or null');
  }
  const paramsOk =
    Array.isArray(o.params) &&
    o.params.every(
      (p: unknown) =>
        typeof p === 'object' &&
        p !== null &&
        typeof (p as Record<string, unknown>).name === 'string' &&
        typeof (p as Record<string, unknown>).group === 'string' &&
        Array.isArray((p as Record<string, unknown>).shape) &&
        ((p as Record<string, unknown>).shape as unknown[]).every(isCount),
    );
  if (!paramsOk) throw bad('params', 'a list of {name, group, shape}');
  if (typeof o.extra !== 'object' || o.extra === null || Array.isArray(o.extra)) throw bad('extra', 'an object');
  return raw as TrainerState;
}

function openTensors(file: string): SafetensorsFile {
  if (!fs.existsSync(file)) {
    throw new SoftpromptError('file_not_found', `Checkpoint file ${file} is missing`, {
      file,
      hint: 'Was the checkpoint copied only in part? Resume from another checkpoint-<step> folder (train --resume RUN/checkpoint-<step>).',
    });
  }
  return SafetensorsFile.open(file);
}

function readSized(f: SafetensorsFile, name: string, n: number): Float32Array {
  const data = f.getF32(name);
  if (data.length !== n) {
    throw new SoftpromptError(
      'malformed_file',
      `Tensor "${name}" in ${f.file} has ${data.length} values, but trainer_state.json gives it ${n}`,
      { file: f.file, path: name },
    );
  }
  return data;
}

/**
 * Cleans up after a save that crashed: temp folders go; a moved-aside old checkpoint whose replacement never
 * arrived is moved back.
 */
export function cleanInterruptedSaves(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith(TMP_PREFIX)) {
      fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    } else if (name.startsWith(OLD_PREFIX)) {
      const step = /^\.old-checkpoint-(\d+)-/.exec(name)?.[1];
      const target = step === undefined ? null : path.join(dir, checkpointName(Number(step)));
      if (target !== null && !fs.existsSync(target)) fs.renameSync(path.join(dir, name), target);
      else fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    }
  }
}

