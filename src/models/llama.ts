/**
 * LLaMA (decoder-only), forward and backward to inputs_embeds, plus greedy KV-cache decoding.
 *
 * Mirrors Hugging Face `LlamaForCausalLM` (transformers/models/llama/modeling_llama.py, eager attention): no
 * position embedding on the input, pre-norm blocks with RMSNorm, grouped-query attention (NKV key/value heads,
 * query head h reads kv head h / (NH/NKV), HF's repeat_kv) with RoPE on q and k (src/models/rope.ts) and scores
 * scaled by head_dim^-0.5, causal and key-padding masks, SwiGLU MLP down(silu(gate(x)) * up(x)), final norm and
 * an untied (or tied) lm_head without rescaling. Papers: Touvron et al. 2023 (arXiv 2302.13971, 2307.09288).
 *
 * Dims: B batch, T length (prompt included), N = B·T, C = hidden_size, NH heads, NKV kv heads, HS = head_dim,
 * D = NH·HS, Dkv = NKV·HS, QKV = D + 2·Dkv, F = intermediate_size, V vocab, L layers. Backward is the forward's
 * kernel list, reversed, down to dLoss/dInputsEmbeds. Weights are frozen unless named in setTrainable
 * (WeightTraining, types.ts): then their dW slots accumulate (+=) and forward keeps the per-layer GEMM inputs they
 * need; frozen weights cost nothing. q/k/v_proj are views of one fused (QKV, C) buffer, and so are their
 * gradients. Side paths (LoRA) run right after each targeted linear's GEMM (q/k/v: before RoPE) and input-gradient GEMM.
 * Loss: HF's ForCausalLMLoss, CE(logits[:, :-1], labels[:, 1:]) averaged over the batch's non-ignored tokens.
 */
import { Act, Bf16Weight, MASK_MIN, engine, type AttnDims } from '../engine/index.js';
import { SoftpromptError } from '../errors.js';
import {
  effectivePrecision, embedRows, linearBackward, linearBackwardFull, linearForward, toTable, type Mat, type Precision, type Table,
} from './frozen-weight.js';
import { parseLlamaConfig, type LlamaConfig } from './llama-config.js';
import { Rope } from './rope.js';
import type {
  CausalBatch, CausalGenerateOptions, CausalLM, CausalOutput, ForwardOptions, GenerateOutput, LinearModule, LinearSidePath,
  ModelInfo, ModelWeight, WeightSource, WeightTraining,
} from './types.js';
import { checkLayerCount } from './types.js';
import { GradTable, SidePaths, embedScatter, heldWeight, refuseBf16Trainable, type HeldWeight, type SideMode } from './weight-grads.js';
import { Workspace } from './workspace.js';

export { parseLlamaConfig, type LlamaConfig };

type F32 = Float32Array;

interface LlamaLayer {
  ln1: F32; // (C) input_layernorm
  /** (QKV, C): q_proj (D, C), k_proj (Dkv, C), v_proj (Dkv, C) stacked so one GEMM projects all three */
  qkv: Mat;
  o: Mat; // (C, D) o_proj
  ln2: F32; // (C) post_attention_layernorm
  gate: Mat; // (F, C) gate_proj
  up: Mat; // (F, C) up_proj
  down: Mat; // (C, F) down_proj
}
/**
 * GEMM weights are `Mat`: fp32, or (precision 'bf16') bf16 held once by the engine (a bf16 qkv is a stack of its
 * q, k, v parts, so each is a view); norms stay fp32.
 */
export interface LlamaWeights {
  embed: Table; // (V, C) model.embed_tokens; bf16 bits in precision 'bf16'
  layers: LlamaLayer[];
  norm: F32; // (C) model.norm
  lmHead: Mat; // (V, C); === embed when tied and fp32
}

/** HF tensor names and shapes, the loading contract (a tied lm_head is not stored, as save_pretrained does). */
export function llamaTensorTable(cfg: LlamaConfig): { name: string; shape: number[] }[] {
  const C = cfg.hidden_size, HS = cfg.head_dim, F = cfg.intermediate_size, V = cfg.vocab_size;
  const D = cfg.num_attention_heads * HS, Dkv = cfg.num_key_value_heads * HS;
  const rows = [{ name: 'model.embed_tokens.weight', shape: [V, C] }];
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    rows.push(
      { name: `${p}.self_attn.q_proj.weight`, shape: [D, C] }, { name: `${p}.self_attn.k_proj.weight`, shape: [Dkv, C] },
      { name: `${p}.self_attn.v_proj.weight`, shape: [Dkv, C] }, { name: `${p}.self_attn.o_proj.weight`, shape: [C, D] },
      { name: `${p}.mlp.gate_proj.weight`, shape: [F, C] }, { name: `${p}.mlp.up_proj.weight`, shape: [F, C] },
      { name: `${p}.mlp.down_proj.weight`, shape: [C, F] },
      { name: `${p}.input_layernorm.weight`, shape: [C] }, { name: `${p}.post_attention_layernorm.weight`, shape: [C] },
    );
  }
  rows.push({ name: 'model.norm.weight', shape: [C] });
  if (!cfg.tie_word_embeddings) rows.push({ name: 'lm_head.weight', shape: [V, C] });
  return rows;
}

