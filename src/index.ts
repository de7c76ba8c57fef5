/** softprompt's public surface: re-exports only. */
export { SoftpromptError, EXIT_CODES, formatError, type ErrorCode } from './errors.js';
export { setThreads, getThreads } from './engine/index.js';
export { SafetensorsFile, writeSafetensors } from './io/safetensors.js';
export { loadConfig, openWeights } from './io/hf-folder.js';
export { loadTokenizer, loadTokenizerSync, type Tokenizer } from './io/tokenizer.js';
export { readTorchBin } from './io/torch-bin.js';
export { T5Model, parseT5Config, type T5Config } from './models/t5.js';
export { loadModel, loadCausalModel, loadAnyModel, type AnyModel } from './models/registry.js';
export { GPT2Model } from './models/gpt2.js';
export { LlamaModel } from './models/llama.js';
export type { Seq2SeqLM, Seq2SeqBatch, Seq2SeqOutput, GenerateOptions, GenerateOutput, ModelInfo } from './models/types.js';
export { withMethod, type PeftMethod, type TrainableTensor, type InitContext } from './methods/method.js';
export type { MethodEntry, MethodOption, ParamGroupSpec, LoadedAdapter, SaveAdapterInfo, AdapterDescription } from './methods/entry.js';
export { METHOD_ENTRIES, getMethod, loadAdapter, readAdapter, saveAdapter } from './methods/registry.js';
// concrete methods, for library users who build one directly (the CLI, trainer and server go through the registry)
export { PromptTuning, validatePromptTuningConfig, type PromptTuningConfig } from './methods/prompt-tuning/index.js';
export { Dept, validateDeptConfig, deptRankForBudget, deptParamCount, deptScaling, type DeptConfig } from './methods/dept/index.js';
export { FullFineTune, validateFullConfig, selectWeights, type FullConfig } from './methods/full/index.js';
export { getTask, loadSplits, TASK_NAMES } from './tasks/registry.js';
export { createLocalTask } from './tasks/local.js';
export { parseTrainConfig, TrainConfigSchema, type TrainConfig } from './train/config.js';
export { trainRun, type TrainRunResult } from './train/run.js';
export { DEFAULT_MAX_LENGTH, inputLimit, encodeSources, meanTokenLoss, predictAny, predictGenerate, predictRank, predictGenerateCausal, predictRankCausal } from './predict/index.js';
export { encodeCausalExample, encodeCausalExamples, encodeCausalSource, collateCausal, CAUSAL_SOURCE_SUFFIX } from './tasks/encode-causal.js';
export { createServer, type ServerOptions } from './serve/server.js';
export type { CausalLM, CausalBatch, CausalOutput, CausalGenerateOptions } from './models/types.js';
