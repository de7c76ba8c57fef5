/**
 * Tokenizers with Hugging Face semantics, through @huggingface/tokenizers:
 *
 *  - `tokenizer.json` (+ `tokenizer_config.json`, `special_tokens_map.json` when present), as AutoTokenizer's
 *    fast path: T5 appends `</s>` (1), GPT-2 adds nothing, LLaMA prepends `<s>` (1).
 *  - a bare SentencePiece model (`spiece.model`, `tokenizer.model`) converted in memory
 *    (sentencepiece-convert.ts): Unigram is read as T5 (`</s>` appended, 100 `<extra_id_n>`), BPE as LLaMA
 *    (`<s>` prepended, byte fallback), both overridable by a `tokenizer_config.json` beside it.
 *
 *   const tok = await loadTokenizer('t5-base');
 *   tok.encode('A wonderful film.');   // [71, 1627, 814, 5, 1]
 */

import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { preview, SoftpromptError } from '../errors.js';
import { spmToTokenizerJson, type JsonObject } from './sentencepiece-convert.js';
import { parseSentencePieceModel } from './sentencepiece-model.js';
import { readUntrusted, readUntrustedText } from './untrusted-file.js';

/** Sentinel tokens <extra_id_i> a SentencePiece tokenizer may add (each becomes an added token). */
const MAX_EXTRA_IDS = 10_000;
/** Real SentencePiece models are a few MB (LLaMA-2: 0.5 MB, mT5: 4.3 MB). */
const MAX_SPM_BYTES = 256 << 20;

export interface Tokenizer {
  /** Token ids of `text`; special tokens (T5 `</s>`, LLaMA `<s>`) added unless addSpecialTokens is false. */
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  /** Text of `ids`; ids without a token (e.g. T5's padded logits rows 32100..32127) are dropped. */
  decode(ids: number[], opts?: { skipSpecialTokens?: boolean }): string;
  /** Number of tokens including added tokens (HF `len(tokenizer)`), e.g. 32100 for T5 (the model has 32128 rows). */
  readonly vocabSize: number;
  /** `pad_token`, else a `<pad>` token, else eos (GPT-2, LLaMA have no pad token). */
  readonly padId: number;
  readonly eosId: number;
  readonly bosId?: number;
  idToToken(id: number): string | undefined;
  tokenToId(token: string): number | undefined;
}

export const TOKENIZER_JSON = 'tokenizer.json';
export const TOKENIZER_CONFIG = 'tokenizer_config.json';
export const SPECIAL_TOKENS_MAP = 'special_tokens_map.json';
export const SPM_FILES = ['spiece.model', 'tokenizer.model'] as const;

function readJsonObject(file: string): JsonObject {
  let json: unknown;
  const text = readUntrustedText(file, { followSymlinks: true, what: 'Tokenizer file' }); // regular, bounded
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SoftpromptError('malformed_file', `Tokenizer file ${file} is not valid JSON: ${(err as Error).message}.`, { file, cause: err });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SoftpromptError('malformed_file', `Tokenizer file ${file} is not a JSON object.`, { file });
  }
  return json as JsonObject;
}

/** special_tokens_map.json under tokenizer_config.json, both optional. */
function readConfig(dir: string): JsonObject {
  const opt = (f: string): JsonObject => (fs.existsSync(path.join(dir, f)) ? readJsonObject(path.join(dir, f)) : {});
  return { ...opt(SPECIAL_TOKENS_MAP), ...opt(TOKENIZER_CONFIG) };
}

/** A special token entry: "</s>" or {"content": "</s>", …} (AddedToken as saved by transformers). */
function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as JsonObject).content === 'string') return (v as JsonObject).content as string;
  return undefined;
}

/** Find what to load: a tokenizer.json or a SentencePiece model, given a folder or one of those files. */
function resolve(dirOrFile: string): { kind: 'json' | 'spm'; file: string; dir: string } {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dirOrFile);
  } catch {
    throw new SoftpromptError('file_not_found', `Tokenizer path ${dirOrFile} does not exist.`, { file: dirOrFile });
  }
  if (stat.isFile()) {
    const kind = dirOrFile.endsWith('.json') ? 'json' : dirOrFile.endsWith('.model') ? 'spm' : undefined;
    if (kind === undefined) throw new SoftpromptError('unsupported', `Cannot tell how to read tokenizer file ${dirOrFile}: expected ${TOKENIZER_JSON} or a SentencePiece .model file.`, { file: dirOrFile });
    return { kind, file: dirOrFile, dir: path.dirname(dirOrFile) };
  }
  const json = path.join(dirOrFile, TOKENIZER_JSON);
  if (fs.existsSync(json)) return { kind: 'json', file: json, dir: dirOrFile };
  for (const f of SPM_FILES) {
    const spm = path.join(dirOrFile, f);
    if (fs.existsSync(spm)) return { kind: 'spm', file: spm, dir: dirOrFile };
  }
  throw new SoftpromptError('file_not_found', `No tokenizer in ${dirOrFile}: expected ${TOKENIZER_JSON} or a SentencePiece model (${SPM_FILES.join(', ')}).`, {
    file: dirOrFile,
    hint: 'vocab.json + merges.txt alone are not read; save the tokenizer with a recent transformers (tokenizer.save_pretrained) to get tokenizer.json.',
  });
}

