/** Full fine-tuning: config, weight selection, method, files and registry entry. Import through registry.ts outside src/methods/. */
export { FullConfigSchema, validateFullConfig, type FullConfig } from './config.js';
export { decays, matchesModule, selectWeights } from './select.js';
export { DECAY_GROUP, FullFineTune, modelLayout, NO_DECAY_GROUP, type StoredWeights, type WeightSpec } from './full.js';
export { detectFull, FULL_FORMAT, loadFull, saveFull, type FullFolderConfig } from './files.js';
export { FULL_DEFAULT_LR, FULL_DEFAULT_WEIGHT_DECAY, fullEntry } from './entry.js';