/** precision 'bf16': each GEMM weight and the embedding are rounded to bf16 as they are read and only that copy is kept */
export function loadLlamaWeights(cfg: LlamaConfig, src: WeightSource, configFile = 'config.json', precision: Precision = 'fp32'): LlamaWeights {
  const C = cfg.hidden_size, HS = cfg.head_dim;
  const D = cfg.num_attention_heads * HS, Dkv = cfg.num_key_value_heads * HS;
  const hint = `${configFile} gives hidden_size=${C}, num_attention_heads × head_dim = ${cfg.num_attention_heads} × ${HS}, num_key_value_heads=${cfg.num_key_value_heads}, intermediate_size=${cfg.intermediate_size}, vocab_size=${cfg.vocab_size}. Does the checkpoint belong to this config?`;
  checkLayerCount(src, 'num_hidden_layers', cfg.num_hidden_layers, (l) => `model.layers.${l}.input_layernorm.weight`);
  const shapes = new Map(llamaTensorTable(cfg).map((r) => [r.name, r.shape]));
  const get = (name: string): F32 => src.getF32Checked(name, shapes.get(name)!, hint);
  const F = cfg.intermediate_size, V = cfg.vocab_size, bf16 = precision === 'bf16';
  const mat = (name: string, rows: number, cols: number): Mat => (bf16 ? Bf16Weight.fromF32(get(name), rows, cols) : get(name));
  const embed = get('model.embed_tokens.weight');
  const layers: LlamaLayer[] = [];
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    let qkv: Mat;
    if (bf16) {
      const part = (x: string, rows: number) => Bf16Weight.fromF32(get(`${p}.self_attn.${x}_proj.weight`), rows, C);
      qkv = Bf16Weight.stack([part('q', D), part('k', Dkv), part('v', Dkv)]);
    } else {
      const q = get(`${p}.self_attn.q_proj.weight`), k = get(`${p}.self_attn.k_proj.weight`), v = get(`${p}.self_attn.v_proj.weight`);
      qkv = new Float32Array((D + 2 * Dkv) * C); // after the shape checks: a config's dims alone never size it
      qkv.set(q, 0);
      qkv.set(k, D * C);
      qkv.set(v, (D + Dkv) * C);
    }
    layers.push({
      ln1: get(`${p}.input_layernorm.weight`), qkv, o: mat(`${p}.self_attn.o_proj.weight`, C, D),
      ln2: get(`${p}.post_attention_layernorm.weight`),
      gate: mat(`${p}.mlp.gate_proj.weight`, F, C), up: mat(`${p}.mlp.up_proj.weight`, F, C), down: mat(`${p}.mlp.down_proj.weight`, C, F),
    });
  }
  const lmHead = cfg.tie_word_embeddings ? (bf16 ? Bf16Weight.fromF32(embed, V, C) : embed) : mat('lm_head.weight', V, C);
  return { embed: toTable(embed, precision), layers, norm: get('model.norm.weight'), lmHead };
}

/** q_proj, k_proj, v_proj as views of the fused (D + 2·Dkv, C) weight (row slices of a bf16 stack) */
function qkvViews(qkv: Mat, C: number, D: number, Dkv: number): { qW: Mat; kW: Mat; vW: Mat } {
  if (qkv instanceof Float32Array) return { qW: qkv.subarray(0, D * C), kW: qkv.subarray(D * C, (D + Dkv) * C), vW: qkv.subarray((D + Dkv) * C) };
  return { qW: qkv.rowSlice(0, D), kW: qkv.rowSlice(D, D + Dkv), vW: qkv.rowSlice(D + Dkv, D + 2 * Dkv) };
}

/** Attention-dropout sites get distinct seeds derived from the step's base seed (as in t5.ts). */
function siteSeed(base: number, site: number): number {
  return (base % 0x100000000) * 0x100000 + site;
}

/**
 * HF's ForCausalLMLoss shift: position t predicts labels[t+1], the last position predicts nothing.
 * targets (B, T) with -100 = ignored; numTokens = the non-ignored count the loss is averaged over.
 */
function shiftLabels(labels: Int32Array, B: number, T: number, V: number): { targets: Int32Array; numTokens: number } {
  const targets = new Int32Array(B * T);
  let numTokens = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const y = t + 1 < T ? labels[b * T + t + 1]! : -100;
      if (y !== -100 && !(y >= 0 && y < V)) {
        throw new SoftpromptError('invalid_data', `Label ${y} at row ${b}, position ${t + 1} is outside the vocabulary [0, ${V}) (use -100 to ignore a position).`, { path: 'labels' });
      }
      targets[b * T + t] = y;
      if (y !== -100) numTokens++;
    }
  }
  return { targets, numTokens };
}

/** Everything forward saved that backward needs (the per-layer buffers live in the workspace under L{l}.*). */
interface ForwardContext {
  B: number;
  T: number;
  positions: Int32Array; // (B, T)
  maskAdd: F32; // (B, T) 0 or MASK_MIN per key
  /** attention dropout on */
  train: boolean;
  seed: number;
  /** what side paths see: train mode, seed, and whether a backward follows */
  mode: SideMode;
  /** resid[l] (B, T, C): input of block l; resid[L]: input of the final norm */
  resid: F32[];
  dlogits: F32 | null; // (B*T, V)
}

