/**
 * A local Hugging Face model folder: `config.json` plus weights in `model.safetensors` or in shards listed by
 * `model.safetensors.index.json` (`{"weight_map": {tensor name: shard file}}`). PyTorch `pytorch_model.bin`
 * weights are not loaded (that would mean unpickling a whole model): convert them first.
 *
 *   const cfg = loadConfig('t5-small');            // Record<string, unknown>, parsed by the model files
 *   const w = openWeights('t5-small');
 *   const q = w.getF32Checked('encoder.block.0.layer.0.SelfAttention.q.weight', [512, 512]); // (NH*HS, C)
 */

import fs from 'node:fs';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import { formatShape, type TensorInfo } from './dtype.js';
import { nearestNames, SafetensorsFile } from './safetensors.js';
import { readUntrustedText } from './untrusted-file.js';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';
export const WEIGHTS_INDEX_FILE = 'model.safetensors.index.json';

const CONVERT_HINT =
  'convert the weights to safetensors, e.g. in Python: AutoModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True), or the `convert` script of the safetensors project.';

export interface WeightStore {
  /** The folder (or file) the weights were opened from. */
  readonly source: string;
  /** Tensor names (for sharded weights: the weight_map keys). */
  names(): string[];
  has(name: string): boolean;
  info(name: string): TensorInfo;
  getF32(name: string): Float32Array;
  /** getF32, after checking the shape; `hint` is attached to a shape_mismatch error. */
  getF32Checked(name: string, expectedShape: readonly number[], hint?: string): Float32Array;
  /** The file holding `name`. */
  fileOf(name: string): string;
}

function readJson(file: string, what: string): unknown {
  // a regular file of bounded size (symlinks followed: the Hugging Face cache links snapshots to blobs)
  const text = readUntrustedText(file, { followSymlinks: true, what });
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SoftpromptError('malformed_file', `${what} ${file} is not valid JSON: ${(err as Error).message}.`, { file, cause: err });
  }
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function assertDir(dir: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new SoftpromptError('file_not_found', `Model folder ${dir} does not exist.`, { file: dir });
  }
  if (!stat.isDirectory()) throw new SoftpromptError('file_not_found', `${dir} is not a folder, expected a Hugging Face model folder.`, { file: dir });
}

/** `<dir>/config.json` as a JSON object. */
export function loadConfig(dir: string): Record<string, unknown> {
  assertDir(dir);
  const file = path.join(dir, CONFIG_FILE);
  const json = readJson(file, 'Model config');
  if (!isPlainObject(json)) throw new SoftpromptError('malformed_file', `Model config ${file} is not a JSON object.`, { file });
  return json;
}

/** Weights of a model folder (or of one .safetensors file given directly). */
export function openWeights(dirOrFile: string): WeightStore {
  if (dirOrFile.endsWith('.safetensors') && fs.existsSync(dirOrFile) && fs.statSync(dirOrFile).isFile()) {
    const st = SafetensorsFile.open(dirOrFile);
    return makeStore(dirOrFile, dirOrFile, new Map(st.names().map((n) => [n, st])));
  }
  const dir = dirOrFile;
  assertDir(dir);
  const single = path.join(dir, WEIGHTS_FILE);
  if (fs.existsSync(single)) {
    const st = SafetensorsFile.open(single);
    return makeStore(dir, single, new Map(st.names().map((n) => [n, st])));
  }
  const index = path.join(dir, WEIGHTS_INDEX_FILE);
  if (fs.existsSync(index)) return openSharded(dir, index);

  const bins = fs.readdirSync(dir).filter((f) => /^pytorch_model.*\.bin(\.index\.json)?$/.test(f));
  if (bins.length > 0) {
    throw new SoftpromptError('unsupported', `${dir} holds PyTorch weights (${bins.join(', ')}), which softprompt does not load; it reads ${WEIGHTS_FILE} or ${WEIGHTS_INDEX_FILE}.`, { file: path.join(dir, bins[0]!), hint: CONVERT_HINT });
  }
  throw new SoftpromptError('file_not_found', `No weights in ${dir}: expected ${WEIGHTS_FILE} or ${WEIGHTS_INDEX_FILE} (PyTorch pytorch_model.bin weights are not loaded).`, { file: dir, hint: CONVERT_HINT });
}

function openSharded(dir: string, index: string): WeightStore {
  const json = readJson(index, 'Weights index');
  const map = isPlainObject(json) ? json.weight_map : undefined;
  if (!isPlainObject(map)) {
    throw new SoftpromptError('malformed_file', `Weights index ${index} has no "weight_map" object ({tensor name: shard file}).`, { file: index, path: 'weight_map' });
  }
  const shards = new Map<string, SafetensorsFile>();
  const owner = new Map<string, SafetensorsFile>();
  for (const [name, shard] of Object.entries(map)) {
    if (typeof shard !== 'string' || shard === '' || path.isAbsolute(shard) || shard.split(/[\\/]/).includes('..')) {
      throw new SoftpromptError('malformed_file', `Weights index ${index} maps "${name}" to ${JSON.stringify(shard)}, expected a shard file name inside ${dir}.`, { file: index, path: `weight_map.${name}` });
    }
    let st = shards.get(shard);
    if (st === undefined) {
      st = SafetensorsFile.open(path.join(dir, shard)); // file_not_found names the missing shard
      shards.set(shard, st);
    }
    if (!st.has(name)) {
      throw new SoftpromptError('malformed_file', `Weights index ${index} says "${name}" is in ${shard}, but ${st.file} has no such tensor.`, { file: index, path: name });
    }
    owner.set(name, st);
  }
  return makeStore(dir, index, owner);
}

/** `label` is the file named in missing_tensor errors: the weights file or the index. */
function makeStore(source: string, label: string, owner: Map<string, SafetensorsFile>): WeightStore {
  const get = (name: string): SafetensorsFile => {
    const st = owner.get(name);
    if (st === undefined) {
      const names = [...owner.keys()];
      const near = nearestNames(name, names);
      throw new SoftpromptError('missing_tensor', `Tensor "${name}" not found in ${label} (${names.length} tensors${near.length > 0 ? `, e.g. ${near.map((s) => `"${s}"`).join(', ')}` : ''}).`, { file: label, path: name });
    }
    return st;
  };
  return {
    source,
    names: () => [...owner.keys()],
    has: (name) => owner.has(name),
    info: (name) => get(name).info(name),
    getF32: (name) => get(name).getF32(name),
    fileOf: (name) => get(name).file,
    getF32Checked(name, expectedShape, hint) {
      const st = get(name);
      const { shape } = st.info(name);
      if (shape.length !== expectedShape.length || shape.some((d, i) => d !== expectedShape[i])) {
        throw new SoftpromptError('shape_mismatch', `Shape mismatch for "${name}" in ${st.file}: expected ${formatShape(expectedShape)}, got ${formatShape(shape)}.`, { file: st.file, path: name, hint });
      }
      return st.getF32(name);
    },
  };
}
