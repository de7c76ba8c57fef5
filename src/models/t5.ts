/**
 * T5 (encoder–decoder), forward and backward to the encoder's inputs_embeds, plus greedy KV-cache decoding.
 *
 * Mirrors Hugging Face `T5ForConditionalGeneration` (transformers/models/t5/modeling_t5.py): pre-norm blocks
 * with RMSNorm (T5LayerNorm: no mean, no bias), attention without 1/sqrt(d_kv) scaling, relative position
 * bias computed in block 0 of each stack and shared by all its blocks (bidirectional in the encoder,
 * unidirectional in the decoder, none in cross-attention), ReLU or gated-GELU FFN, LM head tied to `shared`
 * with the d_model^-0.5 rescale (v1.0) or untied (v1.1 / Flan). Paper: Raffel et al. 2020, arXiv 1910.10683.
 *
 * Dims: B batch, Te encoder length (prompt included), S decoder length, C = d_model, NH heads, HS = d_kv,
 * D = NH*HS, F = d_ff, V vocab, L layers. Backward is the forward's kernel list, reversed (llm.c style), down to
 * dLoss/dInputsEmbeds (B, Te, C). Weights are frozen by default: backward then computes activation gradients
 * only. `setTrainable` adds weight gradients for the named weights and `setSidePaths` LoRA-style side paths on
 * linear layers (WeightTraining, names and buffers in t5-modules.ts); neither costs anything when unused.
 */
import {
  Bf16Weight, MASK_MIN, bf16Available, contiguousAttn, embeddingBf16, engine, matmulBf16, matmulBf16T, toBf16, weightGradBf16, type AttnDims,
} from '../engine/index.js';
import { SoftpromptError } from '../errors.js';
import { parseT5Config, t5FeedForward, type T5Config, type T5FeedForward } from './t5-config.js';
import {
  allocateGrads, sidePathsByWeight, t5LinearEntries, t5WeightEntries, type SideEntry,
} from './t5-modules.js';
import { computePositionBias, positionBiasBackward } from './t5-position.js';
import { linearBackward, linearForward, matToF32, type Mat, type Precision } from './frozen-weight.js';
import type {
  ForwardOptions, GenerateOptions, GenerateOutput, LinearModule, LinearSidePath, ModelInfo, ModelWeight, Seq2SeqBatch,
  Seq2SeqLM, Seq2SeqOutput, WeightSource, WeightTraining,
} from './types.js';
import { checkLayerCount } from './types.js';
import { refuseBf16Trainable } from './weight-grads.js';
import { Workspace } from './workspace.js';

export { parseT5Config, type T5Config };

type F32 = Float32Array;

/**
 * GEMM weights are `Mat`: fp32, or (precision 'bf16') bf16 held once by the engine in oneDNN's layout. In bf16,
 * q/k/v are separate row blocks of qkv (cross-attention k/v one block per head), so every view below is a
 * row slice on block boundaries.
 */
interface AttnWeights {
  /** (3D, C): q, k, v stacked so one GEMM projects all three; q/k/v below are views into it */
  qkv: Mat;
  q: Mat; // (D, C)
  k: Mat; // (D, C)
  v: Mat; // (D, C)
  /** (2D, C) = the k, v rows of qkv (cross-attention projects the encoder output with it) */
  kv: Mat;
  o: Mat; // (C, D)
}
interface FfnWeights {
  wi: Mat; // (F, C); wi_0 when gated
  wiGate: Mat | null; // (F, C) wi_1 when gated
  wo: Mat; // (C, F)
}
interface EncoderBlock {
  ln1: F32; // (C)
  attn: AttnWeights;
  ln2: F32; // (C)
  ffn: FfnWeights;
}
interface DecoderBlock {
  ln1: F32;
  selfAttn: AttnWeights;
  ln2: F32;
  crossAttn: AttnWeights;
  ln3: F32;
  ffn: FfnWeights;
}
export interface T5Weights {
  shared: F32 | Uint16Array; // (V, C); bf16 bits in precision 'bf16' (embedding rows only: the LM head is lmHead)
  encRelBias: F32; // (numBuckets, NH)
  decRelBias: F32; // (numBuckets, NH)
  encoder: EncoderBlock[];
  encFinal: F32; // (C)
  decoder: DecoderBlock[];
  decFinal: F32; // (C)
  lmHead: Mat; // (V, C); === shared when tied and fp32
}

/** HF tensor names and shapes, the loading contract (tied copies are not stored, as save_pretrained does). */
export function t5TensorTable(cfg: T5Config): { name: string; shape: number[] }[] {
  const C = cfg.d_model, D = cfg.num_heads * cfg.d_kv, F = cfg.d_ff, V = cfg.vocab_size;
  const gated = t5FeedForward(cfg).gated;
  const rows: { name: string; shape: number[] }[] = [{ name: 'shared.weight', shape: [V, C] }];
  const attn = (p: string) => [
    { name: `${p}.q.weight`, shape: [D, C] }, { name: `${p}.k.weight`, shape: [D, C] },
    { name: `${p}.v.weight`, shape: [D, C] }, { name: `${p}.o.weight`, shape: [C, D] },
  ];
  const ffn = (p: string) => gated
    ? [{ name: `${p}.wi_0.weight`, shape: [F, C] }, { name: `${p}.wi_1.weight`, shape: [F, C] },
      { name: `${p}.wo.weight`, shape: [C, F] }]
    : [{ name: `${p}.wi.weight`, shape: [F, C] }, { name: `${p}.wo.weight`, shape: [C, F] }];
  const bias = (p: string) => ({ name: `${p}.relative_attention_bias.weight`, shape: [cfg.relative_attention_num_buckets, cfg.num_heads] });
  for (let l = 0; l < cfg.num_layers; l++) {
    const b = `encoder.block.${l}`;
    rows.push(...attn(`${b}.layer.0.SelfAttention`));
    if (l === 0) rows.push(bias(`${b}.layer.0.SelfAttention`));
    rows.push({ name: `${b}.layer.0.layer_norm.weight`, shape: [C] });
    rows.push(...ffn(`${b}.layer.1.DenseReluDense`), { name: `${b}.layer.1.layer_norm.weight`, shape: [C] });
  }
  rows.push({ name: 'encoder.final_layer_norm.weight', shape: [C] });
  for (let l = 0; l < cfg.num_decoder_layers; l++) {
    const b = `decoder.block.${l}`;
    rows.push(...attn(`${b}.layer.0.SelfAttention`));
    if (l === 0) rows.push(bias(`${b}.layer.0.SelfAttention`));
    rows.push({ name: `${b}.layer.0.layer_norm.weight`, shape: [C] });
    rows.push(...attn(`${b}.layer.1.EncDecAttention`), { name: `${b}.layer.1.layer_norm.weight`, shape: [C] });
    rows.push(...ffn(`${b}.layer.2.DenseReluDense`), { name: `${b}.layer.2.layer_norm.weight`, shape: [C] });
  }
  rows.push({ name: 'decoder.final_layer_norm.weight', shape: [C] });
  if (!cfg.tie_word_embeddings) rows.push({ name: 'lm_head.weight', shape: [V, C] });
  return rows;
}

/**
 * Reads the weights; with precision 'bf16' every GEMM weight is rounded to bf16 as it is read and only that copy
 * is kept (the fp32 tensor is dropped). Norm weights and position biases stay fp32, and so do the tensors
 * `keepFp32` names (HF names; trainable weights keep their fp32 master and run the fp32 GEMM; one name keeps its
 * whole attention block's q, k, v fp32, as they share one projection).
 */
