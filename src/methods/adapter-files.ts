/**
 * Adapter folders that PEFT (PROMPT_TUNING) or the DePT fork (PROMPT_TUNING_LORA) load with
 * `PeftModel.from_pretrained(model, dir)` (spec §1.9, §4.4):
 *
 *   adapter_config.json                       see adapter-config.ts
 *   adapter_model.safetensors                 written by saveAdapter: F32, metadata {"format": "pt"}
 *     prompt_embeddings                (l·n, d)  P; n = num_transformer_submodules, only the first l rows are used
 *     prompt_encoder.lora_embedding_A  (s, r)    A, row i ↔ input position i    DePT only
 *     prompt_encoder.lora_embedding_B  (r, d)    B                              DePT only
 *   adapter_model.bin                         read only (the fork's torch.save default), via the safe pickle reader
 *
 * Loading prefers adapter_model.safetensors, as both PEFT and the fork do. Saving is crash-safe: both files are
 * staged under temporary names, then renamed into place with adapter_config.json last, so the folder never pairs
 * new weights with an old config (see saveAdapter).
 *
 *   saveAdapter('out/cola', dept, { baseModel: 't5-base', tokenizer: 't5-base', modelInfo, format: 'dept' });
 *   const m = loadAdapter('out/cola', { expectDModel: 768 });   // Dept, l=80 r=15 s=256
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import { atomicWriteFile, syncDir } from '../io/atomic.js';
import { formatShape } from '../io/dtype.js';
import { nearestNames, SafetensorsFile, writeSafetensors, type WritableTensor } from '../io/safetensors.js';
import { readTorchBin } from '../io/torch-bin.js';
import {
  ADAPTER_CONFIG_FILE, deptAdapterConfig, deptConfigFromAdapter, formatAdapterConfig, peftAdapterConfig, promptTuningConfigFromAdapter,
  readAdapterConfig, type AdapterBaseInfo, type AdapterConfigJson, type ParsedAdapterConfig, type ParsedDeptAdapterConfig, type PeftType,
} from './adapter-config.js';
import { Dept } from './dept.js';
import type { PeftMethod } from './method.js';
import { PromptTuning, type PromptTuningConfig } from './prompt-tuning.js';

export { ADAPTER_CONFIG_FILE } from './adapter-config.js';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
export const ADAPTER_BIN_FILE = 'adapter_model.bin';
export const PROMPT_KEY = 'prompt_embeddings';
export const LORA_A_KEY = 'prompt_encoder.lora_embedding_A';
export const LORA_B_KEY = 'prompt_encoder.lora_embedding_B';

const EXPECTED_FILES = `${ADAPTER_CONFIG_FILE} and ${ADAPTER_WEIGHTS_FILE} (or ${ADAPTER_BIN_FILE})`;

/** dept: the DePT fork's PROMPT_TUNING_LORA; peft: upstream PEFT's PROMPT_TUNING. */
export type AdapterFormat = 'dept' | 'peft';

export interface SaveAdapterInfo extends AdapterBaseInfo {
  format: AdapterFormat;
}

/** Points of saveAdapter a test can fail at (throw from onStage) to simulate a crash. */
export type SaveStage = 'weights-staged' | 'config-staged' | 'old-moved' | 'weights-placed';

export interface SaveAdapterHooks {
  onStage?(stage: SaveStage): void;
}

export interface SavedAdapter {
  dir: string;
  /** What was written: a prompt-tuning method is always PROMPT_TUNING, whatever the requested format. */
  peftType: PeftType;
  /** The files written, full paths. */
  files: string[];
}

function allZero(x: Float32Array): boolean {
  for (let i = 0; i < x.length; i++) if (x[i] !== 0) return false;
  return true;
}

