/**
 * Adapter folders, the parts every method shares: crash-safe writing of a config + safetensors pair, opening
 * adapter_model.safetensors / adapter_model.bin, checked tensor reads, and the soft prompt P that both prompt
 * formats store. Which format a folder holds, and what its tensors mean, is each method's own (files.ts in its
 * folder); registry.ts dispatches on adapter_config.json's `peft_type` (spec §1.9, §4.4):
 *
 *   adapter_config.json                       see adapter-config.ts (prompt formats)
 *   adapter_model.safetensors                 F32, metadata {"format": "pt"}
 *     prompt_embeddings                (l·n, d)  P; n = num_transformer_submodules, only the first l rows are used
 *     prompt_encoder.lora_embedding_A  (s, r)    A, row i ↔ input position i    DePT only
 *     prompt_encoder.lora_embedding_B  (r, d)    B                              DePT only
 *   adapter_model.bin                         read only (the fork's torch.save default), via the safe pickle reader
 *
 * Loading prefers adapter_model.safetensors, as both PEFT and the fork do. Saving is crash-safe: both files are
 * staged under temporary names, then renamed into place with adapter_config.json last, so the folder never pairs
 * new weights with an old config (see writeAdapterFolder).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { preview, SoftpromptError } from '../errors.js';
import { atomicWriteFile, syncDir } from '../io/atomic.js';
import { formatShape } from '../io/dtype.js';
import { nearestNames, SafetensorsFile, writeSafetensors, type WritableTensor } from '../io/safetensors.js';
import { readTorchBin } from '../io/torch-bin.js';
import { assertPlainFile, readUntrustedText } from '../io/untrusted-file.js';
import { ADAPTER_CONFIG_FILE, formatAdapterConfig, readAdapterConfig, type ParsedAdapterConfig } from './adapter-config.js';
import type { LoadAdapterContext, SaveAdapterHooks, SaveStage } from './entry.js';

export { ADAPTER_CONFIG_FILE } from './adapter-config.js';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
export const ADAPTER_BIN_FILE = 'adapter_model.bin';
export const PROMPT_KEY = 'prompt_embeddings';
export const LORA_A_KEY = 'prompt_encoder.lora_embedding_A';
export const LORA_B_KEY = 'prompt_encoder.lora_embedding_B';

const EXPECTED_FILES = `${ADAPTER_CONFIG_FILE} and ${ADAPTER_WEIGHTS_FILE} (or ${ADAPTER_BIN_FILE})`;

/** What a save writes: adapter_config.json (as an object) and the tensors of adapter_model.safetensors. */
export interface AdapterContent {
  peftType: string;
  /** adapter_config.json as an object (JSON values; written with sorted keys) */
  config: Readonly<Record<string, unknown>>;
  tensors: Record<string, WritableTensor>;
}