export function loadT5Weights(cfg: T5Config, src: WeightSource, precision: Precision = 'fp32',
  keepFp32: (name: string) => boolean = () => false): T5Weights {
  const C = cfg.d_model;
  const hint = `config.json gives d_model=${C}, num_heads × d_kv = ${cfg.num_heads} × ${cfg.d_kv}, d_ff=${cfg.d_ff}, vocab_size=${cfg.vocab_size}. Does the checkpoint belong to this config?`;
  checkLayerCount(src, 'num_layers', cfg.num_layers, (l) => `encoder.block.${l}.layer.0.layer_norm.weight`);
  checkLayerCount(src, 'num_decoder_layers', cfg.num_decoder_layers, (l) => `decoder.block.${l}.layer.0.layer_norm.weight`);
  const shapes = new Map(t5TensorTable(cfg).map((r) => [r.name, r.shape]));
  const get = (name: string): F32 => src.getF32Checked(name, shapes.get(name)!, hint);
  // Some exports store the embedding only as encoder.embed_tokens.weight.
  const shared = src.has('shared.weight') || !src.has('encoder.embed_tokens.weight')
    ? get('shared.weight')
    : src.getF32Checked('encoder.embed_tokens.weight', [cfg.vocab_size, C], hint);
  const gated = t5FeedForward(cfg).gated;
  const D = cfg.num_heads * cfg.d_kv, HS = cfg.d_kv, NH = cfg.num_heads;
  const bf16 = precision === 'bf16';
  const mat = (name: string, rows: number, cols: number): Mat => bf16 && !keepFp32(name) ? Bf16Weight.fromF32(get(name), rows, cols) : get(name);
  // bf16: q | k | v blocks; per-head blocks of k and v where the absorbed cross-attention slices them by head
  const heads = (name: string): Bf16Weight => {
    const w = get(name);
    return Bf16Weight.stack(Array.from({ length: NH }, (_, h) => Bf16Weight.fromF32(w.subarray(h * HS * C, (h + 1) * HS * C), HS, C)));
  };
  const attnBf16 = (p: string, perHead: boolean): AttnWeights => {
    const q = Bf16Weight.fromF32(get(`${p}.q.weight`), D, C);
    const k = perHead ? heads(`${p}.k.weight`) : Bf16Weight.fromF32(get(`${p}.k.weight`), D, C);
    const v = perHead ? heads(`${p}.v.weight`) : Bf16Weight.fromF32(get(`${p}.v.weight`), D, C);
    const qkv = Bf16Weight.stack([q, k, v]);
    return { qkv, q, k, v, kv: qkv.rowSlice(D, 3 * D), o: mat(`${p}.o.weight`, C, D) };
  };
  const attn = (p: string, perHead = false): AttnWeights => {
    if (bf16 && !['q', 'k', 'v'].some((x) => keepFp32(`${p}.${x}.weight`))) return attnBf16(p, perHead);
    const [q, k, v] = [get(`${p}.q.weight`), get(`${p}.k.weight`), get(`${p}.v.weight`)]; // shapes checked before allocating
    const qkv = new Float32Array(3 * D * C);
    qkv.set(q, 0);
    qkv.set(k, D * C);
    qkv.set(v, 2 * D * C);
    return {
      qkv, q: qkv.subarray(0, D * C), k: qkv.subarray(D * C, 2 * D * C), v: qkv.subarray(2 * D * C),
      kv: qkv.subarray(D * C), o: mat(`${p}.o.weight`, C, D),
    };
  };
  const F = cfg.d_ff;
  const ffn = (p: string): FfnWeights => gated
    ? { wi: mat(`${p}.wi_0.weight`, F, C), wiGate: mat(`${p}.wi_1.weight`, F, C), wo: mat(`${p}.wo.weight`, C, F) }
    : { wi: mat(`${p}.wi.weight`, F, C), wiGate: null, wo: mat(`${p}.wo.weight`, C, F) };
  const encoder: EncoderBlock[] = [];
  for (let l = 0; l < cfg.num_layers; l++) {
    const b = `encoder.block.${l}`;
    encoder.push({
      ln1: get(`${b}.layer.0.layer_norm.weight`), attn: attn(`${b}.layer.0.SelfAttention`),
      ln2: get(`${b}.layer.1.layer_norm.weight`), ffn: ffn(`${b}.layer.1.DenseReluDense`),
    });
  }
  const decoder: DecoderBlock[] = [];
  for (let l = 0; l < cfg.num_decoder_layers; l++) {
    const b = `decoder.block.${l}`;
    decoder.push({
      ln1: get(`${b}.layer.0.layer_norm.weight`), selfAttn: attn(`${b}.layer.0.SelfAttention`),
      ln2: get(`${b}.layer.1.layer_norm.weight`), crossAttn: attn(`${b}.layer.1.EncDecAttention`, true),
      ln3: get(`${b}.layer.2.layer_norm.weight`), ffn: ffn(`${b}.layer.2.DenseReluDense`),
    });
  }
  const V = cfg.vocab_size;
  const shared16 = bf16 && !keepFp32('shared.weight') ? toBf16(shared) : null;
  return {
    shared: shared16 ?? shared,
    encRelBias: get('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight'),
    decRelBias: get('decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight'),
    encoder,
    encFinal: get('encoder.final_layer_norm.weight'),
    decoder,
    decFinal: get('decoder.final_layer_norm.weight'),
    // read last, as before: a source that generates tensors in call order gives the same model
    lmHead: cfg.tie_word_embeddings ? (shared16 !== null ? Bf16Weight.fromBits(shared16, V, C) : shared) : mat('lm_head.weight', V, C),
  };
}

/** The weights under their HF names as fp32 (widened from bf16: exact), to re-load them in another precision. */
function t5WeightsAsSource(cfg: T5Config, w: T5Weights): WeightSource {
  const gated = t5FeedForward(cfg).gated;
  const tensors = new Map<string, () => F32>();
  const shared = () => (w.shared instanceof Float32Array ? w.shared : widenBf16(w.shared));
  tensors.set('shared.weight', shared);
  const attn = (p: string, a: AttnWeights) => {
    tensors.set(`${p}.q.weight`, () => matToF32(a.q));
    tensors.set(`${p}.k.weight`, () => matToF32(a.k));
    tensors.set(`${p}.v.weight`, () => matToF32(a.v));
    tensors.set(`${p}.o.weight`, () => matToF32(a.o));
  };
  const ffn = (p: string, f: FfnWeights) => {
    tensors.set(gated ? `${p}.wi_0.weight` : `${p}.wi.weight`, () => matToF32(f.wi));
    if (f.wiGate !== null) tensors.set(`${p}.wi_1.weight`, () => matToF32(f.wiGate!));
    tensors.set(`${p}.wo.weight`, () => matToF32(f.wo));
  };
  w.encoder.forEach((blk, l) => {
    const b = `encoder.block.${l}`;
    attn(`${b}.layer.0.SelfAttention`, blk.attn);
    tensors.set(`${b}.layer.0.layer_norm.weight`, () => blk.ln1);
    ffn(`${b}.layer.1.DenseReluDense`, blk.ffn);
    tensors.set(`${b}.layer.1.layer_norm.weight`, () => blk.ln2);
  });
  w.decoder.forEach((blk, l) => {
    const b = `decoder.block.${l}`;
    attn(`${b}.layer.0.SelfAttention`, blk.selfAttn);
    tensors.set(`${b}.layer.0.layer_norm.weight`, () => blk.ln1);
    attn(`${b}.layer.1.EncDecAttention`, blk.crossAttn);
    tensors.set(`${b}.layer.1.layer_norm.weight`, () => blk.ln2);
    ffn(`${b}.layer.2.DenseReluDense`, blk.ffn);
    tensors.set(`${b}.layer.2.layer_norm.weight`, () => blk.ln3);
  });
  tensors.set('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', () => w.encRelBias);
  tensors.set('decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', () => w.decRelBias);
  tensors.set('encoder.final_layer_norm.weight', () => w.encFinal);
  tensors.set('decoder.final_layer_norm.weight', () => w.decFinal);
  if (!cfg.tie_word_embeddings) tensors.set('lm_head.weight', () => matToF32(w.lmHead));
  return {
    has: (name) => tensors.has(name),
    getF32Checked: (name) => {
      const t = tensors.get(name);
      if (t === undefined) throw new SoftpromptError('missing_tensor', `T5 weights have no ${name}.`);
      return t();
    },
  };
}

function widenBf16(bits: Uint16Array): F32 {
  const u = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  return new Float32Array(u.buffer);
}

/** Dropout sites get distinct seeds derived from the step's base seed. */
function siteSeed(base: number, site: number): number {
  return (base % 0x100000000) * 0x100000 + site;
}

/** Everything forward saved that backward needs. */
interface ForwardContext {
  batch: Seq2SeqBatch;
  train: boolean;
  seed: number;
  decIds: Int32Array; // (B, S)
  encBias: F32; // (NH, Te, Te)
  decBias: F32; // (NH, S, S)
  encMaskAdd: F32; // (B, Te)
  numTokens: number;
  dlogits: F32 | null; // (B*S, V)
  encLast: F32 | null; // (B, Te, C) residual stream after the last encoder block (final-norm input)
  encOut: F32 | null; // (B, Te, C) encoder output as the decoder sees it (after final norm and dropout)
  decLast: F32 | null; // (B, S, C) same for the decoder
  /** what side paths are told: the forward options' train flag, and whether a backward follows */
  sideTrain: boolean;
  saveForBackward: boolean;
  /**
   * activations for backward saved in bf16: the forward computes each in an fp32 scratch shared by the layers and
   * its kernels write the bf16 copy (when saveForBackward); backward reads the copies
   */
  save16: boolean;
}

type SavedAct = F32 | Uint16Array;

export type { Precision };

export class T5Model implements Seq2SeqLM, WeightTraining {
  readonly info: ModelInfo;
  private w: T5Weights;
  private readonly ffn: T5FeedForward;
  private readonly ws = new Workspace();
  private readonly e = engine();
  /** gradient buffers of trainable weights, keyed by the weight buffer (fused qkv and cross kv included) */
  private grads = new Map<object, F32>();
  /** side paths keyed by their module's weight buffer; null when there are none */
  private sides: Map<object, SideEntry> | null = null;
  /** decoder block 0's self-attention backward only feeds block 0's own weights, the position bias and `shared` */
  private decBlock0Backward = false;
  /** per decoder layer: cross-attention k/v are trainable or have side paths (the absorbed form cannot serve them) */
  private crossKvTouched: boolean[] = [];
  /** the precision asked for at load ('bf16' also when trainable weights are held fp32 for mixed precision) */
  private prec: Precision;
  /**
   * Mixed precision (precision 'bf16' with trainable fp32 weights): the bf16 copy each trainable GEMM weight
   * computes with (forward and input gradient), made on first use and re-rounded from the fp32 master when stale
   * (after every backward, since an optimizer step follows, and on weightsChanged()).
   */
  private readonly copies = new Map<F32, Bf16Weight>();
  private copiesStale = false;
  /**
   * In precision 'bf16', the precision of the activations saved for backward (layer and sub-layer inputs, q/k/v,
   * attention probabilities, FFN pre-activations): 'bf16' holds them in half the bytes (t5-base, batch 8, 316
   * encoder tokens: 0.78 GB instead of 1.55 GB). The forward computes in fp32 either way (the loss is the same
   * bits); backward reads the rounded copies, which adds a gradient error of the order of what rounding the weights
   * alone causes (0.1-1.4x on the test fixtures, test/parity/t5-bf16.test.ts), so it is opt-in. Precision 'fp32'
   * always saves fp32.
   */
  savedActivations: Precision = 'fp32';

