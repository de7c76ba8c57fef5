/**
 * Architecture registry: a Hugging Face folder's config.json `model_type` picks the model file that loads it.
 */
import { SoftpromptError } from '../errors.js';
import { loadConfig, openWeights } from '../io/hf-folder.js';
import { join } from 'node:path';
import { T5Model, type Precision } from './t5.js';
import type { Seq2SeqLM } from './types.js';

export const SUPPORTED_MODEL_TYPES = ['t5', 'mt5'] as const;

export interface LoadModelOptions {
  /** 'bf16': weight GEMMs with bfloat16 operands and fp32 accumulation */
  precision?: Precision;
}

/** Load the model in `dir` (config.json + model.safetensors or a sharded index). */
export function loadModel(dir: string, opts: LoadModelOptions = {}): Seq2SeqLM {
  const config = loadConfig(dir);
  const type = config['model_type'];
  switch (type) {
    case 't5':
    case 'mt5': {
      const model = T5Model.load(config, openWeights(dir), join(dir, 'config.json'));
      model.precision = opts.precision ?? 'fp32';
      return model;
    }
    default:
      throw new SoftpromptError('unsupported',
        `${join(dir, 'config.json')} has model_type ${JSON.stringify(type)}; this version trains T5-family models (${SUPPORTED_MODEL_TYPES.join(', ')}).`,
        { path: 'model_type', file: join(dir, 'config.json') });
  }
}
