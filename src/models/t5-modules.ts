/**
 * T5's weights and linear layers by Hugging Face name, for methods that train weights (full fine-tuning) or add
 * side paths to linear layers (LoRA). The model fuses q|k|v into one (3D, C) buffer; here each of q, k, v is a
 * view into it, and its gradient a view into one fused (3D, C) gradient buffer.
 */
import { alloc } from '../engine/index.js';
import { SoftpromptError } from '../errors.js';
import { matToF32, tableToF32, type Mat, type Table } from './frozen-weight.js';
import type { T5Config } from './t5-config.js';
import type { LinearModule, LinearSidePath, ModelWeight } from './types.js';

type F32 = Float32Array;

/** The parts of the model's weight structs this file reads (t5.ts owns the structs). */
export interface T5AttnView {
  qkv: Mat;
  q: Mat;
  k: Mat;
  v: Mat;
  kv: Mat;
  o: Mat;
}
interface FfnView {
  wi: Mat;
  wiGate: Mat | null;
  wo: Mat;
}
export interface T5WeightsView {
  shared: Table;
  encRelBias: F32;
  decRelBias: F32;
  encoder: { ln1: F32; attn: T5AttnView; ln2: F32; ffn: FfnView }[];
  encFinal: F32;
  decoder: { ln1: F32; selfAttn: T5AttnView; ln2: F32; crossAttn: T5AttnView; ln3: F32; ffn: FfnView }[];
  decFinal: F32;
  lmHead: Mat;
}

interface WeightEntry extends ModelWeight {
  /** the object the model computes with (data itself for fp32; for a bf16-held weight, data is a widened copy) */
  readonly live: Mat | Table;
  /** q, k or v: the attention whose fused qkv buffer data is a view of, and which third */
  readonly fused?: { attn: T5AttnView; part: 0 | 1 | 2 };
}

/** A linear layer and the buffer the model multiplies with (a q/k/v view for fused projections). */
export interface T5LinearEntry extends LinearModule {
  readonly W: Mat;
}

/** an entry whose data is the live fp32 buffer, or (bf16-held weights) a widened copy made when read */
function entry(name: string, shape: number[], live: Mat | Table, fused?: WeightEntry['fused']): WeightEntry {
  if (live instanceof Float32Array) return fused === undefined ? { name, shape, data: live, transposed: false, live } : { name, shape, data: live, transposed: false, live, fused };
  const widen = () => (live instanceof Uint16Array ? tableToF32(live) : matToF32(live));
  return Object.defineProperty({ name, shape, transposed: false, live, ...(fused === undefined ? {} : { fused }) }, 'data', { get: widen, enumerable: true }) as unknown as WeightEntry;
}

/** Every HF tensor in t5TensorTable order (tied lm_head omitted), with its live buffer. */
export function t5WeightEntries(cfg: T5Config, w: T5WeightsView): WeightEntry[] {
  const C = cfg.d_model, D = cfg.num_heads * cfg.d_kv, F = cfg.d_ff, V = cfg.vocab_size;
  const out: WeightEntry[] = [entry('shared.weight', [V, C], w.shared)];
  const add = (name: string, shape: number[], data: Mat) => out.push(entry(name, shape, data));
  const attn = (p: string, a: T5AttnView) => {
    (['q', 'k', 'v'] as const).forEach((x, part) => {
      out.push(entry(`${p}.${x}.weight`, [D, C], a[x], { attn: a, part: part as 0 | 1 | 2 }));
    });
    add(`${p}.o.weight`, [C, D], a.o);
  };
  const ffn = (p: string, f: FfnView) => {
    if (f.wiGate !== null) {
      add(`${p}.wi_0.weight`, [F, C], f.wi);
      add(`${p}.wi_1.weight`, [F, C], f.wiGate);
    } else {
      add(`${p}.wi.weight`, [F, C], f.wi);
    }
    add(`${p}.wo.weight`, [C, F], f.wo);
  };
  const bias = [cfg.relative_attention_num_buckets, cfg.num_heads];
  w.encoder.forEach((blk, l) => {
    const b = `encoder.block.${l}`;
    attn(`${b}.layer.0.SelfAttention`, blk.attn);
    if (l === 0) add(`${b}.layer.0.SelfAttention.relative_attention_bias.weight`, bias, w.encRelBias);
    add(`${b}.layer.0.layer_norm.weight`, [C], blk.ln1);
    ffn(`${b}.layer.1.DenseReluDense`, blk.ffn);
    add(`${b}.layer.1.layer_norm.weight`, [C], blk.ln2);
  });
  add('encoder.final_layer_norm.weight', [C], w.encFinal);
  w.decoder.forEach((blk, l) => {
    const b = `decoder.block.${l}`;
    attn(`${b}.layer.0.SelfAttention`, blk.selfAttn);
    if (l === 0) add(`${b}.layer.0.SelfAttention.relative_attention_bias.weight`, bias, w.decRelBias);
    add(`${b}.layer.0.layer_norm.weight`, [C], blk.ln1);
    attn(`${b}.layer.1.EncDecAttention`, blk.crossAttn);
    add(`${b}.layer.1.layer_norm.weight`, [C], blk.ln2);
    ffn(`${b}.layer.2.DenseReluDense`, blk.ffn);
    add(`${b}.layer.2.layer_norm.weight`, [C], blk.ln3);
  });
  add('decoder.final_layer_norm.weight', [C], w.decFinal);
  if (!cfg.tie_word_embeddings) add('lm_head.weight', [V, C], w.lmHead);
  return out;
}

