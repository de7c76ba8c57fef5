/** Public surface of src/tasks: task specs, data loading with DePT's split protocol, metrics. */

export type { Example, SourceSplit, SplitKind, SplitProtocol, Splits, TaskSpec } from './types.js';
export {
  bundledDataDir,
  canonicalTaskName,
  getTask,
  loadSplits,
  TASK_NAMES,
  type GetTaskOptions,
  type LoadedSplits,
  type LoadSplitsOptions,
} from './registry.js';
export { createLocalTask, type LocalFormat, type LocalTaskOptions } from './local.js';
export {
  accuracy,
  evaluate,
  f1WithInvalid,
  macroF1,
  matthewsCorrcoef,
  METRIC_NAMES,
  multircF1,
  normalizeSquad,
  pearson,
  spearman,
  squadExactMatch,
  squadF1,
  stringToFloat,
} from './metrics.js';
export { applySplitProtocol, largeValidationSize, type SplitOptions } from './splits.js';
export { Permuter, seededPermutation } from './permutation.js';
export { STSB_LABEL_LIST, stsbTarget, type StsbRounding } from './stsb.js';
export { parseCsv } from './csv.js';
