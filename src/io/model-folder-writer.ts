/**
 * Writes a Hugging Face model folder that `from_pretrained` loads unchanged: `config.json`, `model.safetensors`
 * (F32, metadata {"format": "pt"}) and the tokenizer's files copied beside them. Each file is written atomically,
 * weights first and config.json last, so a crash never leaves a config that points at missing weights.
 *
 *   writeModelFolder('out/full', { config: loadConfig('t5-small'), tensors, tokenizerDir: 't5-small' });
 */
import fs from 'node:fs';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import { atomicWriteFile } from './atomic.js';
import { CONFIG_FILE, WEIGHTS_FILE } from './hf-folder.js';
import { writeSafetensors, type WritableTensor } from './safetensors.js';

/** Files a tokenizer folder may hold that transformers' AutoTokenizer reads. */
export const TOKENIZER_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'spiece.model', 'tokenizer.model',
  'vocab.json', 'merges.txt', 'added_tokens.json', 'generation_config.json',
] as const;

export interface ModelFolderContent {
  /**
   * config.json: the base model's file copied byte for byte (a path), or an object. Prefer the path when the
   * config is unchanged: JSON.stringify writes 1.0 as 1, and transformers' strict config classes refuse an int
   * where they declare a float (T5's initializer_factor).
   */
  config: Record<string, unknown> | { file: string };
  /** HF tensor names → tensors in HF layout */
  tensors: Record<string, WritableTensor>;
  /** folder to copy tokenizer files from (regular files only; symlinks are not followed) */
  tokenizerDir?: string;
  /** extra safetensors `__metadata__` entries, beside {"format": "pt"} */
  metadata?: Record<string, string>;
}

export function writeModelFolder(dir: string, content: ModelFolderContent): string[] {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new SoftpromptError('file_not_found', `Cannot create the model folder ${dir}: ${(err as Error).message}.`, { file: dir, cause: err });
  }
  const written: string[] = [];
  const put = (name: string, data: string | Uint8Array) => {
    const file = path.join(dir, name);
    atomicWriteFile(file, data);
    written.push(file);
  };
  const weights = path.join(dir, WEIGHTS_FILE);
  writeSafetensors(weights, content.tensors, { ...content.metadata, format: 'pt' }); // streamed: a whole model never sits in one buffer
  written.push(weights);
  if (content.tokenizerDir !== undefined) {
    for (const name of TOKENIZER_FILES) {
      const src = path.join(content.tokenizerDir, name);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(src);
      } catch {
        continue;
      }
      if (!st.isFile()) continue; // a symlink or folder could point outside the tokenizer folder
      if (path.resolve(src) === path.resolve(dir, name)) continue;
      put(name, fs.readFileSync(src));
    }
  }
  const c = content.config;
  put(CONFIG_FILE, typeof c['file'] === 'string' && Object.keys(c).length === 1 ? fs.readFileSync(c['file']) : JSON.stringify(c, null, 2) + '\n');
  return written;
}
