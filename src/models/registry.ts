/**
 * Architecture registry: a Hugging Face folder's config.json `model_type` picks the model file that loads it.
 */
import { SoftpromptError } from '../errors.js';
import { loadConfig, openWeights } from '../io/hf-folder.js';
import { join } from 'node:path';
import { T5Model, type Precision } from './t5.js';
import { GPT2Model } from './gpt2.js';
import { LlamaModel } from './llama.js';
import type { CausalLM, Seq2SeqLM } from './types.js';

export const SEQ2SEQ_MODEL_TYPES = ['t5', 'mt5'] as const;
export const CAUSAL_MODEL_TYPES = ['gpt2', 'llama'] as const;

export interface LoadModelOptions {
  /** 'bf16': frozen GEMM weights held in bf16, GEMMs with bf16 operands and fp32 accumulation (oneDNN) */
  precision?: Precision;
  /** T5 in precision 'bf16': these weights (HF names) stay fp32 masters to be trained in mixed precision */
  keepFp32?: (name: string) => boolean;
}

/** Load the model in `dir` (config.json + model.safetensors or a sharded index). */
export function loadModel(dir: string, opts: LoadModelOptions = {}): Seq2SeqLM {
  const config = loadConfig(dir);
  const type = config['model_type'];
  switch (type) {
    case 't5':
    case 'mt5': {
      return T5Model.load(config, openWeights(dir), join(dir, 'config.json'), opts.precision ?? 'fp32', opts.keepFp32);
    }
    case 'gpt2':
    case 'llama':
      throw new SoftpromptError('unsupported',
        `${join(dir, 'config.json')} describes a decoder-only ${type} model; this entry point takes encoder-decoder models (${SEQ2SEQ_MODEL_TYPES.join(', ')}).`,
        { path: 'model_type', file: join(dir, 'config.json'), hint: 'train, eval, predict and serve take decoder-only models too; from the library, loadAnyModel(dir) or loadCausalModel(dir).' });
    default:
      throw new SoftpromptError('unsupported',
        `${join(dir, 'config.json')} has model_type ${JSON.stringify(type)}; supported: ${[...SEQ2SEQ_MODEL_TYPES, ...CAUSAL_MODEL_TYPES].join(', ')}.`,
        { path: 'model_type', file: join(dir, 'config.json') });
  }
}

/** Load the decoder-only model in `dir` (GPT-2, LLaMA family). */
export function loadCausalModel(dir: string, opts: LoadModelOptions = {}): CausalLM {
  const config = loadConfig(dir);
  const file = join(dir, 'config.json');
  const precision = opts.precision ?? 'fp32';
  switch (config['model_type']) {
    case 'gpt2':
      return GPT2Model.load(config, openWeights(dir), file, precision);
    case 'llama':
      return LlamaModel.load(config, openWeights(dir), file, precision);
    default:
      throw new SoftpromptError('unsupported',
        `${file} has model_type ${JSON.stringify(config['model_type'])}; decoder-only models supported: ${CAUSAL_MODEL_TYPES.join(', ')}.`,
        { path: 'model_type', file });
  }
}

/** A loaded model tagged with its family: the trainer and the CLI branch on `kind`. */
export type AnyModel =
  | { kind: 'seq2seq'; model: Seq2SeqLM }
  | { kind: 'causal'; model: CausalLM };

/** Load the model in `dir` whatever its family: encoder-decoder (T5) or decoder-only (GPT-2, LLaMA). */
export function loadAnyModel(dir: string, opts: LoadModelOptions = {}): AnyModel {
  const config = loadConfig(dir);
  const type = config['model_type'];
  if (typeof type === 'string' && (CAUSAL_MODEL_TYPES as readonly string[]).includes(type)) {
    return { kind: 'causal', model: loadCausalModel(dir, opts) };
  }
  return { kind: 'seq2seq', model: loadModel(dir, opts) };
}

/**
 * A tokenizer whose ids run past the model's embedding table belongs to another model (e.g. the 50,257-token GPT-2
 * tokenizer with the 1,024-token test/fixtures/gpt2-tiny). Caught at load, naming both, instead of at the first
 * out-of-range token id. A smaller tokenizer is fine (T5's 32,100 pieces in a 32,128-row table).
 */
export function checkVocabulary(tok: { readonly vocabSize: number }, tokenizerPath: string, modelVocabSize: number, modelDir: string): void {
  if (tok.vocabSize <= modelVocabSize) return;
  throw new SoftpromptError('invalid_config', `The tokenizer ${tokenizerPath} (${tok.vocabSize.toLocaleString('en-US')} tokens) and the model ${modelDir} (vocab_size ${modelVocabSize.toLocaleString('en-US')}) do not belong together: the tokenizer's ids run past the model's embedding table.`, {
    path: 'tokenizer', file: tokenizerPath,
    hint: 'use the tokenizer the model was trained with, or build a small random model for this tokenizer: softprompt init-model --family gpt2|llama --tokenizer <path> --output <dir>.',
  });
}