  constructor(readonly config: T5Config, weights: T5Weights, precision?: Precision) {
    this.w = weights;
    this.prec = precision ?? (weights.lmHead instanceof Float32Array ? 'fp32' : 'bf16');
    this.ffn = t5FeedForward(config);
    this.info = {
      architecture: 't5', kind: 'seq2seq', dModel: config.d_model, vocabSize: config.vocab_size,
      padId: config.pad_token_id, eosId: config.eos_token_id, numLayers: config.num_layers, numHeads: config.num_heads,
    };
  }

  /**
   * precision 'bf16' converts the GEMM weights as they are read (no fp32 copy is ever held whole), except those
   * `keepFp32` names (HF names): they stay fp32 masters for training, computing through bf16 copies (mixed precision).
   */
  static load(configJson: unknown, src: WeightSource, configFile = 'config.json', precision: Precision = 'fp32',
    keepFp32?: (name: string) => boolean): T5Model {
    const cfg = parseT5Config(configJson, configFile);
    const p = precision === 'bf16' && !bf16Available() ? 'fp32' : precision;
    return new T5Model(cfg, loadT5Weights(cfg, src, p, keepFp32), p);
  }

  get tensors(): T5Weights {
    return this.w;
  }

  /**
   * 'bf16': every frozen weight GEMM (forward and backward to the input) runs on bf16 operands with fp32
   * accumulation (oneDNN), and the frozen GEMM weights are held only in bf16; norms, softmax, attention products
   * and the loss stay fp32. Without native bf16 on this CPU it stays fp32 (one notice). Setting it re-holds the
   * weights in the other precision.
   */
  get precision(): Precision {
    return this.prec;
  }

  set precision(p: Precision) {
    if (p === this.precision || (p === 'bf16' && !bf16Available())) return;
    if (this.grads.size > 0) {
      throw new SoftpromptError('invalid_config', 'T5 precision cannot change while weights are trainable: setTrainable([]) first.', { path: 'precision' });
    }
    this.w = loadT5Weights(this.config, t5WeightsAsSource(this.config, this.w), p);
    this.prec = p;
    this.copies.clear();
  }

  /**
   * Call after writing into trainable weights' buffers other than through a training step (restoring a
   * checkpoint, copying in the best weights): in mixed precision their bf16 copies are re-rounded before the next use.
   */
  weightsChanged(): void {
    this.copiesStale = true;
  }

  get decoderStartId(): number {
    return this.config.decoder_start_token_id;
  }

  /** Bytes of activation buffers held between steps. */
  workspaceBytes(): number {
    return this.ws.bytes();
  }

  embed(ids: Int32Array): F32 {
    const C = this.config.d_model;
    const out = new Float32Array(ids.length * C);
    const bad = this.embedRows(out, ids, ids.length);
    if (bad >= 0) {
      throw new SoftpromptError('invalid_data',
        `Token id ${ids[bad]} at position ${bad} is outside the vocabulary [0, ${this.config.vocab_size}).`);
    }
    return out;
  }

  forward(batch: Seq2SeqBatch, opts: ForwardOptions = {}): Seq2SeqOutput {
    return this.runForward(batch, opts, false).out;
  }

  lossAndGrad(batch: Seq2SeqBatch, opts: ForwardOptions = {}): Seq2SeqOutput & { dInputsEmbeds: F32 } {
    const { out, ctx } = this.runForward(batch, opts, true);
    return { ...out, dInputsEmbeds: this.runBackward(ctx) };
  }

  /** out (N, C) = rows ids of the shared embedding (fp32 or bf16); the first out-of-range id's index, or -1 */
  private embedRows(out: F32, ids: Int32Array, N: number): number {
    const C = this.config.d_model, V = this.config.vocab_size, t = this.w.shared;
    return t instanceof Float32Array ? this.e.embedding(out, ids, t, N, C, V) : embeddingBf16(out, ids, t, N, C, V);
  }

  // ---------------------------------------------------------------------------------------------------------
  // weight training (WeightTraining): names, gradients, side paths

  weights(): ModelWeight[] {
    return t5WeightEntries(this.config, this.tensors);
  }

  linearModules(): LinearModule[] {
    return t5LinearEntries(this.config, this.tensors).map(({ name, inFeatures, outFeatures }) => ({ name, inFeatures, outFeatures }));
  }

  /**
   * Gradients of q, k, v are views into one (3D, C) buffer per attention (rows q | k | v, like the fused weight).
   * A weight held in bf16 cannot be trained (its copy is rounded once); in precision 'bf16' load trainable weights
   * with keepFp32: they stay fp32 masters and compute through bf16 copies (mixed precision).
   */
  setTrainable(names: readonly string[]): Map<string, F32> {
    const entries = t5WeightEntries(this.config, this.tensors);
    refuseBf16Trainable('T5', entries.map((e) => ({ name: e.name, bf16: !(e.live instanceof Float32Array) })), names);
    const { byWeight, byName } = allocateGrads(entries, names);
    this.grads = byWeight;
    this.copies.clear();
    this.copiesStale = false;
    this.updateBackwardPlan();
    return byName;
  }

  setSidePaths(paths: ReadonlyMap<string, LinearSidePath> | null): void {
    this.sides = paths === null || paths.size === 0 ? null : sidePathsByWeight(t5LinearEntries(this.config, this.tensors), paths);
    this.updateBackwardPlan();
  }

  embedBackward(ids: Int32Array, dInputsEmbeds: F32, B: number, T: number, skip: number): void {
    const dShared = this.grads.get(this.tensors.shared);
    if (dShared === undefined) return;
    const C = this.config.d_model, V = this.config.vocab_size, Tx = skip + T;
    if (ids.length !== B * T || dInputsEmbeds.length !== B * Tx * C || skip < 0) {
      throw new SoftpromptError('shape_mismatch', `T5 embedBackward: ids has ${ids.length} elements (expected B*T = ${B * T}) and dInputsEmbeds ${dInputsEmbeds.length} (expected B*(skip+T)*C = ${B * Tx * C}; B=${B}, T=${T}, skip=${skip}, C=${C}).`, { path: 'dInputsEmbeds' });
    }
    for (let b = 0; b < B; b++) {
      const bad = this.e.embeddingBackward(dShared, ids.subarray(b * T, (b + 1) * T), dInputsEmbeds.subarray((b * Tx + skip) * C), T, C, V);
      if (bad >= 0) {
        throw new SoftpromptError('invalid_data', `Token id ${ids[b * T + bad]} at position ${b * T + bad} is outside the vocabulary [0, ${V}).`);
      }
    }
  }

  private updateBackwardPlan(): void {
    const w = this.tensors, touched = (W: Mat) => this.grads.has(W) || (this.sides?.has(W) ?? false);
    const d0 = w.decoder[0];
    this.decBlock0Backward = this.grads.has(w.shared) || this.grads.has(w.decRelBias) || (d0 !== undefined
      && (this.grads.has(d0.ln1) || [d0.selfAttn.q, d0.selfAttn.k, d0.selfAttn.v, d0.selfAttn.o].some(touched)));
    this.crossKvTouched = w.decoder.map((blk) => touched(blk.crossAttn.k) || touched(blk.crossAttn.v));
  }

  /** after the GEMM y = x W^T of a forward: W's side path adds its output (y rows ldy apart) */
  private sideF(W: Mat, x: F32, y: F32, ldy: number, N: number, ctx: ForwardContext): void {
    const s = this.sides?.get(W);
    if (s === undefined) return;
    s.path.forward(x, y, ldy, N, { module: s.module, train: ctx.sideTrain, seed: ctx.seed, saveForBackward: ctx.saveForBackward });
  }

  /** after the input-gradient GEMM dx += dy W: W's side path adds its input gradient */
  private sideB(W: Mat, dy: F32, ldy: number, dx: F32, N: number, ctx: ForwardContext): void {
    const s = this.sides?.get(W);
    if (s === undefined) return;
    s.path.backward(dy, ldy, dx, N, { module: s.module, train: ctx.sideTrain, seed: ctx.seed, saveForBackward: true });
  }

  /** side paths of fused projections: parts = [q, k, v] (or [k, v]) share the output y, D columns each */
  private sideFusedF(parts: readonly Mat[], x: F32, y: F32, N: number, ctx: ForwardContext): void {
    if (this.sides === null) return;
    const D = this.config.num_heads * this.config.d_kv;
    parts.forEach((W, i) => this.sideF(W, x, y.subarray(i * D), parts.length * D, N, ctx));
  }

  private sideFusedB(parts: readonly Mat[], dy: F32, dx: F32, N: number, ctx: ForwardContext): void {
    if (this.sides === null) return;
    const D = this.config.num_heads * this.config.d_kv;
    parts.forEach((W, i) => this.sideB(W, dy.subarray(i * D), parts.length * D, dx, N, ctx));
  }

  /**
   * dW (OC, C) += dyᵀ x for a trainable W; dy (N, OC) rows ldy apart, x (N, C) (computed only when needed). In
   * mixed precision on bf16 operands with fp32 accumulation (oneDNN).
   */
  private weightGrad(W: Mat, dy: F32, ldy: number, x: () => F32, N: number, C: number, OC: number): void {
    const g = this.grads.get(W);
    if (g === undefined) return;
    if (this.mixed) weightGradBf16(g, dy, x(), N, OC, C, { ldy });
    else this.e.gemm(true, false, OC, C, N, 1, dy, ldy, x(), C, 1, g, C);
  }

  /** precision 'bf16' with trainable fp32 weights */
  private get mixed(): boolean {
    return this.prec === 'bf16' && this.grads.size > 0;
  }

  /** the bf16 copy W (rows, cols) computes with in mixed precision (trainable fp32 weights), else null */
  private mixedCopy(W: Mat, rows: number, cols: number): Bf16Weight | null {
    if (!(W instanceof Float32Array) || !this.mixed || !this.grads.has(W)) return null;
    if (this.copiesStale) {
      for (const [w, c] of this.copies) c.update(w);
      this.copiesStale = false;
    }
    let c = this.copies.get(W);
    if (c === undefined) {
      c = Bf16Weight.fromF32(W, rows, cols);
      this.copies.set(W, c);
    }
    return c;
  }

