/**
 * DePT's adapter folder: the DePT fork's PROMPT_TUNING_LORA (P, A, B; spec §1.9), loaded by the fork's
 * `PeftModel.from_pretrained`. With format 'peft' a DePT adapter whose offset is zero is written as upstream
 * PEFT's PROMPT_TUNING instead (P alone); a nonzero offset is refused rather than dropped.
 */
import { SoftpromptError } from '../../errors.js';
import { deptAdapterConfig, deptConfigFromAdapter, type ParsedDeptAdapterConfig } from '../adapter-config.js';
import { adapterTensor, allZero, LORA_A_KEY, LORA_B_KEY, promptTensors, readPromptAdapter, writeAdapterFolder, type AdapterContent, type AdapterWeights } from '../adapter-files.js';
import type { LoadAdapterContext, LoadedAdapter, SaveAdapterHooks, SaveAdapterInfo, SavedAdapter } from '../entry.js';
import { promptTuningContent } from '../prompt-tuning/files.js';
import { Dept } from './dept.js';

function deptContent(m: Dept, info: SaveAdapterInfo): AdapterContent {
  const d = info.modelInfo.dModel;
  if (m.dModel !== d) {
    throw new SoftpromptError('shape_mismatch', `The dept method has d=${m.dModel} but the model info says d=${d}; the adapter config would not match its tensors.`, { path: 'token_dim' });
  }
  const c = m.config;
  if ((info.format ?? 'dept') === 'dept') {
    return {
      peftType: 'PROMPT_TUNING_LORA',
      config: deptAdapterConfig(c, info),
      tensors: {
        ...promptTensors(m.prompt.data, c.numVirtualTokens, d),
        [LORA_A_KEY]: { dtype: 'F32', shape: [c.maxLength, c.rank], data: m.loraA.data },
        [LORA_B_KEY]: { dtype: 'F32', shape: [c.rank, d], data: m.loraB.data },
      },
    };
  }
  // format 'peft': PROMPT_TUNING can carry only P. Dropping a nonzero A·B offset would change the model (spec §1.9).
  if (c.rank > 0 && !allZero(m.loraB.data)) {
    throw new SoftpromptError('unsupported', `Cannot save this DePT adapter (l=${c.numVirtualTokens}, r=${c.rank}) in upstream PEFT's PROMPT_TUNING format: PEFT has no place for the low-rank offset A·B, and dropping it would change the model.`, {
      path: 'format', hint: "save it with format 'dept' (PROMPT_TUNING_LORA, loaded by the DePT fork of peft); only a DePT adapter with rank 0 or an all-zero B converts to PROMPT_TUNING.",
    });
  }
  if (c.numVirtualTokens === 0) {
    throw new SoftpromptError('invalid_config', 'Cannot save a DePT adapter with 0 virtual tokens and a zero offset in PROMPT_TUNING format: it would hold no prompt rows.', { path: 'numVirtualTokens' });
  }
  return promptTuningContent({ numVirtualTokens: c.numVirtualTokens, init: c.init, initText: c.initText }, m.prompt.data, info);
}

export function saveDept(dir: string, m: Dept, info: SaveAdapterInfo, hooks?: SaveAdapterHooks): SavedAdapter {
  return writeAdapterFolder(dir, deptContent(m, info), hooks);
}

/** DePT: A and B must both be there (no silent prompt-only fallback: it would be a different model). */
function checkLowRankPresent(w: AdapterWeights, c: ParsedDeptAdapterConfig): void {
  const missing = [LORA_A_KEY, LORA_B_KEY].filter((n) => w.shape(n) === undefined);
  if (missing.length === 0 || c.rank === 0) return;
  const why =
    c.saveLoraEmbeddings === null
      ? ` ${c.file} has no save_lora_embeddings key: the adapter was saved by an older DePT code version that wrote only prompt_embeddings (like the released superglue-wic, hotpotqa and nq checkpoints).`
      : c.saveLoraEmbeddings === false
        ? ` ${c.file} sets save_lora_embeddings: false, so they were never saved.`
        : '';
  throw new SoftpromptError('missing_tensor', `DePT adapter ${w.file} lacks ${missing.map((n) => `"${n}"`).join(' and ')} (it holds ${w.names().map((n) => `"${n}"`).join(', ') || 'no tensors'}).${why} Without A and B it cannot reproduce the trained model, and softprompt does not fall back to the prompt alone.`, {
    file: w.file, path: missing[0]!, hint: 'use an adapter saved with all three tensors (e.g. the released cola or sst2 checkpoints), or retrain.',
  });
}

export function loadDept(dir: string, ctx: LoadAdapterContext): LoadedAdapter<Dept, ParsedDeptAdapterConfig> {
  const a = readPromptAdapter(dir, 'PROMPT_TUNING_LORA', ctx, { widthFrom: LORA_B_KEY, check: checkLowRankPresent });
  const c = a.config, w = a.weights, d = a.d;
  const { rank: r, maxLength: s } = c;
  const lowRank = (name: string, shape: [number, number]): Float32Array =>
    r === 0 && w.shape(name) === undefined ? new Float32Array(0)
      : adapterTensor(w, name, shape, `${a.configFile} gives max_length s=${s}, r=${r} and token_dim d=${d}: A is (s, r), B is (r, d).`);
  const A = lowRank(LORA_A_KEY, [s, r]);
  const B = lowRank(LORA_B_KEY, [r, d]);
  return { method: new Dept(deptConfigFromAdapter(c), d, a.prompt, A, B), config: c, peftType: 'PROMPT_TUNING_LORA', configFile: a.configFile, weightsFile: w.file };
}