/** The config object and tensors to write for `method`. */
function adapterContent(method: PeftMethod, info: SaveAdapterInfo): { peftType: PeftType; config: AdapterConfigJson; tensors: Record<string, WritableTensor> } {
  if (!(method instanceof Dept) && !(method instanceof PromptTuning)) {
    throw new SoftpromptError('unsupported', `Cannot save a "${method.type}" method as an adapter; softprompt saves dept and prompt_tuning.`, { path: 'method' });
  }
  const d = info.modelInfo.dModel;
  if (method.dModel !== d) {
    throw new SoftpromptError('shape_mismatch', `The ${method.type} method has d=${method.dModel} but the model info says d=${d}; the adapter config would not match its tensors.`, { path: 'token_dim' });
  }
  const prompt = (P: Float32Array, l: number): Record<string, WritableTensor> => ({ [PROMPT_KEY]: { dtype: 'F32', shape: [l, d], data: P } });

  if (method instanceof PromptTuning) {
    return { peftType: 'PROMPT_TUNING', config: peftAdapterConfig(method.config, info), tensors: prompt(method.prompt.data, method.numVirtualTokens) };
  }
  const c = method.config;
  if (info.format === 'dept') {
    return {
      peftType: 'PROMPT_TUNING_LORA',
      config: deptAdapterConfig(c, info),
      tensors: {
        ...prompt(method.prompt.data, c.numVirtualTokens),
        [LORA_A_KEY]: { dtype: 'F32', shape: [c.maxLength, c.rank], data: method.loraA.data },
        [LORA_B_KEY]: { dtype: 'F32', shape: [c.rank, d], data: method.loraB.data },
      },
    };
  }
  // format 'peft': PROMPT_TUNING can carry only P. Dropping a nonzero A·B offset would change the model (spec §1.9).
  if (c.rank > 0 && !allZero(method.loraB.data)) {
    throw new SoftpromptError('unsupported', `Cannot save this DePT adapter (l=${c.numVirtualTokens}, r=${c.rank}) in upstream PEFT's PROMPT_TUNING format: PEFT has no place for the low-rank offset A·B, and dropping it would change the model.`, {
      path: 'format', hint: "save it with format 'dept' (PROMPT_TUNING_LORA, loaded by the DePT fork of peft); only a DePT adapter with rank 0 or an all-zero B converts to PROMPT_TUNING.",
    });
  }
  if (c.numVirtualTokens === 0) {
    throw new SoftpromptError('invalid_config', 'Cannot save a DePT adapter with 0 virtual tokens and a zero offset in PROMPT_TUNING format: it would hold no prompt rows.', { path: 'numVirtualTokens' });
  }
  const pt: PromptTuningConfig = { numVirtualTokens: c.numVirtualTokens, init: c.init, initText: c.initText };
  return { peftType: 'PROMPT_TUNING', config: peftAdapterConfig(pt, info), tensors: prompt(method.prompt.data, c.numVirtualTokens) };
}


function ensureDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      throw new SoftpromptError('file_not_found', `Cannot save an adapter to ${dir}: it (or a parent) is a file, expected a folder.`, { file: dir, cause: err });
    }
    throw err;
  }
  if (!fs.statSync(dir).isDirectory()) {
    throw new SoftpromptError('file_not_found', `Cannot save an adapter to ${dir}: it is a file, expected a folder.`, { file: dir });
  }
}

/**
 * Write `method` to `dir` as a PEFT adapter folder (created if missing; other files in it are left alone).
 *
 * A DePT method is written as PROMPT_TUNING_LORA with format 'dept'. With format 'peft' it is refused unless its
 * offset is zero (rank 0 or B all zeros), in which case P alone is written as PROMPT_TUNING. A prompt-tuning
 * method is always written as PROMPT_TUNING.
 *
 * Crash safety. Stage: adapter_model.safetensors and adapter_config.json go to hidden temp names in `dir`
 * (each written atomically and fsynced); any failure here leaves the old adapter untouched. Commit, by renames:
 * old config → hidden .old name, old weights (.safetensors and any stale .bin) → .old names, new weights in,
 * new config in (the commit point), then the .old files are deleted. At every instant the folder holds the old
 * pair, the new pair, or no adapter_config.json at all (a clear file_not_found, the old files kept under .old
 * names), never new weights with an old config. A failure (a throw) during commit renames everything back.
 */
