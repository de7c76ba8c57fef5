/**
 * Which files of a Hub repo softprompt needs, by what the id was given for. Only these are downloaded (a model
 * repo often also holds the same weights as pytorch_model.bin, tf_model.h5, flax_model.msgpack, onnx/…):
 *
 *   model      config.json, generation_config.json, model.safetensors or its index + shards, tokenizer files
 *   tokenizer  tokenizer files
 *   adapter    adapter_config.json, adapter_model.safetensors (else .bin), other top-level .json (run/task
 *              definitions), README.md (the model card), tokenizer files
 *   any        an adapter's files when the repo has adapter_config.json, else a model's (`inspect`)
 */
import { SoftpromptError } from '../../errors.js';

export type HubFileKind = 'model' | 'tokenizer' | 'adapter' | 'any';

export const TOKENIZER_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'added_tokens.json',
  'spiece.model', 'tokenizer.model', 'vocab.json', 'merges.txt', 'vocab.txt',
] as const;
export const MODEL_WEIGHTS = 'model.safetensors';
export const MODEL_WEIGHTS_INDEX = 'model.safetensors.index.json';
const MODEL_SIDE_FILES = ['config.json', 'generation_config.json'] as const;
const ADAPTER_FILES = ['adapter_config.json', 'README.md'] as const;

/** What a kind needs to be usable; `any` is decided from the listing. */
export function concreteKind(kind: HubFileKind, listed: ReadonlySet<string>): Exclude<HubFileKind, 'any'> {
  if (kind !== 'any') return kind;
  return listed.has('adapter_config.json') ? 'adapter' : 'model';
}

/**
 * The files to fetch from a repo listing (paths at the repo root and below). Weight shards named by
 * model.safetensors.index.json are added by the caller once the index is read (see shardFiles).
 */
export function selectFiles(repoId: string, commit: string, kind: Exclude<HubFileKind, 'any'>, listed: ReadonlySet<string>): string[] {
  const pick = (names: readonly string[]): string[] => names.filter((n) => listed.has(n));
  const tokenizer = pick(TOKENIZER_FILES);
  const where = `${repoId} (commit ${commit.slice(0, 12)})`;
  if (kind === 'tokenizer') {
    if (tokenizer.length === 0) {
      throw new SoftpromptError('file_not_found', `${where} holds no tokenizer: none of ${TOKENIZER_FILES.join(', ')}.`, { path: '--tokenizer' });
    }
    return tokenizer;
  }
  if (kind === 'adapter') {
    if (!listed.has('adapter_config.json')) {
      throw new SoftpromptError('file_not_found', `${where} is not an adapter repo: it has no adapter_config.json.`, { path: '--adapter' });
    }
    const weights = listed.has('adapter_model.safetensors') ? ['adapter_model.safetensors'] : pick(['adapter_model.bin']);
    const json = [...listed].filter((n) => !n.includes('/') && n.endsWith('.json') && !(TOKENIZER_FILES as readonly string[]).includes(n)).sort();
    return [...new Set([...pick(ADAPTER_FILES), ...json, ...weights, ...tokenizer])];
  }
  if (!listed.has('config.json')) {
    throw new SoftpromptError('file_not_found', `${where} is not a model repo: it has no config.json.`, { path: '--model' });
  }
  let weights: string[];
  if (listed.has(MODEL_WEIGHTS)) weights = [MODEL_WEIGHTS];
  else if (listed.has(MODEL_WEIGHTS_INDEX)) weights = [MODEL_WEIGHTS_INDEX];
  else {
    const other = [...listed].filter((n) => /\.(bin|h5|msgpack|pt|pth|ckpt|gguf|onnx)$/.test(n)).slice(0, 4);
    throw new SoftpromptError('unsupported', `${where} has no ${MODEL_WEIGHTS} or ${MODEL_WEIGHTS_INDEX}${other.length > 0 ? ` (only ${other.join(', ')})` : ''}; softprompt loads safetensors weights only, so nothing was downloaded.`, {
      path: '--model', hint: 'pick a repo revision with safetensors weights (--revision refs/pr/N of a conversion PR), or convert it with transformers: model.save_pretrained(dir, safe_serialization=True).',
    });
  }
  return [...pick(MODEL_SIDE_FILES), ...weights, ...tokenizer];
}

/** The shard files a weights index names (each once, in first-seen order); throws on a malformed index. */
export function shardFiles(indexText: string, file: string): string[] {
  let json: unknown;
  try {
    json = JSON.parse(indexText);
  } catch (err) {
    throw new SoftpromptError('malformed_file', `Weights index ${file} is not valid JSON.`, { file, cause: err });
  }
  const map = typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>)['weight_map'] : undefined;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new SoftpromptError('malformed_file', `Weights index ${file} has no "weight_map" object ({tensor name: shard file}).`, { file, path: 'weight_map' });
  }
  return [...new Set(Object.values(map).map((v) => String(v)))];
}