export function allZero(x: Float32Array): boolean {
  for (let i = 0; i < x.length; i++) if (x[i] !== 0) return false;
  return true;
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

const STAGED_TEMP = /^\.(?:adapter_model\.safetensors|adapter_config\.json)\.tmp-(\d+)-[0-9a-f]+(?:\.tmp-\d+)?$/;

function processAlive(pid: number): boolean {
  if (pid === process.pid) return false; // saves are synchronous: none of ours is in flight
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/** Staged files of a save that was killed (their writer is gone); .old files are kept for manual recovery. */
function removeStaleTemps(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    const m = STAGED_TEMP.exec(name);
    if (m !== null && !processAlive(Number(m[1]))) fs.rmSync(path.join(dir, name), { force: true });
  }
}

/**
 * Write `content` to `dir` as a PEFT adapter folder (created if missing; other files in it are left alone).
 *
 * Crash safety. Stage: adapter_model.safetensors and adapter_config.json go to hidden temp names in `dir`
 * (each written atomically and fsynced); any failure here leaves the old adapter untouched. Commit, by renames:
 * old config → hidden .old name, old weights (.safetensors and any stale .bin) → .old names, new weights in,
 * new config in (the commit point), then the .old files are deleted. At every instant the folder holds the old
 * pair, the new pair, or no adapter_config.json at all (a clear file_not_found, the old files kept under .old
 * names), never new weights with an old config. A failure (a throw) during commit renames everything back.
 */
export function writeAdapterFolder(dir: string, content: AdapterContent, hooks: SaveAdapterHooks = {}): { dir: string; peftType: string; files: string[] } {
  const { peftType, config, tensors } = content;
  ensureDir(dir);
  removeStaleTemps(dir);
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

/** The tensors of adapter_model.safetensors or adapter_model.bin, as float32. */
export interface AdapterWeights {
  file: string;
  names(): string[];
  shape(name: string): number[] | undefined;
  get(name: string): Float32Array;
}

export function openAdapterWeights(dir: string): AdapterWeights {
  const st = path.join(dir, ADAPTER_WEIGHTS_FILE);
  if (fs.lstatSync(st, { throwIfNoEntry: false }) !== undefined) {
    assertPlainFile(st, 'Adapter weights');
    const f = SafetensorsFile.open(st);
    return { file: st, names: () => f.names(), shape: (n) => (f.has(n) ? f.info(n).shape : undefined), get: (n) => f.getF32(n) };
  }
  const bin = path.join(dir, ADAPTER_BIN_FILE);
  if (fs.lstatSync(bin, { throwIfNoEntry: false }) !== undefined) {
    const t = readTorchBin(bin); // restricted unpickler: never runs code from the file
    return { file: bin, names: () => [...t.keys()], shape: (n) => t.get(n)?.shape, get: (n) => t.get(n)!.data };
  }
  throw new SoftpromptError('file_not_found', `Adapter folder ${dir} has ${ADAPTER_CONFIG_FILE} but no weights: expected ${ADAPTER_WEIGHTS_FILE} or ${ADAPTER_BIN_FILE} (found: ${listing(dir)}).`, { file: dir });
}

export function listing(dir: string): string {
  const names = fs.readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
  if (names.length === 0) return 'nothing';
  return names.length > 10 ? `${names.slice(0, 10).join(', ')}, … ${names.length - 10} more` : names.join(', ');
}

export function checkAdapterFolder(dir: string): void {
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
export function adapterTensor(w: AdapterWeights, name: string, want: readonly number[], hint: string): Float32Array {
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

/** A prompt adapter folder read up to its tensors: the parsed config, the weights, d, and the prompt P (l, d). */
export interface PromptAdapterParts<C extends ParsedAdapterConfig> {
  config: C;
  configFile: string;
  weights: AdapterWeights;
  /** the model width: token_dim when recorded, else the width of the stored prompt (or of `widthFrom`) */
  d: number;
  /** P: the first l rows of the stored (l·n, d) prompt */
  prompt: Float32Array;
}

/**
 * Read a PROMPT_TUNING or PROMPT_TUNING_LORA folder's config and prompt (both formats store P alike);
 * `check` runs after the config is parsed and the weights are opened (e.g. DePT's A/B presence check).
 */
export function readPromptAdapter<T extends ParsedAdapterConfig['peftType']>(dir: string, peftType: T, ctx: LoadAdapterContext,
  opts: { widthFrom?: string; check?: (w: AdapterWeights, c: Extract<ParsedAdapterConfig, { peftType: T }>) => void } = {}): PromptAdapterParts<Extract<ParsedAdapterConfig, { peftType: T }>> {
  checkAdapterFolder(dir);
  const configFile = path.join(dir, ADAPTER_CONFIG_FILE);
  const c = readAdapterConfig(configFile);
  if (c.peftType !== peftType) {
    throw new SoftpromptError('invalid_config', `Adapter config ${configFile} has peft_type ${c.peftType}, expected ${peftType}.`, { file: configFile, path: 'adapter_config.peft_type' });
  }
  const cfg = c as Extract<ParsedAdapterConfig, { peftType: T }>;
  if (ctx.expectDModel !== undefined && c.tokenDim !== null && c.tokenDim !== ctx.expectDModel) {
    throw new SoftpromptError('shape_mismatch', `Adapter ${dir} was made for d=${c.tokenDim} (token_dim in ${configFile}) but the model has d=${ctx.expectDModel}.`, {
      file: configFile, path: 'token_dim', hint: `was it trained on another base model? Its config names ${JSON.stringify(c.baseModel)}.`,
    });
  }
  const w = openAdapterWeights(dir);
  const l = c.numVirtualTokens, n = c.numTransformerSubmodules;
  opts.check?.(w, cfg);

  const widthOf = (name: string | undefined): number | undefined => {
    const s = name === undefined ? undefined : w.shape(name);
    return s !== undefined && s.length === 2 ? s[1] : undefined;
  };
  const d = c.tokenDim ?? widthOf(PROMPT_KEY) ?? widthOf(opts.widthFrom);
  if (d === undefined) {
    throw new SoftpromptError('missing_tensor', `Cannot tell the model width d of adapter ${dir}: ${configFile} has no token_dim and ${w.file} has no 2-D "${PROMPT_KEY}".`, { file: w.file, path: PROMPT_KEY });
  }
  if (ctx.expectDModel !== undefined && d !== ctx.expectDModel) {
    throw new SoftpromptError('shape_mismatch', `Adapter ${dir} holds d=${d} wide tensors (${w.file}) but the model has d=${ctx.expectDModel}.`, { file: w.file, path: PROMPT_KEY });
  }
  // P: (l·n, d) stored; the first l rows are the prompt (rows l..2l-1 of a 2-submodule seq2seq table are unused)
  const promptHint = `${configFile} gives num_virtual_tokens=${l} × num_transformer_submodules=${n} rows and token_dim=${d}.`;
  let prompt: Float32Array;
  if (l === 0 && w.shape(PROMPT_KEY) === undefined) prompt = new Float32Array(0);
  else {
    const stored = adapterTensor(w, PROMPT_KEY, [l * n, d], promptHint);
    prompt = n === 1 ? stored : stored.slice(0, l * d);
  }
  return { config: cfg, configFile, weights: w, d, prompt };
}

/** The prompt tensor as saved: P (l, d). */
export function promptTensors(P: Float32Array, l: number, d: number): Record<string, WritableTensor> {
  return { [PROMPT_KEY]: { dtype: 'F32', shape: [l, d], data: P } };
}

/** adapter_config.json as a JSON object, read as an untrusted file (a plain file of bounded size; no symlinks). */
export function readAdapterConfigObject(file: string): Record<string, unknown> {
  const text = readUntrustedText(file, { followSymlinks: false, what: 'Adapter config' }); // its own typed errors
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new SoftpromptError('malformed_file', `Adapter config ${file} is not valid JSON: ${(err as Error).message}.`, { file, cause: err });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new SoftpromptError('malformed_file', `Adapter config ${file} should hold a JSON object, got ${Array.isArray(raw) ? 'an array' : preview(raw)}.`, { file });
  }
  return raw as Record<string, unknown>;
}
