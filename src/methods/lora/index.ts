export { DEFAULT_TARGETS, loraScaling, validateLoraConfig, type LoraConfig } from './config.js';
export { loraEntry } from './entry.js';
export { loadLora, saveLora } from './folder.js';
export { Lora } from './lora.js';
export { LoraLinear } from './side-path.js';