  /**
   * Weight gradients of a fused projection: parts = [q, k, v] with fused = qkv, or [k, v] with fused = kv; one GEMM
   * per run of adjacent trainable parts (all three: one GEMM, like the forward).
   */
  private fusedWeightGrad(fused: Mat, parts: readonly Mat[], dy: F32, x: () => F32, N: number): void {
    const g = this.grads.get(fused);
    if (g === undefined) return;
    const C = this.config.d_model, D = this.config.num_heads * this.config.d_kv, ldy = parts.length * D;
    let xs: F32 | null = null;
    for (let i = 0; i < parts.length;) {
      if (!this.grads.has(parts[i]!)) { i++; continue; }
      let j = i;
      while (j < parts.length && this.grads.has(parts[j]!)) j++;
      xs ??= x();
      if (this.mixed) weightGradBf16(g.subarray(i * D * C), dy.subarray(i * D), xs, N, (j - i) * D, C, { ldy });
      else this.e.gemm(true, false, (j - i) * D, C, N, 1, dy.subarray(i * D), ldy, xs, C, 1, g.subarray(i * D * C), C);
      i = j;
    }
  }

  /** rmsnorm(x) recomputed into a scratch buffer (the forward's normalised input of a trainable linear) */
  private normOut(x: SavedAct, lnW: F32, N: number): F32 {
    const C = this.config.d_model, out = this.ws.f32('lnx', N * C);
    this.e.rmsnormForward(out, null, x, lnW, N, C, this.config.layer_norm_epsilon);
    return out;
  }

  private gradOrNull(W: Mat): F32 | null {
    return this.grads.get(W) ?? null;
  }

  /** the buffer forward computes a saved activation in: its own, or with bf16 saving a scratch shared by the layers */
  private keepF32(name: string, n: number, ctx: ForwardContext): F32 {
    return this.ws.f32(ctx.save16 ? `sv.${name.replace(/^(enc|dec)\.\d+\./, '')}` : name, n);
  }

  /** where the kernel computing a saved activation writes its bf16 copy; null when saving fp32 or not saving */
  private keep16(name: string, n: number, ctx: ForwardContext): Uint16Array | null {
    return ctx.save16 && ctx.saveForBackward ? this.ws.bf16(name, n) : null;
  }

  /** a saved activation as backward reads it: fp32, or the bf16 copy */
  private saved(name: string, n: number, ctx: ForwardContext): SavedAct {
    return ctx.save16 ? this.ws.bf16(name, n) : this.ws.f32(name, n);
  }

  /** out (N, OC) = inp (N, C) @ W (OC, C)^T: OpenBLAS for fp32 weights, oneDNN for bf16 ones and mixed precision */
  private linear(out: F32, inp: F32, W: Mat, N: number, C: number, OC: number): void {
    linearForward(this.e, out, inp, this.mixedCopy(W, OC, C) ?? W, N, C, OC);
  }

  /** dinp (N, C) += dout (N, OC) @ W (OC, C); accumulate false: dinp = (the first writer of a gradient buffer) */
  private linearBack(dinp: F32, dout: F32, W: Mat, N: number, C: number, OC: number, accumulate = true): void {
    linearBackward(this.e, dinp, dout, this.mixedCopy(W, OC, C) ?? W, N, C, OC, accumulate);
  }

  // ---------------------------------------------------------------------------------------------------------
  // forward

  private checkBatch(b: Seq2SeqBatch): void {
    const C = this.config.d_model;
    const want = (what: string, got: number, expected: number) => {
      if (got !== expected) {
        throw new SoftpromptError('shape_mismatch', `T5 batch: ${what} has ${got} elements, expected ${expected} (B=${b.B}, Te=${b.Te}, S=${b.S}, C=${C}).`, { path: what });
      }
    };
    want('inputsEmbeds', b.inputsEmbeds.length, b.B * b.Te * C);
    want('encoderMask', b.encoderMask.length, b.B * b.Te);
    want('labels', b.labels.length, b.B * b.S);
  }

  private runForward(batch: Seq2SeqBatch, opts: ForwardOptions, saveForBackward: boolean):
    { out: Seq2SeqOutput; ctx: ForwardContext } {
    this.checkBatch(batch);
    const cfg = this.config, w = this.tensors, e = this.e, ws = this.ws;
    const { B, Te, S } = batch;
    const C = cfg.d_model, NH = cfg.num_heads, V = cfg.vocab_size;
    const train = opts.train === true && cfg.dropout_rate > 0;
    const seed = opts.seed ?? 0;

    const encMaskAdd = ws.f32('encMaskAdd', B * Te);
    for (let i = 0; i < B * Te; i++) encMaskAdd[i] = batch.encoderMask[i]! > 0 ? 0 : MASK_MIN;
    const encBias = computePositionBias(w.encRelBias, NH, Te, Te, 0, true, cfg.relative_attention_num_buckets,
      cfg.relative_attention_max_distance, ws.f32('encBias', NH * Te * Te));
    const decBias = computePositionBias(w.decRelBias, NH, S, S, 0, false, cfg.relative_attention_num_buckets,
      cfg.relative_attention_max_distance, ws.f32('decBias', NH * S * S));

    // decoder input = labels shifted right, -100 -> pad (HF _shift_right)
    const decIds = new Int32Array(B * S);
    for (let b = 0; b < B; b++) {
      decIds[b * S] = cfg.decoder_start_token_id;
      for (let t = 1; t < S; t++) {
        const y = batch.labels[b * S + t - 1]!;
        decIds[b * S + t] = y === -100 ? cfg.pad_token_id : y;
      }
    }
    const ctx: ForwardContext = { batch, train, seed, decIds, encBias, decBias, encMaskAdd, numTokens: 0, dlogits: null,
      encLast: null, encOut: null, decLast: null, sideTrain: opts.train === true, saveForBackward, save16: this.save16 };

    // ---- encoder
    const encStates: F32[] = [];
    let h = this.dropoutF('enc.in', batch.inputsEmbeds, B * Te * C, ctx, 1); // (B, Te, C)
    for (let l = 0; l < cfg.num_layers; l++) {
      if (opts.outputHiddenStates) encStates.push(h.slice());
      h = this.encoderBlockForward(l, h, ctx);
    }
    ctx.encLast = h;
    const encFinal = ws.f32('enc.final', B * Te * C); // (B, Te, C)
    e.rmsnormForward(encFinal, ws.f32('enc.final.rstd', B * Te), h, w.encFinal, B * Te, C, cfg.layer_norm_epsilon);
    const encOut = this.dropoutF('enc.out', encFinal, B * Te * C, ctx, 2); // (B, Te, C)
    ctx.encOut = encOut;
    if (opts.outputHiddenStates) encStates.push(encFinal.slice());

    // ---- decoder
    const decStates: F32[] = [];
    const y0 = ws.f32('dec.emb', B * S * C); // (B, S, C)
    this.embedRows(y0, decIds, B * S);
    let y = this.dropoutF('dec.in', y0, B * S * C, ctx, 3);
    for (let l = 0; l < cfg.num_decoder_layers; l++) {
      if (opts.outputHiddenStates) decStates.push(y.slice());
      y = this.decoderBlockForward(l, y, encOut, ctx);
    }
    ctx.decLast = y;
    const decFinal = ws.f32('dec.final', B * S * C);
    e.rmsnormForward(decFinal, ws.f32('dec.final.rstd', B * S), y, w.decFinal, B * S, C, cfg.layer_norm_epsilon);
    if (opts.outputHiddenStates) decStates.push(decFinal.slice());
    const decOut = this.dropoutF('dec.out', decFinal, B * S * C, ctx, 4);
    // tied head: sequence_output * (model_dim ** -0.5) (Mesh TensorFlow rescale)
    const headIn = ws.f32('head.in', B * S * C);
    headIn.set(decOut);
    if (cfg.tie_word_embeddings) e.scale(headIn, 1 / Math.sqrt(C), B * S * C);
    const logits = ws.f32('logits', B * S * V); // (B*S, V)
    this.linear(logits, headIn, w.lmHead, B * S, C, V);
    this.sideF(w.lmHead, headIn, logits, V, B * S, ctx);

    // ---- loss: mean over non-ignored label tokens of the batch
    const tokenNll = new Float32Array(B * S);
    const lse = new Float32Array(B * S);
    let numTokens = 0;
    for (let i = 0; i < B * S; i++) if (batch.labels[i] !== -100) numTokens++;
    const keep = opts.keepLogits === true ? logits.slice() : undefined;
    const dlogits = saveForBackward ? logits : null; // in place: logits are not needed after the loss
    e.crossEntropy(tokenNll, lse, dlogits, logits, batch.labels, B * S, V, numTokens > 0 ? 1 / numTokens : 0, -100);
    let sum = 0;
    for (let i = 0; i < B * S; i++) sum += tokenNll[i]!;
    ctx.numTokens = numTokens;
    ctx.dlogits = dlogits;

    const out: Seq2SeqOutput = {
      loss: numTokens > 0 ? sum / numTokens : 0, tokenNll, logsumexp: lse, numTokens, encoderOut: encFinal.slice(),
    };
    if (keep) out.logits = keep;
    if (opts.outputHiddenStates) {
      out.encoderHiddenStates = encStates;
      out.decoderHiddenStates = decStates;
    }
    return { out, ctx };
  }

