/**
 * Full fine-tuning's folder: a plain Hugging Face model folder that `from_pretrained` loads unchanged.
 *
 *   config.json          the base model's config.json
 *   model.safetensors    every weight, HF names and layout (GPT-2 Conv1D [in, out]), F32, tied weights once
 *                        __metadata__: format "pt", softprompt.method "full", softprompt.base_model,
 *                        softprompt.train_modules (JSON list; [] = every weight)
 *   tokenizer files      copied from the tokenizer folder (tokenizer.json, spiece.model, …)
 *
 * Detected without adapter_config.json (detect()): config.json + model.safetensors. Any such folder loads as a
 * full fine-tuning "adapter" whose weights replace the base model's on attach.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SoftpromptError } from '../../errors.js';
import { CONFIG_FILE, loadConfig, WEIGHTS_FILE } from '../../io/hf-folder.js';
import { writeModelFolder } from '../../io/model-folder-writer.js';
import { SafetensorsFile, type WritableTensor } from '../../io/safetensors.js';
import { SPM_FILES, TOKENIZER_JSON } from '../../io/tokenizer.js';
import { hfLayout } from '../../models/weight-grads.js';
import { ADAPTER_CONFIG_FILE } from '../adapter-files.js';
import type { AdapterHeader, LoadAdapterContext, LoadedAdapter, SaveAdapterHooks, SaveAdapterInfo, SavedAdapter } from '../entry.js';
import { validateFullConfig } from './config.js';
import { FullFineTune, type StoredWeights } from './full.js';
import { selectWeights } from './select.js';

export const FULL_FORMAT = 'hf';
const META_METHOD = 'softprompt.method';
const META_BASE = 'softprompt.base_model';
const META_MODULES = 'softprompt.train_modules';

/** What a full fine-tuning folder records beyond the common header. */
export interface FullFolderConfig extends AdapterHeader {
  /** config.json as read */
  modelConfig: Record<string, unknown>;
  modelType: string | null;
  /** every tensor of model.safetensors: name and shape */
  tensors: Array<{ name: string; shape: number[] }>;
  /** false for an HF model folder softprompt did not save */
  savedBySoftprompt: boolean;
}

const isDir = (p: string): boolean => fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() === true;

export function detectFull(dir: string): boolean {
  return !fs.existsSync(path.join(dir, ADAPTER_CONFIG_FILE)) && fs.existsSync(path.join(dir, CONFIG_FILE)) && fs.existsSync(path.join(dir, WEIGHTS_FILE));
}

function hasTokenizer(dir: string): boolean {
  return [TOKENIZER_JSON, ...SPM_FILES].some((f) => fs.existsSync(path.join(dir, f)));
}

/** The base model's config.json, to be copied byte for byte (checked to be a JSON object). */
function baseConfig(m: FullFineTune, info: SaveAdapterInfo, loaded: string | null): { file: string } {
  if (isDir(info.baseModel) && fs.existsSync(path.join(info.baseModel, CONFIG_FILE))) {
    loadConfig(info.baseModel);
    return { file: path.join(info.baseModel, CONFIG_FILE) };
  }
  if (loaded !== null) return { file: loaded };
  throw new SoftpromptError('invalid_config', `Saving a full fine-tuned model copies the base model's ${CONFIG_FILE}, but the base model ${JSON.stringify(info.baseModel)} is not a model folder here.`, {
    path: 'baseModel', hint: `pass the base model's folder as baseModel (${m.numParams()} trained parameters are waiting to be saved).`,
  });
}

