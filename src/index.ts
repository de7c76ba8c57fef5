/** softprompt's public surface: re-exports only. */
export { SoftpromptError, EXIT_CODES, formatError, type ErrorCode } from './errors.js';
export { setThreads, getThreads } from './engine/index.js';
export { SafetensorsFile, writeSafetensors } from './io/safetensors.js';
export { loadConfig, openWeights } from './io/hf-folder.js';
export { loadTokenizer, loadTokenizerSync, type Tokenizer } from './io/tokenizer.js';
export { readTorchBin } from './io/torch-bin.js';
export { T5Model, parseT5Config, type T5Config } from './models/t5.js';
export { loadModel } from './models/registry.js';
export type { Seq2SeqLM, Seq2SeqBatch, Seq2SeqOutput, GenerateOptions, GenerateOutput, ModelInfo } from './models/types.js';
export type { PeftMethod, TrainableTensor, InitContext } from './methods/method.js';
export { PromptTuning, validatePromptTuningConfig, type PromptTuningConfig } from './methods/prompt-tuning.js';
export { Dept, validateDeptConfig, deptRankForBudget, deptParamCount, deptScaling, type DeptConfig } from './methods/dept.js';
export { loadAdapter, saveAdapter } from './methods/adapter-files.js';
export { getTask, loadSplits, TASK_NAMES } from './tasks/registry.js';
export { createLocalTask } from './tasks/local.js';
export { parseTrainConfig, TrainConfigSchema, type TrainConfig } from './train/config.js';
export { trainRun, type TrainRunResult } from './train/run.js';
