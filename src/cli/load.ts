/**
 * Model + adapter + tokenizer (+ the saved task, softprompt_task.json) for `eval` and `predict`. When --model /
 * --tokenizer are not given, the paths the adapter config records (base_model_name_or_path,
 * tokenizer_name_or_path) are used if they are folders here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setThreads } from '../engine/index.js';
import { SoftpromptError } from '../errors.js';
import { loadTokenizerSync, SPM_FILES, TOKENIZER_JSON, type Tokenizer } from '../io/tokenizer.js';
import type { AnyMethodEntry, LoadedAdapter } from '../methods/entry.js';
import { readAdapter } from '../methods/registry.js';
import { checkVocabulary, loadAnyModel, type AnyModel } from '../models/registry.js';
import { readSavedTask, SAVED_TASK_FILE, type SavedTask } from '../tasks/saved-task.js';
import type { CausalLM, Seq2SeqLM } from '../models/types.js';
import { inputLimit } from '../predict/index.js';
import { usageError } from './errors.js';
import { displayPath, packageRoot } from './paths.js';

export interface InferenceOptions {
  adapter: string;
  model?: string;
  tokenizer?: string;
  threads?: number;
  /** inputs are cut to this many tokens (default: the task file's, else DEFAULT_MAX_LENGTH; capped by the adapter's own limit: inputLimit) */
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
  /** the adapter folder's softprompt_task.json, or null */
  saved: SavedTask | null;
}

function isDir(p: string): boolean {
  return fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() === true;
}

export function hasTokenizer(dir: string): boolean {
  return [TOKENIZER_JSON, ...SPM_FILES].some((f) => fs.existsSync(path.join(dir, f)));
}

const FAMILY_KIND: Readonly<Record<SavedTask['modelFamily'], 'seq2seq' | 'causal'>> = { t5: 'seq2seq', gpt2: 'causal', llama: 'causal' };

export function loadInference(o: InferenceOptions): Inference {
  if (o.threads !== undefined && o.threads > 0) setThreads(o.threads);
  // read the adapter config first: it may name the base model
  const peek = readAdapter(o.adapter);
  const saved = readSavedTask(o.adapter);
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
  if (saved !== null && FAMILY_KIND[saved.modelFamily] !== model.info.kind) {
    throw new SoftpromptError('invalid_config', `The adapter ${o.adapter} was trained on a ${saved.modelFamily} model (${FAMILY_KIND[saved.modelFamily]}), but ${modelDir} is a ${model.info.architecture} (${model.info.kind}).`, {
      file: `${o.adapter}/${SAVED_TASK_FILE}`, path: 'task.modelFamily', hint: 'pass --model with the base model the adapter was trained on.',
    });
  }
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
  checkVocabulary(tok, tokenizerPath, model.info.vocabSize, modelDir);
  const maxLength = inputLimit(adapter.method, o.maxLength ?? saved?.maxLength);
  return { model, lm, adapter, tok, modelDir, tokenizerPath, maxLength, saved };
}

/**
 * The model and tokenizer folders `eval` / `predict` pick for `adapterDir` with no --model / --tokenizer (the
 * paths adapter_config.json records, when they are folders here), or null where a flag would be needed.
 */
export function defaultInferencePaths(adapterDir: string): { model: string | null; tokenizer: string | null } {
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(fs.readFileSync(path.join(adapterDir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return { model: null, tokenizer: null };
  }
  const base = json['base_model_name_or_path'];
  const recorded = json['tokenizer_name_or_path'];
  const model = typeof base === 'string' && isDir(base) ? base : null;
  const tokenizer = model !== null && hasTokenizer(model) ? model
    : typeof recorded === 'string' && isDir(recorded) && hasTokenizer(recorded) ? recorded : null;
  return { model, tokenizer };
}
