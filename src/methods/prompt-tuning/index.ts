/** Prompt tuning: config, method, files and registry entry. Import through registry.ts outside src/methods/. */
export { PromptTuningConfigSchema, validatePromptTuningConfig, type PromptTuningConfig } from './config.js';
export { PromptTuning } from './prompt-tuning.js';
export { loadPromptTuning, savePromptTuning } from './files.js';
export { promptTuningEntry } from './entry.js';