/** Every linear layer by HF module path, with the buffer the model multiplies with. */
export function t5LinearEntries(cfg: T5Config, w: T5WeightsView): T5LinearEntry[] {
  const C = cfg.d_model, D = cfg.num_heads * cfg.d_kv, F = cfg.d_ff;
  const out: T5LinearEntry[] = [];
  const lin = (name: string, W: Mat, inFeatures: number, outFeatures: number) => out.push({ name, W, inFeatures, outFeatures });
  const attn = (p: string, a: T5AttnView) => {
    lin(`${p}.q`, a.q, C, D);
    lin(`${p}.k`, a.k, C, D);
    lin(`${p}.v`, a.v, C, D);
    lin(`${p}.o`, a.o, D, C);
  };
  const ffn = (p: string, f: FfnView) => {
    if (f.wiGate !== null) {
      lin(`${p}.wi_0`, f.wi, C, F);
      lin(`${p}.wi_1`, f.wiGate, C, F);
    } else {
      lin(`${p}.wi`, f.wi, C, F);
    }
    lin(`${p}.wo`, f.wo, F, C);
  };
  w.encoder.forEach((blk, l) => {
    attn(`encoder.block.${l}.layer.0.SelfAttention`, blk.attn);
    ffn(`encoder.block.${l}.layer.1.DenseReluDense`, blk.ffn);
  });
  w.decoder.forEach((blk, l) => {
    attn(`decoder.block.${l}.layer.0.SelfAttention`, blk.selfAttn);
    attn(`decoder.block.${l}.layer.1.EncDecAttention`, blk.crossAttn);
    ffn(`decoder.block.${l}.layer.2.DenseReluDense`, blk.ffn);
  });
  lin('lm_head', w.lmHead, C, cfg.vocab_size);
  return out;
}

function unknownNames(what: string, bad: string[], valid: readonly string[], path: string): SoftpromptError {
  return new SoftpromptError('invalid_config',
    `Unknown T5 ${what}${bad.length > 1 ? 's' : ''} ${bad.map((n) => `'${n}'`).join(', ')}. Valid ${what}s: ${valid.join(', ')}.`,
    { path });
}

/**
 * Gradient buffers for the named weights, keyed by the weight buffer the model computes with. A q, k or v
 * makes one fused (3D, C) buffer for its attention (keyed by qkv, and by kv = its k|v rows for
 * cross-attention); each named part is a view into it. `byName` holds exactly the named weights.
 */
export function allocateGrads(entries: readonly WeightEntry[], names: readonly string[]):
  { byWeight: Map<object, F32>; byName: Map<string, F32> } {
  const byEntry = new Map(entries.map((e) => [e.name, e]));
  const bad = [...new Set(names)].filter((n) => !byEntry.has(n));
  if (bad.length > 0) throw unknownNames('weight', bad, entries.map((e) => e.name), 'trainable');
  const byWeight = new Map<object, F32>(), byName = new Map<string, F32>();
  for (const name of names) {
    if (byName.has(name)) continue;
    const e = byEntry.get(name)!;
    let grad: F32;
    if (e.fused !== undefined) {
      const a = e.fused.attn, n = e.data.length;
      let fused = byWeight.get(a.qkv);
      if (fused === undefined) {
        fused = alloc(3 * n);
        byWeight.set(a.qkv, fused);
        byWeight.set(a.kv, fused.subarray(n));
      }
      grad = fused.subarray(e.fused.part * n, (e.fused.part + 1) * n);
    } else {
      grad = alloc(e.data.length);
    }
    byWeight.set(e.live, grad);
    byName.set(name, grad);
  }
  return { byWeight, byName };
}

/** A side path with the module name it is called with. */
export interface SideEntry {
  readonly module: string;
  readonly path: LinearSidePath;
}

/** Side paths keyed by the weight buffer of their module (a q/k/v view for fused projections). */
export function sidePathsByWeight(linears: readonly T5LinearEntry[], paths: ReadonlyMap<string, LinearSidePath>):
  Map<object, SideEntry> {
  const byName = new Map(linears.map((l) => [l.name, l]));
  const bad = [...paths.keys()].filter((n) => !byName.has(n));
  if (bad.length > 0) throw unknownNames('linear module', bad, linears.map((l) => l.name), 'sidePaths');
  const out = new Map<object, SideEntry>();
  for (const [module, path] of paths) out.set(byName.get(module)!.W, { module, path });
  return out;
}