/** One layer's HF module paths (side-path targets) and the q/k/v_proj views of its fused weight. */
interface LlamaLayerNames {
  q: string;
  k: string;
  v: string;
  o: string;
  gate: string;
  up: string;
  down: string;
  /** (D, C), (Dkv, C), (Dkv, C) views of LlamaLayer.qkv */
  qW: Mat;
  kW: Mat;
  vW: Mat;
}

export class LlamaModel implements CausalLM, WeightTraining {
  readonly info: ModelInfo;
  readonly rope: Rope;
  private readonly ws = new Workspace();
  private readonly e = engine();
  private readonly names: LlamaLayerNames[];
  private grads: GradTable | null = null;
  private side: SidePaths | null = null;
  private readonly C: number;
  private readonly NH: number;
  private readonly NKV: number;
  private readonly HS: number;
  private readonly D: number;
  private readonly Dkv: number;
  private readonly QKV: number;
  private readonly F: number;
  private readonly V: number;

  constructor(readonly config: LlamaConfig, readonly tensors: LlamaWeights) {
    const eos = config.eos_token_id?.[0];
    this.info = {
      architecture: 'llama', kind: 'causal', dModel: config.hidden_size, vocabSize: config.vocab_size,
      // LLaMA checkpoints often have no pad id: fall back to eos (what HF generate pads with), else 0
      padId: config.pad_token_id ?? eos ?? 0,
      // -1 when config.json has no eos_token_id (never matches a token)
      eosId: eos ?? -1,
      numLayers: config.num_hidden_layers, numHeads: config.num_attention_heads,
    };
    this.C = config.hidden_size;
    this.NH = config.num_attention_heads;
    this.NKV = config.num_key_value_heads;
    this.HS = config.head_dim;
    this.D = this.NH * this.HS;
    this.Dkv = this.NKV * this.HS;
    this.QKV = this.D + 2 * this.Dkv;
    this.F = config.intermediate_size;
    this.V = config.vocab_size;
    this.rope = Rope.fromParams(this.HS, config.rope);
    const { C, D, Dkv } = this;
    this.names = tensors.layers.map((w, l) => {
      const p = `model.layers.${l}`;
      return {
        q: `${p}.self_attn.q_proj`, k: `${p}.self_attn.k_proj`, v: `${p}.self_attn.v_proj`, o: `${p}.self_attn.o_proj`,
        gate: `${p}.mlp.gate_proj`, up: `${p}.mlp.up_proj`, down: `${p}.mlp.down_proj`,
        ...qkvViews(w.qkv, C, D, Dkv),
      };
    });
  }

  /** precision 'bf16': frozen GEMM weights held only in bf16, GEMMs on oneDNN (fp32, with a notice, without native bf16) */
  static load(configJson: unknown, src: WeightSource, configFile = 'config.json', precision: Precision = 'fp32'): LlamaModel {
    const cfg = parseLlamaConfig(configJson, configFile);
    return new LlamaModel(cfg, loadLlamaWeights(cfg, src, configFile, effectivePrecision(precision)));
  }

  get precision(): Precision {
    return this.tensors.lmHead instanceof Float32Array ? 'fp32' : 'bf16';
  }

  /** Bytes of activation buffers held between steps. */
  workspaceBytes(): number {
    return this.ws.bytes();
  }

  embed(ids: Int32Array): F32 {
    const out = new Float32Array(ids.length * this.C);
    const bad = embedRows(this.e, out, ids, this.tensors.embed, ids.length, this.C, this.V);
    if (bad >= 0) {
      throw new SoftpromptError('invalid_data', `Token id ${ids[bad]} at position ${bad} is outside the vocabulary [0, ${this.V}).`);
    }
    return out;
  }

  forward(batch: CausalBatch, opts: ForwardOptions = {}): CausalOutput {
    return this.runForward(batch, opts, false).out;
  }

  lossAndGrad(batch: CausalBatch, opts: ForwardOptions = {}): CausalOutput & { dInputsEmbeds: F32 } {
    const { out, ctx } = this.runForward(batch, opts, true);
    return { ...out, dInputsEmbeds: this.runBackward(ctx) };
  }

  // ---------------------------------------------------------------------------------------------------------
  // weight training (WeightTraining in types.ts)

  /**
   * Every tensor by its LlamaForCausalLM name; q/k/v_proj are views of the fused q|k|v buffer. In precision
   * 'bf16' the GEMM weights and the embedding are listed as fp32 copies widened when read.
   */
  weights(): ModelWeight[] {
    return this.heldWeights();
  }