  /** dropout on (n) elements of x into the buffer `name`; identity (returns x) when not training. */
  private dropoutF(name: string, x: F32, n: number, ctx: ForwardContext, site: number): F32 {
    if (!ctx.train) return x;
    const out = this.ws.f32(name, n);
    this.e.dropoutForward(out, this.ws.u8(`${name}.keep`, n), x, this.config.dropout_rate, siteSeed(ctx.seed, site), n);
    return out;
  }

  private dropoutB(name: string, dout: F32, n: number, ctx: ForwardContext): F32 {
    if (!ctx.train) return dout;
    const din = this.ws.f32(`${name}.grad`, n);
    this.e.dropoutBackward(din, dout, this.ws.u8(`${name}.keep`, n), this.config.dropout_rate, n);
    return din;
  }

  private attnDims(B: number, Tq: number, Tk: number, causal: boolean, ctx: ForwardContext | null, site: number): AttnDims {
    const d = contiguousAttn(B, this.config.num_heads, Tq, Tk, this.config.d_kv, { causal });
    if (ctx?.train) {
      d.dropP = this.config.dropout_rate;
      d.dropSeed = siteSeed(ctx.seed, site);
    }
    return d;
  }

  /**
   * Cross-attention in "absorbed" form, exact by associativity: with few decoder positions S (classification
   * labels are 2-3 tokens) projecting the whole encoder output to K and V (B·Te·C·2D per layer, forward and
   * backward) dominates the decoder. Instead fold W_k into the query and W_v after the weighted sum:
   *   scores_bh = (q_bh W_k,h) · encᵀ_b          q̃ (B, S, NH·C)
   *   out_bh    = (P_bh enc_b) W_v,hᵀ            ẽ (B, S, NH·C)
   * which is grouped-query attention with one shared "head" of size C over the encoder output itself.
   * Cost per layer 4·B·NH·S·Te·C instead of 4·B·Te·C·D: used when NH·S ≤ D/2 (i.e. S ≤ d_kv/2).
   */
  crossAttention: 'auto' | 'standard' | 'absorbed' = 'auto';

  /** whether cross-attention runs in absorbed form for a decoder length S (when no layer's k/v is trained) */
  absorbCross(S: number): boolean {
    if (this.crossAttention !== 'auto') return this.crossAttention === 'absorbed';
    return 2 * this.config.num_heads * S <= this.config.num_heads * this.config.d_kv;
  }

  /**
   * The absorbed form never materialises K = enc W_kᵀ and V = enc W_vᵀ, so it cannot serve their weight gradients
   * or side paths: a layer whose cross-attention k or v is trainable or has a side path runs the standard form
   * (even when crossAttention is 'absorbed').
   */
  private absorbCrossAt(l: number, S: number): boolean {
    return this.absorbCross(S) && this.crossKvTouched[l] !== true;
  }

  private absorbedDims(B: number, S: number, Te: number, ctx: ForwardContext, site: number): AttnDims {
    const { num_heads: NH, d_model: C } = this.config;
    const d = this.attnDims(B, S, Te, false, ctx, site);
    return { ...d, NKV: 1, HS: C, qRow: NH * C, kRow: C, vRow: C, qBatch: S * NH * C, kBatch: Te * C, vBatch: Te * C };
  }

  /** bf16 saving of activations applies (precision 'bf16', savedActivations 'bf16') */
  private get save16(): boolean {
    return this.prec === 'bf16' && this.savedActivations === 'bf16';
  }

  private crossAbsorbedForward(p: string, att: F32, cq: F32, encOut: F32, w: AttnWeights, ctx: ForwardContext, site: number): void {
    const { num_heads: NH, d_kv: HS, d_model: C } = this.config;
    const { B, S, Te } = ctx.batch;
    const D = NH * HS, M = B * S, e = this.e, ws = this.ws;
    const qt = this.keepF32(`${p}.qt`, M * NH * C, ctx); // (B, S, NH·C)
    const et = ws.f32('cross.et', M * NH * C); // (B, S, NH·C)
    for (let h = 0; h < NH; h++) {
      // q̃_h (M, C) = cq_h (M, HS) @ W_k,h (HS, C)
      if (w.k instanceof Float32Array) e.gemm(false, false, M, C, HS, 1, cq.subarray(h * HS), D, w.k.subarray(h * HS * C), C, 0, qt.subarray(h * C), NH * C);
      else matmulBf16T(qt.subarray(h * C), cq.subarray(h * HS), w.k.rowSlice(h * HS, (h + 1) * HS), M, { lda: D, ldc: NH * C });
    }
    e.attentionForward(et, this.keep16(`${p}.cprobs`, B * NH * S * Te, ctx) ?? this.keepF32(`${p}.cprobs`, B * NH * S * Te, ctx),
      qt, encOut, encOut, null, ctx.encMaskAdd, this.absorbedDims(B, S, Te, ctx, site), this.keep16(`${p}.qt`, M * NH * C, ctx));
    for (let h = 0; h < NH; h++) {
      // att_h (M, HS) = ẽ_h (M, C) @ W_v,hᵀ (C, HS)
      if (w.v instanceof Float32Array) e.gemm(false, true, M, HS, C, 1, et.subarray(h * C), NH * C, w.v.subarray(h * HS * C), C, 0, att.subarray(h * HS), D);
      else matmulBf16(att.subarray(h * HS), et.subarray(h * C), w.v.rowSlice(h * HS, (h + 1) * HS), M, { lda: NH * C, ldc: D });
    }
  }

  private crossAbsorbedBackward(p: string, dq: F32, dEncOut: F32, datt: F32, encOut: F32, w: AttnWeights, ctx: ForwardContext, site: number): void {
    const { num_heads: NH, d_kv: HS, d_model: C } = this.config;
    const { B, S, Te } = ctx.batch;
    const D = NH * HS, M = B * S, e = this.e, ws = this.ws;
    const det = ws.zeros('cross.det', M * NH * C), dqt = ws.zeros('cross.dqt', M * NH * C);
    for (let h = 0; h < NH; h++) {
      // forward: att_h = ẽ_h W_v,hᵀ  =>  dẽ_h = datt_h (M, HS) @ W_v,h (HS, C)
      if (w.v instanceof Float32Array) e.gemm(false, false, M, C, HS, 1, datt.subarray(h * HS), D, w.v.subarray(h * HS * C), C, 0, det.subarray(h * C), NH * C);
      else matmulBf16T(det.subarray(h * C), datt.subarray(h * HS), w.v.rowSlice(h * HS, (h + 1) * HS), M, { lda: D, ldc: NH * C });
    }
    // keys and values are both the encoder output: both gradients accumulate into dEncOut
    e.attentionBackward(dqt, dEncOut, dEncOut, det, this.saved(`${p}.qt`, M * NH * C, ctx), encOut, encOut,
      this.saved(`${p}.cprobs`, B * NH * S * Te, ctx), this.absorbedDims(B, S, Te, ctx, site));
    for (let h = 0; h < NH; h++) {
      // forward: q̃_h = cq_h W_k,h  =>  dcq_h (M, HS) += dq̃_h (M, C) @ W_k,hᵀ (C, HS)
      if (w.k instanceof Float32Array) e.gemm(false, true, M, HS, C, 1, dqt.subarray(h * C), NH * C, w.k.subarray(h * HS * C), C, 1, dq.subarray(h * HS), D);
      else matmulBf16(dq.subarray(h * HS), dqt.subarray(h * C), w.k.rowSlice(h * HS, (h + 1) * HS), M, { lda: NH * C, ldc: D, accumulate: true });
    }
  }

  /** q, k, v interleaved per row in one (B, T, 3D) buffer. */
  private fusedDims(B: number, Tq: number, Tk: number, causal: boolean, ctx: ForwardContext | null, site: number): AttnDims {
    const d = this.attnDims(B, Tq, Tk, causal, ctx, site);
    const D = this.config.num_heads * this.config.d_kv;
    return { ...d, qRow: 3 * D, kRow: 3 * D, vRow: 3 * D, qBatch: Tq * 3 * D, kBatch: Tk * 3 * D, vBatch: Tk * 3 * D };
  }

  /** q (B, Tq, D) contiguous; k, v interleaved in one (B, Tk, 2D) buffer. */
  private crossDims(B: number, Tq: number, Tk: number, ctx: ForwardContext | null, site: number): AttnDims {
    const d = this.attnDims(B, Tq, Tk, false, ctx, site);
    const D = this.config.num_heads * this.config.d_kv;
    return { ...d, kRow: 2 * D, vRow: 2 * D, kBatch: Tk * 2 * D, vBatch: Tk * 2 * D };
  }