export function saveAdapter(dir: string, method: PeftMethod, info: SaveAdapterInfo, hooks: SaveAdapterHooks = {}): SavedAdapter {
  const { peftType, config, tensors } = adapterContent(method, info);
  ensureDir(dir);
  const stage = (s: SaveStage): void => hooks.onStage?.(s);
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const at = (f: string): string => path.join(dir, f);
  const tmp = (f: string): string => at(`.${f}.tmp-${tag}`);
  const old = (f: string): string => at(`.${f}.old-${tag}`);

  // Stage
  try {
    writeSafetensors(tmp(ADAPTER_WEIGHTS_FILE), tensors, { format: 'pt' });
    stage('weights-staged');
    atomicWriteFile(tmp(ADAPTER_CONFIG_FILE), formatAdapterConfig(config));
    stage('config-staged');
  } catch (err) {
    fs.rmSync(tmp(ADAPTER_WEIGHTS_FILE), { force: true });
    fs.rmSync(tmp(ADAPTER_CONFIG_FILE), { force: true });
    throw err;
  }

  // Commit, with an undo log of renames
  const done: [from: string, to: string][] = [];
  const move = (from: string, to: string): void => {
    fs.renameSync(from, to);
    done.push([from, to]);
  };
  try {
    if (fs.existsSync(at(ADAPTER_CONFIG_FILE))) move(at(ADAPTER_CONFIG_FILE), old(ADAPTER_CONFIG_FILE));
    for (const f of [ADAPTER_WEIGHTS_FILE, ADAPTER_BIN_FILE]) if (fs.existsSync(at(f))) move(at(f), old(f));
    stage('old-moved');
    move(tmp(ADAPTER_WEIGHTS_FILE), at(ADAPTER_WEIGHTS_FILE));
    stage('weights-placed');
    move(tmp(ADAPTER_CONFIG_FILE), at(ADAPTER_CONFIG_FILE)); // commit point
  } catch (err) {
    for (const [from, to] of done.reverse()) {
      try {
        fs.renameSync(to, from);
      } catch {
        // keep undoing the rest; the .old files stay for manual recovery
      }
    }
    fs.rmSync(tmp(ADAPTER_WEIGHTS_FILE), { force: true });
    fs.rmSync(tmp(ADAPTER_CONFIG_FILE), { force: true });
    throw err;
  }
  for (const f of [ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, ADAPTER_BIN_FILE]) fs.rmSync(old(f), { force: true });
  syncDir(dir);
  return { dir, peftType, files: [at(ADAPTER_WEIGHTS_FILE), at(ADAPTER_CONFIG_FILE)] };
}

// ---- loading -------------------------------------------------------------------------------------------------

export interface LoadAdapterContext {
  /** The model's d; a different token_dim (or tensor width) is a shape_mismatch. */
  expectDModel?: number;
}

export interface LoadedAdapter {
  method: Dept | PromptTuning;
  config: ParsedAdapterConfig;
  configFile: string;
  /** adapter_model.safetensors or adapter_model.bin */
  weightsFile: string;
}

/** The tensors of adapter_model.safetensors or adapter_model.bin, as float32. */
interface AdapterWeights {
  file: string;
  names(): string[];
  shape(name: string): number[] | undefined;
  get(name: string): Float32Array;
}

