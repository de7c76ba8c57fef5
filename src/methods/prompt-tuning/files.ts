/**
 * Prompt tuning's adapter folder: upstream PEFT's PROMPT_TUNING (adapter_config.json + prompt_embeddings (l, d)),
 * loaded by `PeftModel.from_pretrained(model, dir)`. Also written for a DePT adapter whose offset is zero.
 */
import { SoftpromptError } from '../../errors.js';
import { promptTuningConfigFromAdapter, peftAdapterConfig, type ParsedPeftAdapterConfig } from '../adapter-config.js';
import { promptTensors, readPromptAdapter, writeAdapterFolder, type AdapterContent } from '../adapter-files.js';
import type { LoadAdapterContext, LoadedAdapter, SaveAdapterHooks, SaveAdapterInfo, SavedAdapter } from '../entry.js';
import type { PromptTuningConfig } from './config.js';
import { PromptTuning } from './prompt-tuning.js';

/** adapter_config.json and tensors of a PROMPT_TUNING adapter holding P (l, d). */
export function promptTuningContent(config: PromptTuningConfig, P: Float32Array, info: SaveAdapterInfo): AdapterContent {
  return { peftType: 'PROMPT_TUNING', config: peftAdapterConfig(config, info), tensors: promptTensors(P, config.numVirtualTokens, info.modelInfo.dModel) };
}

export function savePromptTuning(dir: string, m: PromptTuning, info: SaveAdapterInfo, hooks?: SaveAdapterHooks): SavedAdapter {
  if (m.dModel !== info.modelInfo.dModel) {
    throw new SoftpromptError('shape_mismatch', `The prompt_tuning method has d=${m.dModel} but the model info says d=${info.modelInfo.dModel}; the adapter config would not match its tensors.`, { path: 'token_dim' });
  }
  return writeAdapterFolder(dir, promptTuningContent(m.config, m.prompt.data, info), hooks);
}

export function loadPromptTuning(dir: string, ctx: LoadAdapterContext): LoadedAdapter<PromptTuning, ParsedPeftAdapterConfig> {
  const a = readPromptAdapter(dir, 'PROMPT_TUNING', ctx);
  return {
    method: new PromptTuning(promptTuningConfigFromAdapter(a.config), a.d, a.prompt),
    config: a.config, peftType: 'PROMPT_TUNING', configFile: a.configFile, weightsFile: a.weights.file,
  };
}