  private heldWeights(): HeldWeight[] {
    const w = this.tensors, byName = new Map<string, Mat | Table>([
      ['model.embed_tokens.weight', w.embed], ['model.norm.weight', w.norm], ['lm_head.weight', w.lmHead],
    ]);
    w.layers.forEach((x, l) => {
      const p = `model.layers.${l}`, n = this.names[l]!;
      const rows: [string, Mat][] = [
        ['self_attn.q_proj', n.qW], ['self_attn.k_proj', n.kW], ['self_attn.v_proj', n.vW], ['self_attn.o_proj', x.o],
        ['mlp.gate_proj', x.gate], ['mlp.up_proj', x.up], ['mlp.down_proj', x.down],
        ['input_layernorm', x.ln1], ['post_attention_layernorm', x.ln2],
      ];
      for (const [m, data] of rows) byName.set(`${p}.${m}.weight`, data);
    });
    return llamaTensorTable(this.config).map((r) => heldWeight(r.name, r.shape, byName.get(r.name)!));
  }

  linearModules(): LinearModule[] {
    const { C, D, Dkv, F } = this;
    const out: LinearModule[] = [];
    for (const n of this.names) {
      out.push({ name: n.q, inFeatures: C, outFeatures: D }, { name: n.k, inFeatures: C, outFeatures: Dkv },
        { name: n.v, inFeatures: C, outFeatures: Dkv }, { name: n.o, inFeatures: D, outFeatures: C },
        { name: n.gate, inFeatures: C, outFeatures: F }, { name: n.up, inFeatures: C, outFeatures: F },
        { name: n.down, inFeatures: F, outFeatures: C });
    }
    out.push({ name: 'lm_head', inFeatures: C, outFeatures: this.V });
    return out;
  }

  setTrainable(names: readonly string[]): Map<string, F32> {
    const weights = this.heldWeights();
    refuseBf16Trainable('LLaMA', weights, names);
    const fused = this.tensors.layers.flatMap((w, l) => {
      const n = this.names[l]!;
      return w.qkv instanceof Float32Array ? [{ buffer: w.qkv, members: [n.qW, n.kW, n.vW] as F32[] }] : [];
    });
    const table = names.length === 0 ? null : new GradTable('LLaMA', weights, names, fused);
    this.grads = table;
    return table === null ? new Map() : table.byName;
  }

  setSidePaths(paths: ReadonlyMap<string, LinearSidePath> | null): void {
    this.side = SidePaths.create('LLaMA', paths, this.linearModules().map((m) => m.name));
  }

  embedBackward(ids: Int32Array, dInputsEmbeds: F32, B: number, T: number, skip: number): void {
    const g = this.grads?.get(this.tensors.embed) ?? null;
    if (g !== null) embedScatter(g, ids, dInputsEmbeds, B, T, skip, this.C, this.V, 'LLaMA');
  }

  /** dW slot of a weight: null when frozen */
  private g(w: Mat | Table): F32 | null {
    return this.grads === null ? null : this.grads.get(w);
  }

  /** Where the input of the GEMM with weights ws goes: a per-layer buffer when a dW will be needed, else scratch. */
  private gemmInput(ctx: ForwardContext, weights: readonly Mat[], perLayer: string, scratch: string, n: number): F32 {
    const keep = ctx.mode.saveForBackward && weights.some((w) => this.g(w) !== null);
    return this.ws.f32(keep ? perLayer : scratch, n);
  }

  /** out (N, OC) = inp (N, C) @ W (OC, C)^T: OpenBLAS for fp32 weights, oneDNN for bf16 ones */
  private linear(out: F32, inp: F32, W: Mat, N: number, C: number, OC: number): void {
    linearForward(this.e, out, inp, W, N, C, OC);
  }

  /** dinp (N, C) += dout (N, OC) @ W (OC, C) */
  private linearBack(dinp: F32, dout: F32, W: Mat, N: number, C: number, OC: number): void {
    linearBackward(this.e, dinp, dout, W, N, C, OC);
  }

  // ---------------------------------------------------------------------------------------------------------
  // forward

  private checkBatch(b: CausalBatch): void {
    const want = (what: string, got: number, expected: number) => {
      if (got !== expected) {
        throw new SoftpromptError('shape_mismatch', `LLaMA batch: ${what} has ${got} elements, expected ${expected} (B=${b.B}, T=${b.T}, C=${this.C}).`, { path: what });
      }
    };
    want('inputsEmbeds', b.inputsEmbeds.length, b.B * b.T * this.C);
    want('attentionMask', b.attentionMask.length, b.B * b.T);
    want('labels', b.labels.length, b.B * b.T);
    if (b.positionIds !== undefined) want('positionIds', b.positionIds.length, b.B * b.T);
  }