function openWeights(dir: string): AdapterWeights {
  const st = path.join(dir, ADAPTER_WEIGHTS_FILE);
  if (fs.existsSync(st)) {
    const f = SafetensorsFile.open(st);
    return { file: st, names: () => f.names(), shape: (n) => (f.has(n) ? f.info(n).shape : undefined), get: (n) => f.getF32(n) };
  }
  const bin = path.join(dir, ADAPTER_BIN_FILE);
  if (fs.existsSync(bin)) {
    const t = readTorchBin(bin); // restricted unpickler: never runs code from the file
    return { file: bin, names: () => [...t.keys()], shape: (n) => t.get(n)?.shape, get: (n) => t.get(n)!.data };
  }
  throw new SoftpromptError('file_not_found', `Adapter folder ${dir} has ${ADAPTER_CONFIG_FILE} but no weights: expected ${ADAPTER_WEIGHTS_FILE} or ${ADAPTER_BIN_FILE} (found: ${listing(dir)}).`, { file: dir });
}

function listing(dir: string): string {
  const names = fs.readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
  if (names.length === 0) return 'nothing';
  return names.length > 10 ? `${names.slice(0, 10).join(', ')}, … ${names.length - 10} more` : names.join(', ');
}

function checkFolder(dir: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new SoftpromptError('file_not_found', `Adapter folder ${dir} does not exist; expected a folder holding ${EXPECTED_FILES}.`, { file: dir });
    }
    throw err;
  }
  if (!st.isDirectory()) {
    throw new SoftpromptError('file_not_found', `${dir} is a file; expected an adapter folder holding ${EXPECTED_FILES}.`, { file: dir });
  }
  if (!fs.existsSync(path.join(dir, ADAPTER_CONFIG_FILE))) {
    throw new SoftpromptError('file_not_found', `Adapter folder ${dir} has no ${ADAPTER_CONFIG_FILE}; expected ${EXPECTED_FILES} (found: ${listing(dir)}).`, { file: path.join(dir, ADAPTER_CONFIG_FILE) });
  }
}

/** `name` from `w`, checked against `want`; missing_tensor / shape_mismatch name the file and the tensor. */
function tensor(w: AdapterWeights, name: string, want: readonly number[], hint: string): Float32Array {
  const got = w.shape(name);
  if (got === undefined) {
    const near = nearestNames(name, w.names(), 3);
    throw new SoftpromptError('missing_tensor', `Tensor "${name}" not found in ${w.file} (it holds ${near.length > 0 ? near.map((n) => `"${n}"`).join(', ') : 'no tensors'}${w.names().length > near.length ? ', …' : ''}).`, { file: w.file, path: name });
  }
  if (got.length !== want.length || got.some((x, i) => x !== want[i])) {
    throw new SoftpromptError('shape_mismatch', `Shape mismatch for "${name}" in ${w.file}: expected ${formatShape(want)}, got ${formatShape(got)}.`, { file: w.file, path: name, hint });
  }
  return w.get(name);
}

/** DePT: A and B must both be there (no silent prompt-only fallback: it would be a different model). */
function checkLowRankPresent(w: AdapterWeights, c: ParsedDeptAdapterConfig): void {
  const missing = [LORA_A_KEY, LORA_B_KEY].filter((n) => w.shape(n) === undefined);
  if (missing.length === 0 || c.rank === 0) return;
  const why =
    c.saveLoraEmbeddings === null
      ? ` ${c.file} has no save_lora_embeddings key: the adapter was saved by an older DePT code version that wrote only prompt_embeddings (like the released superglue-wic, hotpotqa and nq checkpoints).`
      : c.saveLoraEmbeddings === false
        ? ` ${c.file} sets save_lora_embeddings: false, so they were never saved.`
        : '';
  throw new SoftpromptError('missing_tensor', `DePT adapter ${w.file} lacks ${missing.map((n) => `"${n}"`).join(' and ')} (it holds ${w.names().map((n) => `"${n}"`).join(', ') || 'no tensors'}).${why} Without A and B it cannot reproduce the trained model, and softprompt does not fall back to the prompt alone.`, {
    file: w.file, path: missing[0]!, hint: 'use an adapter saved with all three tensors (e.g. the released cola or sst2 checkpoints), or retrain.',
  });
}