export function saveFull(dir: string, m: FullFineTune, info: SaveAdapterInfo, _hooks?: SaveAdapterHooks): SavedAdapter {
  if (fs.existsSync(path.join(dir, ADAPTER_CONFIG_FILE))) {
    throw new SoftpromptError('invalid_config', `${dir} holds a PEFT adapter (${ADAPTER_CONFIG_FILE}); a full fine-tuned model is a whole model folder: save it to another folder.`, { file: dir, path: 'output' });
  }
  const tensors: Record<string, WritableTensor> = {};
  const live = m.attachedWeights();
  if (live !== null) {
    for (const w of live) tensors[w.name] = { dtype: 'F32', shape: [...w.shape], data: hfLayout(w) };
  } else if (m.stored !== null) {
    const st = m.stored;
    for (const name of st.names) tensors[name] = { dtype: 'F32', shape: [...st.shape(name)], data: st.read(name) };
  } else {
    throw new SoftpromptError('invalid_config', 'A fresh full fine-tuning method holds no weights until it is attached to a model: save it while attached.', { path: 'method' });
  }
  const tok = info.tokenizer;
  const tokenizerDir = tok === null ? undefined : isDir(tok) ? tok : fs.existsSync(tok) ? path.dirname(tok) : undefined;
  const files = writeModelFolder(dir, {
    config: baseConfig(m, info, m.stored?.configFile ?? null),
    tensors,
    ...(tokenizerDir !== undefined ? { tokenizerDir } : {}),
    metadata: { [META_METHOD]: 'full', [META_BASE]: info.baseModel, [META_MODULES]: JSON.stringify(m.config.trainModules) },
  });
  return { dir, peftType: FULL_FORMAT, files };
}

function modelWidth(config: Record<string, unknown>): number | null {
  for (const k of ['d_model', 'n_embd', 'hidden_size']) if (typeof config[k] === 'number') return config[k] as number;
  return null;
}

function storedWeights(st: SafetensorsFile, configFile: string): StoredWeights {
  return {
    file: st.file, names: st.names(), configFile,
    has: (name) => st.has(name),
    shape: (name) => st.info(name).shape,
    read: (name) => st.getF32(name),
  };
}

export function loadFull(dir: string, ctx: LoadAdapterContext): LoadedAdapter<FullFineTune, FullFolderConfig> {
  const configFile = path.join(dir, CONFIG_FILE);
  const weightsFile = path.join(dir, WEIGHTS_FILE);
  const modelConfig = loadConfig(dir);
  const st = SafetensorsFile.open(weightsFile);
  const d = modelWidth(modelConfig);
  if (d === null) throw new SoftpromptError('invalid_config', `${configFile} gives no model width (d_model, n_embd or hidden_size).`, { file: configFile, path: 'd_model' });
  if (ctx.expectDModel !== undefined && ctx.expectDModel !== d) {
    throw new SoftpromptError('shape_mismatch', `${configFile} describes a model of width ${d}, but the base model's is ${ctx.expectDModel}.`, { file: configFile, path: 'd_model' });
  }
  const meta = st.metadata;
  let modules: unknown = [];
  if (meta[META_MODULES] !== undefined) {
    try {
      modules = JSON.parse(meta[META_MODULES]);
    } catch (err) {
      throw new SoftpromptError('malformed_file', `${weightsFile}: metadata ${META_MODULES} is not JSON: ${(err as Error).message}.`, { file: weightsFile, path: META_MODULES, cause: err });
    }
  }
  const config = validateFullConfig({ trainModules: modules });
  const tensors = st.names().map((name) => ({ name, shape: st.info(name).shape }));
  const selected = selectWeights(tensors, config.trainModules);
  const modelType = typeof modelConfig['model_type'] === 'string' ? modelConfig['model_type'] : null;
  const seq2seq = modelConfig['is_encoder_decoder'] === true || modelType === 't5';
  const header: FullFolderConfig = {
    file: configFile,
    baseModel: meta[META_BASE] ?? dir,
    tokenizer: hasTokenizer(dir) ? dir : null,
    taskType: modelType === null ? null : seq2seq ? 'SEQ_2_SEQ_LM' : 'CAUSAL_LM',
    modelConfig, modelType, tensors, savedBySoftprompt: meta[META_METHOD] === 'full',
  };
  const method = new FullFineTune(config, d, selected, storedWeights(st, configFile));
  return { method, config: header, peftType: FULL_FORMAT, configFile, weightsFile };
}