  /** h_out = h + drop(Attn(norm(h))); h_out += drop(FFN(norm(h_out))). Saves enc.{l}.* for backward. */
  private encoderBlockForward(l: number, h: F32, ctx: ForwardContext): F32 {
    const cfg = this.config, e = this.e, ws = this.ws, blk = this.tensors.encoder[l]!;
    const { B, Te } = ctx.batch;
    const C = cfg.d_model, D = cfg.num_heads * cfg.d_kv, N = B * Te, p = `enc.${l}`;
    // block input (B, Te, C), norm-1 input; h is a buffer shared by the layers, so fp32 saving copies it
    const hin = ctx.save16 ? h : ws.f32(`${p}.in`, N * C);
    if (hin !== h) hin.set(h);
    const ln = ws.f32('ln', N * C);
    e.rmsnormForward(ln, ws.f32(`${p}.rstd1`, N), hin, blk.ln1, N, C, cfg.layer_norm_epsilon, this.keep16(`${p}.in`, N * C, ctx));
    const qkv = this.keepF32(`${p}.qkv`, N * 3 * D, ctx); // (B, Te, 3D): q | k | v per row
    this.linear(qkv, ln, blk.attn.qkv, N, C, 3 * D);
    this.sideFusedF([blk.attn.q, blk.attn.k, blk.attn.v], ln, qkv, N, ctx);
    const att = ws.f32(this.grads.has(blk.attn.o) ? `${p}.att` : 'att', N * D); // kept for o's weight gradient
    const nP = B * cfg.num_heads * Te * Te, qkv16 = this.keep16(`${p}.qkv`, N * 3 * D, ctx);
    e.attentionForward(att, this.keep16(`${p}.probs`, nP, ctx) ?? this.keepF32(`${p}.probs`, nP, ctx), qkv, qkv.subarray(D), qkv.subarray(2 * D),
      ctx.encBias, ctx.encMaskAdd, this.fusedDims(B, Te, Te, false, ctx, 100 + 10 * l),
      qkv16, qkv16?.subarray(D), qkv16?.subarray(2 * D));
    const ao = ws.f32('ao', N * C);
    this.linear(ao, att, blk.attn.o, N, D, C);
    this.sideF(blk.attn.o, att, ao, C, N, ctx);
    const mid = this.keepF32(`${p}.mid`, N * C, ctx); // (B, Te, C), norm-2 input
    e.add(mid, hin, this.dropoutF(`${p}.ao`, ao, N * C, ctx, 101 + 10 * l), N * C);
    const fo = this.ffnForward(p, mid, `${p}.mid`, blk.ln2, this.tensors.encoder[l]!.ffn, N, ctx, 102 + 10 * l);
    const out = ws.f32('enc.next', N * C);
    e.add(out, mid, this.dropoutF(`${p}.fo`, fo, N * C, ctx, 105 + 10 * l), N * C);
    return out;
  }

  /** FFN(norm(x)) of one block (x saved as xName); saves {p}.rstdF, {p}.pre (and {p}.gate) for backward. */
  private ffnForward(p: string, x: F32, xName: string, lnW: F32, f: FfnWeights, N: number, ctx: ForwardContext, site: number): F32 {
    const cfg = this.config, e = this.e, ws = this.ws;
    const C = cfg.d_model, F = cfg.d_ff;
    const ln = ws.f32('ln', N * C);
    e.rmsnormForward(ln, ws.f32(`${p}.rstdF`, N), x, lnW, N, C, cfg.layer_norm_epsilon, this.keep16(xName, N * C, ctx));
    const pre = this.keepF32(`${p}.pre`, N * F, ctx); // (N, F) wi x (wi_0 x when gated)
    this.linear(pre, ln, f.wi, N, C, F);
    this.sideF(f.wi, ln, pre, F, N, ctx);
    const act = ws.f32(this.grads.has(f.wo) ? `${p}.actS` : 'act', N * F); // kept for wo's weight gradient
    if (f.wiGate !== null) {
      const gate = this.keepF32(`${p}.gate`, N * F, ctx); // (N, F) wi_1 x
      this.linear(gate, ln, f.wiGate, N, C, F);
      this.sideF(f.wiGate, ln, gate, F, N, ctx);
      e.gatedForward(this.ffn.act, act, pre, gate, N * F, this.keep16(`${p}.pre`, N * F, ctx), this.keep16(`${p}.gate`, N * F, ctx));
    } else {
      e.actForward(this.ffn.act, act, pre, N * F, this.keep16(`${p}.pre`, N * F, ctx));
    }
    const actD = this.dropoutF(`${p}.act`, act, N * F, ctx, site);
    const fo = ws.f32('fo', N * C);
    this.linear(fo, actD, f.wo, N, F, C);
    this.sideF(f.wo, actD, fo, C, N, ctx);
    return fo;
  }

  private decoderBlockForward(l: number, y: F32, encOut: F32, ctx: ForwardContext): F32 {
    const cfg = this.config, e = this.e, ws = this.ws, blk = this.tensors.decoder[l]!;
    const { B, Te, S } = ctx.batch;
    const C = cfg.d_model, D = cfg.num_heads * cfg.d_kv, NH = cfg.num_heads, N = B * S, p = `dec.${l}`;
    const yin = ctx.save16 ? y : ws.f32(`${p}.in`, N * C);
    if (yin !== y) yin.set(y);
    // self-attention (causal, unidirectional bias)
    const ln = ws.f32('ln', N * C);
    e.rmsnormForward(ln, ws.f32(`${p}.rstd1`, N), yin, blk.ln1, N, C, cfg.layer_norm_epsilon, this.keep16(`${p}.in`, N * C, ctx));
    const qkv = this.keepF32(`${p}.qkv`, N * 3 * D, ctx); // (B, S, 3D)
    this.linear(qkv, ln, blk.selfAttn.qkv, N, C, 3 * D);
    this.sideFusedF([blk.selfAttn.q, blk.selfAttn.k, blk.selfAttn.v], ln, qkv, N, ctx);
    const att = ws.f32(this.grads.has(blk.selfAttn.o) ? `${p}.att` : 'att', N * D); // kept for o's weight gradient
    const nP = B * NH * S * S, qkv16 = this.keep16(`${p}.qkv`, N * 3 * D, ctx);
    e.attentionForward(att, this.keep16(`${p}.probs`, nP, ctx) ?? this.keepF32(`${p}.probs`, nP, ctx), qkv, qkv.subarray(D), qkv.subarray(2 * D),
      ctx.decBias, null, this.fusedDims(B, S, S, true, ctx, 1000 + 10 * l), qkv16, qkv16?.subarray(D), qkv16?.subarray(2 * D));
    const ao = ws.f32('ao', N * C);
    this.linear(ao, att, blk.selfAttn.o, N, D, C);
    this.sideF(blk.selfAttn.o, att, ao, C, N, ctx);
    const mid1 = this.keepF32(`${p}.mid1`, N * C, ctx);
    e.add(mid1, yin, this.dropoutF(`${p}.ao1`, ao, N * C, ctx, 1001 + 10 * l), N * C);
    // cross-attention over the encoder output (mask only, no position bias)
    e.rmsnormForward(ln, ws.f32(`${p}.rstd2`, N), mid1, blk.ln2, N, C, cfg.layer_norm_epsilon, this.keep16(`${p}.mid1`, N * C, ctx));
    const cq = this.keepF32(`${p}.cq`, N * D, ctx);
    this.linear(cq, ln, blk.crossAttn.q, N, C, D);
    this.sideF(blk.crossAttn.q, ln, cq, D, N, ctx);
    const catt = ws.f32(this.grads.has(blk.crossAttn.o) ? `${p}.catt` : 'att', N * D); // kept for o's weight gradient
    if (this.absorbCrossAt(l, S)) {
      this.crossAbsorbedForward(p, catt, cq, encOut, blk.crossAttn, ctx, 1002 + 10 * l);
    } else {
      const ckv = this.keepF32(`${p}.ckv`, B * Te * 2 * D, ctx); // (B, Te, 2D): k | v per row
      this.linear(ckv, encOut, blk.crossAttn.kv, B * Te, C, 2 * D);
      this.sideFusedF([blk.crossAttn.k, blk.crossAttn.v], encOut, ckv, B * Te, ctx);
      const nP = B * NH * S * Te, ckv16 = this.keep16(`${p}.ckv`, B * Te * 2 * D, ctx);
      e.attentionForward(catt, this.keep16(`${p}.cprobs`, nP, ctx) ?? this.keepF32(`${p}.cprobs`, nP, ctx), cq, ckv, ckv.subarray(D),
        null, ctx.encMaskAdd, this.crossDims(B, S, Te, ctx, 1002 + 10 * l), this.keep16(`${p}.cq`, N * D, ctx), ckv16, ckv16?.subarray(D));
    }
    this.linear(ao, catt, blk.crossAttn.o, N, D, C);
    this.sideF(blk.crossAttn.o, catt, ao, C, N, ctx);
    const mid2 = this.keepF32(`${p}.mid2`, N * C, ctx);
    e.add(mid2, mid1, this.dropoutF(`${p}.ao2`, ao, N * C, ctx, 1003 + 10 * l), N * C);
    const fo = this.ffnForward(p, mid2, `${p}.mid2`, blk.ln3, blk.ffn, N, ctx, 1004 + 10 * l);
    const out = ws.f32('dec.next', N * C);
    e.add(out, mid2, this.dropoutF(`${p}.fo`, fo, N * C, ctx, 1005 + 10 * l), N * C);
    return out;
  }

  // ---------------------------------------------------------------------------------------------------------
  // backward: the forward, reversed. `dres` is dLoss/d(residual stream) and is accumulated in place. Each
  // input-gradient GEMM is followed by its side path's backward and, for a trainable weight, dW += dYᵀ X.

