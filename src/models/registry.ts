/**
 * Architecture registry: a Hugging Face folder's config.json `model_type` picks the model file that loads it.
 */
import { SoftpromptError } from '../errors.js';
import { loadConfig, openWeights } from '../io/hf-folder.js';
import { join } from 'node:path';
import { T5Model } from './t5.js';
import type { Seq2SeqLM } from './types.js';

export const SUPPORTED_MODEL_TYPES = ['t5', 'mt5'] as const;

/** Load the model in `dir` (config.json + model.safetensors or a sharded index). */
export function loadModel(dir: string): Seq2SeqLM {
  const config = loadConfig(dir);
  const type = config['model_type'];
  switch (type) {
    case 't5':
    case 'mt5':
      return T5Model.load(config, openWeights(dir), join(dir, 'config.json'));
    default:
      throw new SoftpromptError('unsupported',
        `${join(dir, 'config.json')} has model_type ${JSON.stringify(type)}; this version trains T5-family models (${SUPPORTED_MODEL_TYPES.join(', ')}).`,
        { path: 'model_type', file: join(dir, 'config.json') });
  }
}