/** Load synchronously (the tokenizer library itself is synchronous). */
export function loadTokenizerSync(dirOrFile: string): Tokenizer {
  const { kind, file, dir } = resolve(dirOrFile);
  const userConfig = readConfig(dir);
  if (kind === 'json') return wrap(readJsonObject(file), userConfig, file);

  const model = parseSentencePieceModel(readUntrusted(file, { maxBytes: MAX_SPM_BYTES, followSymlinks: true, what: 'SentencePiece model' }), file);
  const extraIds = userConfig.extra_ids;
  if (extraIds !== undefined && (typeof extraIds !== 'number' || !Number.isInteger(extraIds) || extraIds < 0 || extraIds > MAX_EXTRA_IDS)) {
    const cfgFile = path.join(dir, TOKENIZER_CONFIG);
    throw new SoftpromptError('invalid_config', `extra_ids in ${cfgFile} must be an integer from 0 to ${MAX_EXTRA_IDS} (T5 uses 100), got ${preview(extraIds)}.`, { file: cfgFile, path: 'extra_ids' });
  }
  const opts = {
    extraIds: typeof extraIds === 'number' ? extraIds : undefined,
    addBos: typeof userConfig.add_bos_token === 'boolean' ? userConfig.add_bos_token : undefined,
    addEos: typeof userConfig.add_eos_token === 'boolean' ? userConfig.add_eos_token : undefined,
  };
  const { tokenizer, config } = spmToTokenizerJson(model, file, opts);
  const ids = { bos: model.bosId, eos: model.eosId, pad: model.padId };
  return wrap(tokenizer, { ...config, ...userConfig }, file, ids);
}

export async function loadTokenizer(dirOrFile: string): Promise<Tokenizer> {
  return loadTokenizerSync(dirOrFile);
}

function wrap(json: JsonObject, config: JsonObject, file: string, spmIds?: { bos: number; eos: number; pad: number }): Tokenizer {
  let hf: HfTokenizer;
  try {
    hf = new HfTokenizer(json, config);
  } catch (err) {
    throw new SoftpromptError('malformed_file', `Cannot build a tokenizer from ${file}: ${(err as Error).message}.`, { file, cause: err });
  }
  const idOf = (key: string, spmId: number | undefined): number | undefined => {
    const t = tokenString(config[key]);
    const fromConfig = t === undefined ? undefined : hf.token_to_id(t);
    return fromConfig ?? (spmId !== undefined && spmId >= 0 ? spmId : undefined);
  };
  const eosId = idOf('eos_token', spmIds?.eos) ?? ['</s>', '<|endoftext|>', '<eos>'].map((t) => hf.token_to_id(t)).find((id) => id !== undefined);
  if (eosId === undefined) {
    throw new SoftpromptError('unsupported', `Tokenizer ${file} has no end-of-sequence token (no eos_token in ${TOKENIZER_CONFIG}, no </s> or <|endoftext|>).`, { file, path: 'eos_token' });
  }
  const bosId = idOf('bos_token', spmIds?.bos);
  const padId = idOf('pad_token', spmIds?.pad) ?? hf.token_to_id('<pad>') ?? eosId;
  const vocabSize = hf.get_vocab(true).size;

  return {
    vocabSize,
    padId,
    eosId,
    ...(bosId === undefined ? {} : { bosId }),
    encode: (text, opts = {}) => hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids,
    decode(ids, opts = {}) {
      const known = ids.filter((id) => hf.id_to_token(id) !== undefined);
      return known.length === 0 ? '' : hf.decode(known, { skip_special_tokens: opts.skipSpecialTokens ?? false });
    },
    idToToken: (id) => hf.id_to_token(id),
    tokenToId: (token) => hf.token_to_id(token),
  };
}