/** Load an adapter folder, any of the formats above, with its parsed config and the files read. */
export function readAdapter(dir: string, ctx: LoadAdapterContext = {}): LoadedAdapter {
  checkFolder(dir);
  const configFile = path.join(dir, ADAPTER_CONFIG_FILE);
  const c = readAdapterConfig(configFile);
  if (ctx.expectDModel !== undefined && c.tokenDim !== null && c.tokenDim !== ctx.expectDModel) {
    throw new SoftpromptError('shape_mismatch', `Adapter ${dir} was made for d=${c.tokenDim} (token_dim in ${configFile}) but the model has d=${ctx.expectDModel}.`, {
      file: configFile, path: 'token_dim', hint: `was it trained on another base model? Its config names ${JSON.stringify(c.baseModel)}.`,
    });
  }
  const w = openWeights(dir);
  const l = c.numVirtualTokens, n = c.numTransformerSubmodules;
  if (c.peftType === 'PROMPT_TUNING_LORA') checkLowRankPresent(w, c);

  // d: token_dim when recorded, else the width of the stored prompt (or of B)
  const widthOf = (name: string): number | undefined => {
    const s = w.shape(name);
    return s !== undefined && s.length === 2 ? s[1] : undefined;
  };
  const d = c.tokenDim ?? widthOf(PROMPT_KEY) ?? widthOf(LORA_B_KEY);
  if (d === undefined) {
    throw new SoftpromptError('missing_tensor', `Cannot tell the model width d of adapter ${dir}: ${configFile} has no token_dim and ${w.file} has no 2-D "${PROMPT_KEY}".`, { file: w.file, path: PROMPT_KEY });
  }
  if (ctx.expectDModel !== undefined && d !== ctx.expectDModel) {
    throw new SoftpromptError('shape_mismatch', `Adapter ${dir} holds d=${d} wide tensors (${w.file}) but the model has d=${ctx.expectDModel}.`, { file: w.file, path: PROMPT_KEY });
  }

  // P: (l·n, d) stored; the first l rows are the prompt (rows l..2l-1 of a 2-submodule seq2seq table are unused)
  const promptHint = `${configFile} gives num_virtual_tokens=${l} × num_transformer_submodules=${n} rows and token_dim=${d}.`;
  const loadPrompt = (): Float32Array => {
    if (l === 0 && w.shape(PROMPT_KEY) === undefined) return new Float32Array(0);
    const stored = tensor(w, PROMPT_KEY, [l * n, d], promptHint);
    return n === 1 ? stored : stored.slice(0, l * d);
  };

  if (c.peftType === 'PROMPT_TUNING') {
    return { method: new PromptTuning(promptTuningConfigFromAdapter(c), d, loadPrompt()), config: c, configFile, weightsFile: w.file };
  }
  const { rank: r, maxLength: s } = c;
  const P = loadPrompt();
  const lowRank = (name: string, shape: [number, number]): Float32Array =>
    r === 0 && w.shape(name) === undefined ? new Float32Array(0)
      : tensor(w, name, shape, `${configFile} gives max_length s=${s}, r=${r} and token_dim d=${d}: A is (s, r), B is (r, d).`);
  const A = lowRank(LORA_A_KEY, [s, r]);
  const B = lowRank(LORA_B_KEY, [r, d]);
  return { method: new Dept(deptConfigFromAdapter(c), d, P, A, B), config: c, configFile, weightsFile: w.file };
}

/** Load an adapter folder as a Dept (PROMPT_TUNING_LORA) or PromptTuning (PROMPT_TUNING) method. */
export function loadAdapter(dir: string, ctx: LoadAdapterContext = {}): Dept | PromptTuning {
  return readAdapter(dir, ctx).method;
}
