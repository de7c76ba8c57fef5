/** Public surface of src/io: reading and writing checkpoints, model folders and tokenizers. */

export { atomicWriteFile } from './atomic.js';
export { DTYPE_BYTES, formatShape, numel, type DType, type TensorInfo } from './dtype.js';
export { CONFIG_FILE, WEIGHTS_FILE, WEIGHTS_INDEX_FILE, loadConfig, openWeights, type WeightStore } from './hf-folder.js';
export { SafetensorsFile, encodeSafetensors, writeSafetensors, type WritableTensor } from './safetensors.js';
export { loadTokenizer, loadTokenizerSync, type Tokenizer } from './tokenizer.js';
export { readTorchBin, type TorchTensor } from './torch-bin.js';