  private makeContext(B: number, T: number, mask: F32, positions: Int32Array | undefined, opts: ForwardOptions,
    saveForBackward: boolean): ForwardContext {
    const maskAdd = this.ws.f32('maskAdd', B * T); // (B, T)
    for (let i = 0; i < B * T; i++) maskAdd[i] = mask[i]! > 0 ? 0 : MASK_MIN;
    let pos = positions;
    if (pos === undefined) { // HF forward without position_ids: arange(T) for every row, whatever the mask
      pos = new Int32Array(B * T);
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) pos[b * T + t] = t;
    }
    const train = opts.train === true, seed = opts.seed ?? 0;
    return {
      B, T, positions: pos, maskAdd, train: train && this.config.attention_dropout > 0, seed, resid: [], dlogits: null,
      mode: { train, seed, saveForBackward },
    };
  }

  private runForward(batch: CausalBatch, opts: ForwardOptions, saveForBackward: boolean): { out: CausalOutput; ctx: ForwardContext } {
    this.checkBatch(batch);
    const { B, T } = batch;
    const N = B * T, C = this.C, V = this.V, e = this.e, ws = this.ws;
    const { targets, numTokens } = shiftLabels(batch.labels, B, T, V);
    const ctx = this.makeContext(B, T, batch.attentionMask, batch.positionIds, opts, saveForBackward);
    const finalIn = this.blocksForward(batch.inputsEmbeds, ctx); // (B, T, C)
    const final = ws.f32('final.out', N * C); // (B, T, C) model.norm output
    e.rmsnormForward(final, ws.f32('final.rstd', N), finalIn, this.tensors.norm, N, C, this.config.rms_norm_eps);
    const logits = ws.f32('logits', N * V); // (B*T, V)
    this.linear(logits, final, this.tensors.lmHead, N, C, V);
    this.side?.forward('lm_head', final, logits, V, N, ctx.mode);

    const keep = opts.keepLogits === true ? logits.slice() : undefined;
    const dlogits = saveForBackward ? logits : null; // in place: logits are not needed after the loss
    const losses = ws.f32('losses', N);
    e.crossEntropy(losses, null, dlogits, logits, targets, N, V, numTokens > 0 ? 1 / numTokens : 0, -100);
    // tokenNll aligned with the labels: tokenNll[b, t] = -log p(labels[b, t] | inputs[b, < t])
    const tokenNll = new Float32Array(N);
    let sum = 0;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t + 1 < T; t++) {
        tokenNll[b * T + t + 1] = losses[b * T + t]!;
        sum += losses[b * T + t]!;
      }
    }
    ctx.dlogits = dlogits;
    const out: CausalOutput = { loss: numTokens > 0 ? sum / numTokens : 0, tokenNll, numTokens };
    if (keep) out.logits = keep;
    if (opts.outputHiddenStates) out.hiddenStates = [...ctx.resid.slice(0, -1).map((h) => h.slice()), final.slice()];
    return { out, ctx };
  }

  /** Runs every block on x (B, T, C); fills ctx.resid; returns the final norm's input. */
  private blocksForward(x: F32, ctx: ForwardContext): F32 {
    const L = this.config.num_hidden_layers, N = ctx.B * ctx.T;
    ctx.resid = [x];
    for (let l = 0; l < L; l++) {
      const out = this.ws.f32(l + 1 < L ? `L${l + 1}.in` : 'final.in', N * this.C);
      this.blockForward(l, ctx.resid[l]!, out, ctx);
      ctx.resid.push(out);
    }
    return ctx.resid[L]!;
  }

  /** q|k|v interleaved per row in one (B, T, QKV) buffer; causal self-attention. */
  private fusedDims(ctx: ForwardContext, l: number): AttnDims {
    const { B, T } = ctx, QKV = this.QKV;
    const d: AttnDims = {
      B, NH: this.NH, NKV: this.NKV, Tq: T, Tk: T, HS: this.HS,
      qRow: QKV, kRow: QKV, vRow: QKV, qBatch: T * QKV, kBatch: T * QKV, vBatch: T * QKV,
      causal: true, scale: 1 / Math.sqrt(this.HS),
    };
    if (ctx.train) {
      d.dropP = this.config.attention_dropout;
      d.dropSeed = siteSeed(ctx.seed, l);
    }
    return d;
  }

  /**
   * out = mid + down(silu(gate(n2)) * up(n2)), n2 = norm2(mid), mid = x + o(attn(rope(q), rope(k), v)),
   * q|k|v = Wqkv norm1(x). Saves L{l}.{rstd1, qkv, probs, mid, rstd2, gate, up} for backward.
   */
  private blockForward(l: number, x: F32, out: F32, ctx: ForwardContext): void {
    const { B, T } = ctx, N = B * T, p = `L${l}`;
    const { C, NH, NKV, D, Dkv, QKV, F } = this;
    const e = this.e, ws = this.ws, w = this.tensors.layers[l]!, eps = this.config.rms_norm_eps;
    const n = this.names[l]!, side = this.side, mode = ctx.mode;
    const ln1 = this.gemmInput(ctx, [n.qW, n.kW, n.vW], `${p}.ln1`, 'ln', N * C); // (N, C)
    e.rmsnormForward(ln1, ws.f32(`${p}.rstd1`, N), x, w.ln1, N, C, eps);
    const qkv = ws.f32(`${p}.qkv`, N * QKV); // (B, T, QKV): q (NH·HS) | k (NKV·HS) | v (NKV·HS) per row
    this.linear(qkv, ln1, w.qkv, N, C, QKV);
    if (side !== null) {
      side.forward(n.q, ln1, qkv, QKV, N, mode);
      side.forward(n.k, ln1, qkv.subarray(D), QKV, N, mode);
      side.forward(n.v, ln1, qkv.subarray(D + Dkv), QKV, N, mode);
    }
    this.rope.apply(qkv, ctx.positions, NH + NKV, QKV); // q and k rotated in place, v untouched
    const att = this.gemmInput(ctx, [w.o], `${p}.att`, 'att', N * D); // (B, T, D)
    e.attentionForward(att, ws.f32(`${p}.probs`, B * NH * T * T), qkv, qkv.subarray(D), qkv.subarray(D + Dkv), null,
      ctx.maskAdd, this.fusedDims(ctx, l));
    const ao = ws.f32('ao', N * C); // (N, C)
    this.linear(ao, att, w.o, N, D, C);
    side?.forward(n.o, att, ao, C, N, mode);
    const mid = ws.f32(`${p}.mid`, N * C); // (N, C) residual after attention, norm-2 input
    e.add(mid, x, ao, N * C);
    const ln2 = this.gemmInput(ctx, [w.gate, w.up], `${p}.ln2`, 'ln', N * C); // (N, C)
    e.rmsnormForward(ln2, ws.f32(`${p}.rstd2`, N), mid, w.ln2, N, C, eps);
    const gate = ws.f32(`${p}.gate`, N * F), up = ws.f32(`${p}.up`, N * F); // (N, F) each
    this.linear(gate, ln2, w.gate, N, C, F);
    side?.forward(n.gate, ln2, gate, F, N, mode);
    this.linear(up, ln2, w.up, N, C, F);
    side?.forward(n.up, ln2, up, F, N, mode);
    const act = this.gemmInput(ctx, [w.down], `${p}.act`, 'act', N * F); // (N, F) silu(gate) * up
    e.gatedForward(Act.Silu, act, gate, up, N * F);
    const fo = ws.f32('fo', N * C); // (N, C)
    this.linear(fo, act, w.down, N, F, C);
    side?.forward(n.down, act, fo, C, N, mode);
    e.add(out, mid, fo, N * C);
  }

  // ---------------------------------------------------------------------------------------------------------
  // backward: the forward, reversed. `dres` is dLoss/d(residual stream), updated in place block by block.

  private runBackward(ctx: ForwardContext): F32 {
    const { B, T } = ctx, N = B * T, C = this.C, e = this.e, ws = this.ws;
    const L = this.config.num_hidden_layers;
    // logits = final @ lmHead^T; final = norm(resid[L])
    const w = this.tensors, dFinal = ws.zeros('dfinal', N * C); // (N, C)
    // lmHead is embed when tied: its dW lands in embed_tokens' gradient
    linearBackwardFull(e, dFinal, this.g(w.lmHead), null, ctx.dlogits!, ws.f32('final.out', N * C), w.lmHead, N, C, this.V);
    this.side?.backward('lm_head', ctx.dlogits!, this.V, dFinal, N, ctx.mode);
    const dres = ws.zeros('dres', N * C); // (N, C)
    e.rmsnormBackward(dres, this.g(w.norm), dFinal, ctx.resid[L]!, w.norm, ws.f32('final.rstd', N), N, C);
    for (let l = L - 1; l >= 0; l--) this.blockBackward(l, dres, ctx);
    return dres.slice();
  }

  /** dres: dLoss/d(block output) on entry, dLoss/d(block input) on exit. */
  private blockBackward(l: number, dres: F32, ctx: ForwardContext): void {
    const { B, T } = ctx, N = B * T, p = `L${l}`;
    const { C, NH, NKV, D, Dkv, QKV, F } = this;
    const e = this.e, ws = this.ws, w = this.tensors.layers[l]!, n = this.names[l]!, side = this.side, mode = ctx.mode;
    const g = (x: Mat) => this.g(x);
    // the GEMM inputs forward kept for trainable weights (gemmInput); null when all are frozen
    const saved = (wts: readonly Mat[], name: string, size: number): F32 | null =>
      (wts.some((x) => g(x) !== null) ? ws.f32(name, size) : null);
    // MLP: out = mid + down(act), act = silu(gate) * up, gate/up = W norm2(mid)
    const dact = ws.zeros('dact', N * F); // (N, F)
    linearBackwardFull(e, dact, g(w.down), null, dres, saved([w.down], `${p}.act`, N * F), w.down, N, F, C);
    side?.backward(n.down, dres, C, dact, N, mode);
    const dgate = ws.zeros('dgate', N * F), dup = ws.zeros('dup', N * F); // (N, F) each
    e.gatedBackward(Act.Silu, dgate, dup, dact, ws.f32(`${p}.gate`, N * F), ws.f32(`${p}.up`, N * F), N * F);
    const dln = ws.zeros('dln', N * C); // (N, C)
    const ln2 = saved([w.gate, w.up], `${p}.ln2`, N * C);
    linearBackwardFull(e, dln, g(w.gate), null, dgate, ln2, w.gate, N, C, F);
    side?.backward(n.gate, dgate, F, dln, N, mode);
    linearBackwardFull(e, dln, g(w.up), null, dup, ln2, w.up, N, C, F);
    side?.backward(n.up, dup, F, dln, N, mode);
    e.rmsnormBackward(dres, g(w.ln2), dln, ws.f32(`${p}.mid`, N * C), w.ln2, ws.f32(`${p}.rstd2`, N), N, C);
    // attention: mid = x + o(att), att = attn(rope(q), rope(k), v), q|k|v = Wqkv norm1(x)
    const datt = ws.zeros('datt', N * D); // (N, D)
    linearBackwardFull(e, datt, g(w.o), null, dres, saved([w.o], `${p}.att`, N * D), w.o, N, D, C);
    side?.backward(n.o, dres, C, datt, N, mode);
    const qkv = ws.f32(`${p}.qkv`, N * QKV); // rotated q, k as attention saw them
    const dqkv = ws.zeros('dqkv', N * QKV); // (B, T, QKV)
    e.attentionBackward(dqkv, dqkv.subarray(D), dqkv.subarray(D + Dkv), datt, qkv, qkv.subarray(D), qkv.subarray(D + Dkv),
      ws.f32(`${p}.probs`, B * NH * T * T), this.fusedDims(ctx, l));
    this.rope.apply(dqkv, ctx.positions, NH + NKV, QKV, true); // transpose rotation: d(pre-RoPE q, k)
    dln.fill(0);
    this.linearBack(dln, dqkv, w.qkv, N, C, QKV);
    const ln1 = saved([n.qW, n.kW, n.vW], `${p}.ln1`, N * C);
    if (ln1 !== null) { // dW_part (rows, C) += dqkv[:, part]^T @ ln1, one GEMM per trainable part of the fused weight
      const parts: [Mat, number, number][] = [[n.qW, 0, D], [n.kW, D, Dkv], [n.vW, D + Dkv, Dkv]];
      for (const [wp, off, rows] of parts) {
        const gp = g(wp);
        if (gp !== null) e.gemm(true, false, rows, C, N, 1, dqkv.subarray(off), QKV, ln1, C, 1, gp, C);
      }
    }
    if (side !== null) {
      side.backward(n.q, dqkv, QKV, dln, N, mode);
      side.backward(n.k, dqkv.subarray(D), QKV, dln, N, mode);
      side.backward(n.v, dqkv.subarray(D + Dkv), QKV, dln, N, mode);
    }
    e.rmsnormBackward(dres, g(w.ln1), dln, ctx.resid[l]!, w.ln1, ws.f32(`${p}.rstd1`, N), N, C);
  }

  // ---------------------------------------------------------------------------------------------------------
  // greedy generation with a KV cache

  /**
   * Greedy decoding after prompts given as embeddings (B, T, C) with mask (B, T). Positions follow HF generate:
   * cumsum(mask) − 1, so each row's real tokens sit at 0..n_b−1 whether the batch is left- or right-padded, and
   * the k-th new token of row b sits at n_b + k. The next token after the prompt is read at each row's last
   * unmasked position; new tokens go to cache slots T, T+1, … with the row's pad slots masked, so a row gives
   * the same tokens in a batch as alone. eosId (none by default) stops a row and pads it with info.padId.
   */
  generate(inputsEmbeds: F32, attentionMask: F32, B: number, T: number, opts: CausalGenerateOptions): GenerateOutput {
    const steps = opts.maxNewTokens;
    if (!(Number.isInteger(steps) && steps > 0)) {
      throw new SoftpromptError('invalid_config', `maxNewTokens must be a positive integer, got ${steps}.`, { path: 'maxNewTokens' });
    }
    this.checkBatch({ B, T, inputsEmbeds, attentionMask, labels: new Int32Array(B * T) });
    const { C, NH, NKV, HS, D, Dkv, QKV, F, V } = this;
    const e = this.e, ws = this.ws, w = this.tensors, eps = this.config.rms_norm_eps, L = this.config.num_hidden_layers;
    const Tmax = T + steps - 1; // cache slots: the prompt, then every fed-back token
    const lens = new Int32Array(B), last = new Int32Array(B), positions = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      let n = 0;
      last[b] = -1;
      for (let t = 0; t < T; t++) {
        if (attentionMask[b * T + t]! > 0) { n++; last[b] = t; }
        positions[b * T + t] = Math.max(n - 1, 0);
      }
      lens[b] = n;
      if (n === 0) throw new SoftpromptError('invalid_data', `generate: row ${b} of the attention mask has no unmasked position.`, { path: 'attentionMask' });
    }

    // prefill: the full forward over the prompts, then k|v rows into per-layer caches (B, Tmax, 2·Dkv)
    const ctx = this.makeContext(B, T, attentionMask, positions, {}, false);
    const side = this.side, mode = ctx.mode;
    const finalIn = this.blocksForward(inputsEmbeds, ctx);
    const caches: F32[] = [];
    for (let l = 0; l < L; l++) {
      const cache = ws.f32(`gen.kv.${l}`, B * Tmax * 2 * Dkv);
      const qkv = ws.f32(`L${l}.qkv`, B * T * QKV);
      for (let b = 0; b < B; b++)
        for (let t = 0; t < T; t++)
          cache.set(qkv.subarray((b * T + t) * QKV + D, (b * T + t + 1) * QKV), (b * Tmax + t) * 2 * Dkv);
      caches.push(cache);
    }
    const keyMask = new Float32Array(B * Tmax); // (B, Tmax): the prompt's key mask, then 0 for generated slots
    for (let b = 0; b < B; b++) keyMask.set(ctx.maskAdd.subarray(b * T, (b + 1) * T), b * Tmax);

    const x = ws.f32('gen.x', B * C); // (B, C) residual stream of the newest position
    for (let b = 0; b < B; b++) x.set(finalIn.subarray((b * T + last[b]!) * C, (b * T + last[b]! + 1) * C), b * C);
    const ln = ws.f32('gen.ln', B * C), qkv = ws.f32('gen.qkv', B * QKV), att = ws.f32('gen.att', B * D);
    const ao = ws.f32('gen.ao', B * C), gate = ws.f32('gen.gate', B * F), up = ws.f32('gen.up', B * F);
    const act = ws.f32('gen.act', B * F), logits = ws.f32('gen.logits', B * V), probs = ws.f32('gen.probs', B * NH * Tmax);
    const stepMask = ws.f32('gen.mask', B * Tmax), pos = new Int32Array(B), cur = new Int32Array(B);

    const ids = new Int32Array(B * steps);
    const stepLogits = opts.keepStepLogits ? new Float32Array(steps * B * V) : undefined;
    const finished = new Uint8Array(B);
    const eos = opts.eosId ?? null;
    let done = 0;
    for (let k = 0; k < steps; k++) {
      if (k > 0) { // feed back token k-1 at cache slot T+k-1, position n_b+k-1
        const slot = T + k - 1, Tk = slot + 1;
        embedRows(e, x, cur, w.embed, B, C, V);
        for (let b = 0; b < B; b++) {
          pos[b] = lens[b]! + k - 1;
          stepMask.set(keyMask.subarray(b * Tmax, b * Tmax + Tk), b * Tk); // (B, Tk)
        }
        const dims: AttnDims = {
          B, NH, NKV, Tq: 1, Tk, HS, qRow: QKV, kRow: 2 * Dkv, vRow: 2 * Dkv,
          qBatch: QKV, kBatch: Tmax * 2 * Dkv, vBatch: Tmax * 2 * Dkv, causal: false, scale: 1 / Math.sqrt(HS),
        };
        for (let l = 0; l < L; l++) {
          const lw = w.layers[l]!, cache = caches[l]!, n = this.names[l]!;
          e.rmsnormForward(ln, null, x, lw.ln1, B, C, eps);
          this.linear(qkv, ln, lw.qkv, B, C, QKV); // (B, QKV)
          if (side !== null) {
            side.forward(n.q, ln, qkv, QKV, B, mode);
            side.forward(n.k, ln, qkv.subarray(D), QKV, B, mode);
            side.forward(n.v, ln, qkv.subarray(D + Dkv), QKV, B, mode);
          }
          this.rope.apply(qkv, pos, NH + NKV, QKV);
          for (let b = 0; b < B; b++) cache.set(qkv.subarray(b * QKV + D, (b + 1) * QKV), (b * Tmax + slot) * 2 * Dkv);
          e.attentionForward(att, probs.subarray(0, B * NH * Tk), qkv, cache, cache.subarray(Dkv), null,
            stepMask.subarray(0, B * Tk), dims);
          this.linear(ao, att, lw.o, B, D, C);
          side?.forward(n.o, att, ao, C, B, mode);
          e.add(x, x, ao, B * C);
          e.rmsnormForward(ln, null, x, lw.ln2, B, C, eps);
          this.linear(gate, ln, lw.gate, B, C, F);
          side?.forward(n.gate, ln, gate, F, B, mode);
          this.linear(up, ln, lw.up, B, C, F);
          side?.forward(n.up, ln, up, F, B, mode);
          e.gatedForward(Act.Silu, act, gate, up, B * F);
          this.linear(ao, act, lw.down, B, F, C);
          side?.forward(n.down, act, ao, C, B, mode);
          e.add(x, x, ao, B * C);
        }
      }
      e.rmsnormForward(ln, null, x, w.norm, B, C, eps);
      this.linear(logits, ln, w.lmHead, B, C, V); // (B, V)
      side?.forward('lm_head', ln, logits, V, B, mode);
      if (stepLogits) stepLogits.set(logits, k * B * V);
      for (let b = 0; b < B; b++) {
        const row = logits.subarray(b * V, (b + 1) * V);
        let best = 0;
        for (let j = 1; j < V; j++) if (row[j]! > row[best]!) best = j;
        const next = finished[b] ? this.info.padId : best;
        ids[b * steps + k] = next;
        cur[b] = next;
        if (!finished[b] && eos !== null && next === eos) { finished[b] = 1; done++; }
      }
      opts.onStep?.(cur);
      if (done === B) {
        const n = k + 1;
        const out = new Int32Array(B * n);
        for (let b = 0; b < B; b++) out.set(ids.subarray(b * steps, b * steps + n), b * n);
        return stepLogits ? { ids: out, steps: n, stepLogits: stepLogits.subarray(0, n * B * V) } : { ids: out, steps: n };
      }
    }
    return stepLogits ? { ids, steps, stepLogits } : { ids, steps };
  }
}