  private runBackward(ctx: ForwardContext): F32 {
    const cfg = this.config, w = this.tensors, e = this.e, ws = this.ws;
    const { B, Te, S } = ctx.batch;
    const C = cfg.d_model, V = cfg.vocab_size, NH = cfg.num_heads;
    // logits = headIn @ lmHead^T; headIn = decOut * C^-0.5 (tied: lmHead is shared, so its dW lands in shared's)
    const dlogits = ctx.dlogits!;
    const dHead = ws.zeros('dHead', B * S * C);
    this.linearBack(dHead, dlogits, w.lmHead, B * S, C, V);
    this.sideB(w.lmHead, dlogits, V, dHead, B * S, ctx);
    this.weightGrad(w.lmHead, dlogits, V, () => ws.f32('head.in', B * S * C), B * S, C, V);
    if (cfg.tie_word_embeddings) e.scale(dHead, 1 / Math.sqrt(C), B * S * C);
    const dDecFinal = this.dropoutB('dec.out', dHead, B * S * C, ctx);
    const dy = ws.zeros('dres.dec', B * S * C);
    e.rmsnormBackward(dy, this.gradOrNull(w.decFinal), dDecFinal, ctx.decLast!, w.decFinal, ws.f32('dec.final.rstd', B * S), B * S, C);

    // dLoss/d(position bias) (NH, Tq, Tk) summed over the layers that share it, when a bias table trains
    const dEncBias = this.grads.has(w.encRelBias) ? ws.zeros('dEncBias', NH * Te * Te) : null;
    const dDecBias = this.grads.has(w.decRelBias) ? ws.zeros('dDecBias', NH * S * S) : null;
    const dEncOut = ws.zeros('dEncOut', B * Te * C); // gradient of the (dropped-out) encoder output
    for (let l = cfg.num_decoder_layers - 1; l >= 0; l--) this.decoderBlockBackward(l, dy, dEncOut, dDecBias, ctx);
    const dShared = this.grads.get(w.shared);
    if (dShared !== undefined) {
      // decoder input: drop(shared[decIds]); the encoder's embedding gradient comes through embedBackward
      e.embeddingBackward(dShared, ctx.decIds, this.dropoutB('dec.in', dy, B * S * C, ctx), B * S, C, V);
    }
    if (dDecBias !== null) {
      positionBiasBackward(this.grads.get(w.decRelBias)!, dDecBias, NH, S, S, 0, false, cfg.relative_attention_num_buckets,
        cfg.relative_attention_max_distance);
    }

    const dEncFinal = this.dropoutB('enc.out', dEncOut, B * Te * C, ctx);
    const dh = ws.zeros('dres.enc', B * Te * C);
    e.rmsnormBackward(dh, this.gradOrNull(w.encFinal), dEncFinal, ctx.encLast!, w.encFinal, ws.f32('enc.final.rstd', B * Te), B * Te, C);
    for (let l = cfg.num_layers - 1; l >= 0; l--) this.encoderBlockBackward(l, dh, dEncBias, ctx);
    if (dEncBias !== null) {
      positionBiasBackward(this.grads.get(w.encRelBias)!, dEncBias, NH, Te, Te, 0, true, cfg.relative_attention_num_buckets,
        cfg.relative_attention_max_distance);
    }
    const dX = this.dropoutB('enc.in', dh, B * Te * C, ctx);
    if (this.mixed) this.copiesStale = true; // an optimizer step follows: re-round before the next use
    return dX === dh ? dh.slice() : dX.slice();
  }

  /** FFN block backward: dres += d/dx [drop(FFN(norm(x)))] given dres = dLoss/d(block output). */
  private ffnBackward(p: string, dres: F32, x: SavedAct, lnW: F32, f: FfnWeights, N: number, ctx: ForwardContext): void {
    const cfg = this.config, e = this.e, ws = this.ws;
    const C = cfg.d_model, F = cfg.d_ff;
    const dfo = this.dropoutB(`${p}.fo`, dres, N * C, ctx); // (N, C)
    const dactD = ws.f32('dact', N * F);
    this.linearBack(dactD, dfo, f.wo, N, F, C, false);
    this.sideB(f.wo, dfo, C, dactD, N, ctx);
    // wo's input: the dropout output when training, else the activation kept under {p}.actS
    this.weightGrad(f.wo, dfo, C, () => ws.f32(ctx.train ? `${p}.act` : `${p}.actS`, N * F), N, F, C);
    const dact = this.dropoutB(`${p}.act`, dactD, N * F, ctx);
    const pre = this.saved(`${p}.pre`, N * F, ctx);
    const dpre = ws.zeros('dpre', N * F);
    const dln = ws.f32('dln', N * C); // written first by the wi_1 (gated) or wi GEMM below
    let xn: F32 | null = null;
    const normed = () => (xn ??= this.normOut(x, lnW, N));
    if (f.wiGate !== null) {
      const gate = this.saved(`${p}.gate`, N * F, ctx);
      const dgate = ws.zeros('dgate', N * F);
      e.gatedBackward(this.ffn.act, dpre, dgate, dact, pre, gate, N * F);
      this.linearBack(dln, dgate, f.wiGate, N, C, F, false);
      this.sideB(f.wiGate, dgate, F, dln, N, ctx);
      this.weightGrad(f.wiGate, dgate, F, normed, N, C, F);
    } else {
      e.actBackward(this.ffn.act, dpre, dact, pre, N * F);
    }
    this.linearBack(dln, dpre, f.wi, N, C, F, f.wiGate !== null);
    this.sideB(f.wi, dpre, F, dln, N, ctx);
    this.weightGrad(f.wi, dpre, F, normed, N, C, F);
    e.rmsnormBackward(dres, this.gradOrNull(lnW), dln, x, lnW, ws.f32(`${p}.rstdF`, N), N, C);
  }

  private encoderBlockBackward(l: number, dh: F32, dbias: F32 | null, ctx: ForwardContext): void {
    const cfg = this.config, e = this.e, ws = this.ws, blk = this.tensors.encoder[l]!, a = blk.attn;
    const { B, Te } = ctx.batch;
    const C = cfg.d_model, D = cfg.num_heads * cfg.d_kv, N = B * Te, p = `enc.${l}`;
    // forward: out = mid + drop(FFN(norm(mid)))
    this.ffnBackward(p, dh, this.saved(`${p}.mid`, N * C, ctx), blk.ln2, blk.ffn, N, ctx);
    // forward: mid = in + drop(o(attn(q, k, v))), q/k/v = W norm(in)
    const dao = this.dropoutB(`${p}.ao`, dh, N * C, ctx);
    const datt = ws.f32('datt', N * D);
    this.linearBack(datt, dao, a.o, N, D, C, false);
    this.sideB(a.o, dao, C, datt, N, ctx);
    this.weightGrad(a.o, dao, C, () => ws.f32(`${p}.att`, N * D), N, D, C);
    const qkv = this.saved(`${p}.qkv`, N * 3 * D, ctx), dqkv = ws.zeros('dqkv', N * 3 * D);
    e.attentionBackward(dqkv, dqkv.subarray(D), dqkv.subarray(2 * D), datt, qkv, qkv.subarray(D), qkv.subarray(2 * D),
      this.saved(`${p}.probs`, B * cfg.num_heads * Te * Te, ctx), this.fusedDims(B, Te, Te, false, ctx, 100 + 10 * l), dbias);
    const dln = ws.f32('dln', N * C);
    const hin = this.saved(`${p}.in`, N * C, ctx);
    this.linearBack(dln, dqkv, a.qkv, N, C, 3 * D, false);
    this.sideFusedB([a.q, a.k, a.v], dqkv, dln, N, ctx);
    this.fusedWeightGrad(a.qkv, [a.q, a.k, a.v], dqkv, () => this.normOut(hin, blk.ln1, N), N);
    e.rmsnormBackward(dh, this.gradOrNull(blk.ln1), dln, hin, blk.ln1, ws.f32(`${p}.rstd1`, N), N, C);
  }

  private decoderBlockBackward(l: number, dy: F32, dEncOut: F32, dbias: F32 | null, ctx: ForwardContext): void {
    const cfg = this.config, e = this.e, ws = this.ws, blk = this.tensors.decoder[l]!;
    const ca = blk.crossAttn, sa = blk.selfAttn;
    const { B, Te, S } = ctx.batch;
    const C = cfg.d_model, D = cfg.num_heads * cfg.d_kv, NH = cfg.num_heads, N = B * S, p = `dec.${l}`;
    this.ffnBackward(p, dy, this.saved(`${p}.mid2`, N * C, ctx), blk.ln3, blk.ffn, N, ctx);
    // cross-attention: mid2 = mid1 + drop(o(attn(q(norm(mid1)), k(enc), v(enc))))
    const dao = this.dropoutB(`${p}.ao2`, dy, N * C, ctx);
    const datt = ws.zeros('datt', N * D);
    this.linearBack(datt, dao, ca.o, N, D, C);
    this.sideB(ca.o, dao, C, datt, N, ctx);
    this.weightGrad(ca.o, dao, C, () => ws.f32(`${p}.catt`, N * D), N, D, C);
    const dq = ws.zeros('dq', N * D);
    if (this.absorbCrossAt(l, S)) {
      this.crossAbsorbedBackward(p, dq, dEncOut, datt, ctx.encOut!, ca, ctx, 1002 + 10 * l);
    } else {
      const dckv = ws.zeros('dckv', B * Te * 2 * D);
      const ckv = this.saved(`${p}.ckv`, B * Te * 2 * D, ctx);
      e.attentionBackward(dq, dckv, dckv.subarray(D), datt, this.saved(`${p}.cq`, N * D, ctx), ckv, ckv.subarray(D),
        this.saved(`${p}.cprobs`, B * NH * S * Te, ctx), this.crossDims(B, S, Te, ctx, 1002 + 10 * l));
      this.linearBack(dEncOut, dckv, ca.kv, B * Te, C, 2 * D);
      this.sideFusedB([ca.k, ca.v], dckv, dEncOut, B * Te, ctx);
      this.fusedWeightGrad(ca.kv, [ca.k, ca.v], dckv, () => ctx.encOut!, B * Te);
    }
    const dln = ws.zeros('dln', N * C);
    const mid1 = this.saved(`${p}.mid1`, N * C, ctx);
    this.linearBack(dln, dq, ca.q, N, C, D);
    this.sideB(ca.q, dq, D, dln, N, ctx);
    this.weightGrad(ca.q, dq, D, () => this.normOut(mid1, blk.ln2, N), N, C, D);
    e.rmsnormBackward(dy, this.gradOrNull(blk.ln2), dln, mid1, blk.ln2, ws.f32(`${p}.rstd2`, N), N, C);
    // Block 0's self-attention gradient only reaches block 0's own weights, the position bias and the decoder's
    // token embeddings: skipped unless one of them trains.
    if (l === 0 && !this.decBlock0Backward) return;
    const dao1 = this.dropoutB(`${p}.ao1`, dy, N * C, ctx);
    datt.fill(0);
    this.linearBack(datt, dao1, sa.o, N, D, C);
    this.sideB(sa.o, dao1, C, datt, N, ctx);
    this.weightGrad(sa.o, dao1, C, () => ws.f32(`${p}.att`, N * D), N, D, C);
    const qkv = this.saved(`${p}.qkv`, N * 3 * D, ctx), dqkv = ws.zeros('dqkv', N * 3 * D);
    e.attentionBackward(dqkv, dqkv.subarray(D), dqkv.subarray(2 * D), datt, qkv, qkv.subarray(D), qkv.subarray(2 * D),
      this.saved(`${p}.probs`, B * NH * S * S, ctx), this.fusedDims(B, S, S, true, ctx, 1000 + 10 * l), dbias);
    dln.fill(0);
    const yin = this.saved(`${p}.in`, N * C, ctx);
    this.linearBack(dln, dqkv, sa.qkv, N, C, 3 * D);
    this.sideFusedB([sa.q, sa.k, sa.v], dqkv, dln, N, ctx);
    this.fusedWeightGrad(sa.qkv, [sa.q, sa.k, sa.v], dqkv, () => this.normOut(yin, blk.ln1, N), N);
    e.rmsnormBackward(dy, this.gradOrNull(blk.ln1), dln, yin, blk.ln1, ws.f32(`${p}.rstd1`, N), N, C);
  }

