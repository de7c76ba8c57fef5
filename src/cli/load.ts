/**
 * Model + adapter + tokenizer for `eval` and `predict`. When --model / --tokenizer are not given, the paths the
 * adapter config records (base_model_name_or_path, tokenizer_name_or_path) are used if they are folders here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setThreads } from '../engine/index.js';
import { SoftpromptError } from '../errors.js';
import { loadTokenizerSync, SPM_FILES, TOKENIZER_JSON, type Tokenizer } from '../io/tokenizer.js';
import type { AnyMethodEntry, LoadedAdapter } from '../methods/entry.js';
import { readAdapter } from '../methods/registry.js';
import { loadAnyModel, type AnyModel } from '../models/registry.js';
import type { CausalLM, Seq2SeqLM } from '../models/types.js';
import { inputLimit } from '../predict/index.js';
import { usageError } from './errors.js';
import { displayPath, packageRoot } from './paths.js';

export interface InferenceOptions {
  adapter: string;
  model?: string;
  tokenizer?: string;
  threads?: number;
  /** inputs are cut to this many tokens (default DEFAULT_MAX_LENGTH, capped by the adapter's own limit: inputLimit) */
  maxLength?: number;
}

export interface Inference {
  model: Seq2SeqLM | CausalLM;
  /** the model tagged with its family (T5: seq2seq; GPT-2, LLaMA: causal) */
  lm: AnyModel;
  adapter: LoadedAdapter & { entry: AnyMethodEntry };
  tok: Tokenizer;
  modelDir: string;
  tokenizerPath: string;
  /** tokens an input is truncated to */
  maxLength: number;
}

function isDir(p: string): boolean {
  return fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() === true;
}

export function hasTokenizer(dir: string): boolean {
  return [TOKENIZER_JSON, ...SPM_FILES].some((f) => fs.existsSync(path.join(dir, f)));
}

export function loadInference(o: InferenceOptions): Inference {
  if (o.threads !== undefined && o.threads > 0) setThreads(o.threads);
  // read the adapter config first: it may name the base model
  const peek = readAdapter(o.adapter);
  let modelDir = o.model;
  if (modelDir === undefined) {
    const base = peek.config.baseModel;
    if (base === null || !isDir(base)) {
      throw usageError(`--model is required: the adapter's base model ${base === null ? '(none recorded)' : JSON.stringify(base)} is not a folder here.`, {
        path: '--model', hint: `give the Hugging Face folder of the model the adapter was trained on, e.g. --model ./${base ?? 't5-base'}.`,
      });
    }
    modelDir = base;
  }
  const lm = loadAnyModel(modelDir);
  const model = lm.model;
  const adapter = readAdapter(o.adapter, { expectDModel: model.info.dModel });

  let tokenizerPath = o.tokenizer;
  if (tokenizerPath === undefined) {
    const recorded = adapter.config.tokenizer;
    if (hasTokenizer(modelDir)) tokenizerPath = modelDir;
    else if (recorded !== null && isDir(recorded) && hasTokenizer(recorded)) tokenizerPath = recorded;
    else {
      throw new SoftpromptError('file_not_found', `No tokenizer in ${modelDir} (expected ${TOKENIZER_JSON} or ${SPM_FILES.join(' / ')}), and the adapter records none found here.`, {
        file: modelDir, path: '--tokenizer', hint: `pass --tokenizer <folder or file>, e.g. --tokenizer ${displayPath(path.join(packageRoot(), 'test', 'fixtures', 'tokenizers', 't5'))} for the bundled t5-tiny.`,
      });
    }
  }
  const tok = loadTokenizerSync(tokenizerPath);
  const maxLength = inputLimit(adapter.method, o.maxLength);
  return { model, lm, adapter, tok, modelDir, tokenizerPath, maxLength };
}
