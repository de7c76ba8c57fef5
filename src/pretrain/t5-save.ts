/**
 * A T5 in memory back to an HF folder: T5Weights → HF tensor names (the inverse of loadT5Weights; tied copies are
 * not stored, as save_pretrained does), written as bf16 shards with config.json. This is
 * how `softprompt pretrain` will save the trained model.
 */
import path from 'node:path';
import fs from 'node:fs';
import { atomicWriteFile } from '../io/atomic.js';
import { CONFIG_FILE } from '../io/hf-folder.js';
import { writeModelWeights, type WeightsWriteOptions, type WrittenWeights } from '../io/hf-folder-writer.js';
import { t5TensorTable, type T5Config, type T5Weights } from '../models/t5.js';
import { configJsonText } from './t5-init.js';

/** HF name → tensor, for every name of t5TensorTable(cfg), sharing memory with `w`. */
export function t5WeightsToTensors(cfg: T5Config, w: T5Weights): Record<string, { shape: number[]; data: Float32Array }> {
  const byName = new Map<string, Float32Array>([
    ['shared.weight', w.shared],
    ['encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', w.encRelBias],
    ['decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', w.decRelBias],
    ['encoder.final_layer_norm.weight', w.encFinal],
    ['decoder.final_layer_norm.weight', w.decFinal],
    ['lm_head.weight', w.lmHead],
  ]);
  const attn = (p: string, a: T5Weights['encoder'][number]['attn']) => {
    byName.set(`${p}.q.weight`, a.q).set(`${p}.k.weight`, a.k).set(`${p}.v.weight`, a.v).set(`${p}.o.weight`, a.o);
  };
  const ffn = (p: string, f: T5Weights['encoder'][number]['ffn']) => {
    if (f.wiGate === null) byName.set(`${p}.wi.weight`, f.wi);
    else byName.set(`${p}.wi_0.weight`, f.wi).set(`${p}.wi_1.weight`, f.wiGate);
    byName.set(`${p}.wo.weight`, f.wo);
  };
  w.encoder.forEach((b, l) => {
    const p = `encoder.block.${l}`;
    attn(`${p}.layer.0.SelfAttention`, b.attn);
    byName.set(`${p}.layer.0.layer_norm.weight`, b.ln1).set(`${p}.layer.1.layer_norm.weight`, b.ln2);
    ffn(`${p}.layer.1.DenseReluDense`, b.ffn);
  });
  w.decoder.forEach((b, l) => {
    const p = `decoder.block.${l}`;
    attn(`${p}.layer.0.SelfAttention`, b.selfAttn);
    attn(`${p}.layer.1.EncDecAttention`, b.crossAttn);
    byName.set(`${p}.layer.0.layer_norm.weight`, b.ln1).set(`${p}.layer.1.layer_norm.weight`, b.ln2).set(`${p}.layer.2.layer_norm.weight`, b.ln3);
    ffn(`${p}.layer.2.DenseReluDense`, b.ffn);
  });
  return Object.fromEntries(t5TensorTable(cfg).map(({ name, shape }) => [name, { shape, data: byName.get(name)! }]));
}

/** config.json + weights (bf16 shards by default); copyTokenizerFiles (run.ts) adds the tokenizer. */
export function saveT5Folder(dir: string, configJson: Record<string, unknown>, cfg: T5Config, w: T5Weights, opts: WeightsWriteOptions = { dtype: 'BF16' }): WrittenWeights {
  fs.mkdirSync(dir, { recursive: true });
  const written = writeModelWeights(dir, t5WeightsToTensors(cfg, w), opts);
  atomicWriteFile(path.join(dir, CONFIG_FILE), configJsonText({ ...configJson, dtype: (opts.dtype ?? 'F32') === 'BF16' ? 'bfloat16' : 'float32' }));
  return written;
}