  // ---------------------------------------------------------------------------------------------------------
  // greedy generation with a KV cache (HF generate semantics, no logits processors)

  generate(inputsEmbeds: F32, encoderMask: F32, B: number, Te: number, opts: GenerateOptions): GenerateOutput {
    const cfg = this.config, w = this.tensors, e = this.e, ws = this.ws;
    const C = cfg.d_model, D = cfg.num_heads * cfg.d_kv, NH = cfg.num_heads, V = cfg.vocab_size, F = cfg.d_ff;
    const T = opts.maxNewTokens;
    if (!(T > 0)) throw new SoftpromptError('invalid_config', `maxNewTokens must be > 0, got ${T}.`, { path: 'maxNewTokens' });
    // encoder, eval mode
    const batch: Seq2SeqBatch = { B, Te, inputsEmbeds, encoderMask, S: 1, labels: new Int32Array(B).fill(-100) };
    this.checkBatch(batch);
    const ctx: ForwardContext = {
      batch, train: false, seed: 0, decIds: new Int32Array(0), sideTrain: false, saveForBackward: false, save16: this.save16,
      encBias: computePositionBias(w.encRelBias, NH, Te, Te, 0, true, cfg.relative_attention_num_buckets,
        cfg.relative_attention_max_distance, ws.f32('encBias', NH * Te * Te)),
      decBias: new Float32Array(0), encMaskAdd: ws.f32('encMaskAdd', B * Te), numTokens: 0, dlogits: null,
      encLast: null, encOut: null, decLast: null,
    };
    for (let i = 0; i < B * Te; i++) ctx.encMaskAdd[i] = encoderMask[i]! > 0 ? 0 : MASK_MIN;
    let h = inputsEmbeds;
    for (let l = 0; l < cfg.num_layers; l++) h = this.encoderBlockForward(l, h, ctx);
    const encOut = ws.f32('gen.encOut', B * Te * C);
    e.rmsnormForward(encOut, null, h, w.encFinal, B * Te, C, cfg.layer_norm_epsilon);

    // cross-attention K/V once per layer; self-attention caches (B, T, D) per layer
    const crossK: F32[] = [], crossV: F32[] = [], cacheK: F32[] = [], cacheV: F32[] = [];
    for (let l = 0; l < cfg.num_decoder_layers; l++) {
      const blk = w.decoder[l]!;
      const ckv = ws.f32(`gen.ckv.${l}`, B * Te * 2 * D); // (B, Te, 2D)
      this.linear(ckv, encOut, blk.crossAttn.kv, B * Te, C, 2 * D);
      this.sideFusedF([blk.crossAttn.k, blk.crossAttn.v], encOut, ckv, B * Te, ctx);
      crossK.push(ckv);
      crossV.push(ckv.subarray(D));
      cacheK.push(ws.f32(`gen.k.${l}`, B * T * D));
      cacheV.push(ws.f32(`gen.v.${l}`, B * T * D));
    }

    const ids = new Int32Array(B * T);
    const stepLogits = opts.keepStepLogits ? new Float32Array(T * B * V) : undefined;
    const finished = new Uint8Array(B);
    const cur = new Int32Array(B).fill(cfg.decoder_start_token_id);
    const y = ws.f32('gen.y', B * C), ln = ws.f32('gen.ln', B * C), q = ws.f32('gen.q', B * D);
    const att = ws.f32('gen.att', B * D), ao = ws.f32('gen.ao', B * C), act = ws.f32('gen.act', B * F);
    const pre = ws.f32('gen.pre', B * F), gate = ws.f32('gen.gate', B * F);
    const logits = ws.f32('gen.logits', B * V), probs = ws.f32('gen.probs', B * NH * Math.max(T, Te));
    const qkvNew = ws.f32('gen.qkv', B * 3 * D);
    let steps = 0;
    for (let t = 0; t < T; t++) {
      this.embedRows(y, cur, B);
      const bias = computePositionBias(w.decRelBias, NH, 1, t + 1, t, false, cfg.relative_attention_num_buckets,
        cfg.relative_attention_max_distance);
      for (let l = 0; l < cfg.num_decoder_layers; l++) {
        const blk = w.decoder[l]!;
        e.rmsnormForward(ln, null, y, blk.ln1, B, C, cfg.layer_norm_epsilon);
        this.linear(qkvNew, ln, blk.selfAttn.qkv, B, C, 3 * D); // (B, 3D)
        this.sideFusedF([blk.selfAttn.q, blk.selfAttn.k, blk.selfAttn.v], ln, qkvNew, B, ctx);
        for (let b = 0; b < B; b++) {
          q.set(qkvNew.subarray(b * 3 * D, b * 3 * D + D), b * D);
          cacheK[l]!.set(qkvNew.subarray(b * 3 * D + D, b * 3 * D + 2 * D), (b * T + t) * D);
          cacheV[l]!.set(qkvNew.subarray(b * 3 * D + 2 * D, (b + 1) * 3 * D), (b * T + t) * D);
        }
        const selfDims: AttnDims = {
          B, NH, NKV: NH, Tq: 1, Tk: t + 1, HS: cfg.d_kv, qRow: D, kRow: D, vRow: D,
          qBatch: D, kBatch: T * D, vBatch: T * D, causal: false, scale: 1,
        };
        e.attentionForward(att, probs.subarray(0, B * NH * (t + 1)), q, cacheK[l]!, cacheV[l]!, bias, null, selfDims);
        this.linear(ao, att, blk.selfAttn.o, B, D, C);
        this.sideF(blk.selfAttn.o, att, ao, C, B, ctx);
        e.add(y, y, ao, B * C);
        e.rmsnormForward(ln, null, y, blk.ln2, B, C, cfg.layer_norm_epsilon);
        this.linear(q, ln, blk.crossAttn.q, B, C, D);
        this.sideF(blk.crossAttn.q, ln, q, D, B, ctx);
        e.attentionForward(att, probs.subarray(0, B * NH * Te), q, crossK[l]!, crossV[l]!, null, ctx.encMaskAdd,
          this.crossDims(B, 1, Te, null, 0));
        this.linear(ao, att, blk.crossAttn.o, B, D, C);
        this.sideF(blk.crossAttn.o, att, ao, C, B, ctx);
        e.add(y, y, ao, B * C);
        e.rmsnormForward(ln, null, y, blk.ln3, B, C, cfg.layer_norm_epsilon);
        this.linear(pre, ln, blk.ffn.wi, B, C, F);
        this.sideF(blk.ffn.wi, ln, pre, F, B, ctx);
        if (blk.ffn.wiGate !== null) {
          this.linear(gate, ln, blk.ffn.wiGate, B, C, F);
          this.sideF(blk.ffn.wiGate, ln, gate, F, B, ctx);
          e.gatedForward(this.ffn.act, act, pre, gate, B * F);
        } else {
          e.actForward(this.ffn.act, act, pre, B * F);
        }
        this.linear(ao, act, blk.ffn.wo, B, F, C);
        this.sideF(blk.ffn.wo, act, ao, C, B, ctx);
        e.add(y, y, ao, B * C);
      }
      e.rmsnormForward(ln, null, y, w.decFinal, B, C, cfg.layer_norm_epsilon);
      if (cfg.tie_word_embeddings) e.scale(ln, 1 / Math.sqrt(C), B * C);
      this.linear(logits, ln, w.lmHead, B, C, V);
      this.sideF(w.lmHead, ln, logits, V, B, ctx);
      if (stepLogits) stepLogits.set(logits, t * B * V);
      steps = t + 1;
      for (let b = 0; b < B; b++) {
        let best = 0;
        let bestV = logits[b * V]!;
        for (let j = 1; j < V; j++) {
          const x = logits[b * V + j]!;
          if (x > bestV) { bestV = x; best = j; }
        }
        const next = finished[b] ? cfg.pad_token_id : best;
        ids[b * T + t] = next;
        cur[b] = next;
        if (next === cfg.eos_token_id) finished[b] = 1;
      }
      opts.onStep?.(cur);
      if (finished.every((f) => f === 1)) break;
    }
    const outIds = new Int32Array(B * steps);
    for (let b = 0; b < B; b++) outIds.set(ids.subarray(b * T, b * T + steps), b * steps);
    const out: GenerateOutput = { ids: outIds, steps };
    if (stepLogits) out.stepLogits = stepLogits.subarray(0, steps * B * V);
    return out;
  }
}
