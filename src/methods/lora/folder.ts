/** Saving and loading a LoRA method as a PEFT adapter folder (see files.ts for the format). */
import path from 'node:path';
import { ADAPTER_CONFIG_FILE, openAdapterWeights, readAdapterConfigObject, writeAdapterFolder } from '../adapter-files.js';
import type { LoadAdapterContext, LoadedAdapter, SaveAdapterHooks, SaveAdapterInfo, SavedAdapter } from '../entry.js';
import { loraAdapterConfigJson, loraTensors, parseLoraAdapterFile, readLoraPairs, type ParsedLoraAdapterConfig } from './files.js';
import { Lora } from './lora.js';

export function saveLora(dir: string, m: Lora, info: SaveAdapterInfo, hooks?: SaveAdapterHooks): SavedAdapter {
  // PEFT 0.21's PeftModelForSeq2SeqLM does not run with transformers 5 (it calls a removed generation hook), so a
  // seq2seq adapter records task_type null, as PEFT itself writes when no task type is given; it still loads with
  // PeftModel.from_pretrained. Decoder-only adapters record CAUSAL_LM.
  const config = loraAdapterConfigJson(m.config, m.targets, {
    baseModel: info.baseModel, taskType: info.modelInfo.kind === 'causal' ? 'CAUSAL_LM' : null, fanInFanOut: m.architecture === 'gpt2',
  });
  return writeAdapterFolder(dir, { peftType: 'LORA', config, tensors: loraTensors(m.pairs()) }, hooks);
}


export function loadLora(dir: string, _ctx: LoadAdapterContext): LoadedAdapter<Lora, ParsedLoraAdapterConfig> {
  const configFile = path.join(dir, ADAPTER_CONFIG_FILE);
  const config = parseLoraAdapterFile(readAdapterConfigObject(configFile), configFile);
  const w = openAdapterWeights(dir);
  const pairs = readLoraPairs({ names: () => w.names(), shape: (n) => w.shape(n) ?? [], getF32: (n) => w.get(n) }, config.lora.r, w.file);
  // LoRA records no model width; attach() checks every pair against the model's layers and sets it.
  const targets = config.targets.length > 0 ? config.targets : [...new Set(pairs.map((p) => p.module.slice(p.module.lastIndexOf('.') + 1)))];
  const method = new Lora(config.lora, targets, pairs[0]!.inFeatures, pairs, config.fanInFanOut ? 'gpt2' : null);
  return { method, config, peftType: 'LORA', configFile, weightsFile: w.file };
}
