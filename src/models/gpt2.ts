/**
 * GPT-2 (decoder-only), forward and backward to inputs_embeds, plus greedy KV-cache decoding.
 *
 * Mirrors Hugging Face `GPT2LMHeadModel` (transformers/models/gpt2/modeling_gpt2.py): h0 = inputs_embeds +
 * wpe[position_ids], pre-LN blocks (LayerNorm with bias) `h += c_proj(attn(ln_1(h)))`,
 * `h += mlp.c_proj(act(mlp.c_fc(ln_2(h))))`, final ln_f, LM head tied to wte (no bias, no rescale). Attention is
 * causal plus an additive key-padding mask, scores scaled by 1/sqrt(head_dim) (scale_attn_weights) and optionally
 * 1/(layer+1). Dropout (train): embd_pdrop on h0, attn_pdrop on the attention probabilities, resid_pdrop on both
 * c_proj outputs. Paper: Radford et al. 2019, "Language Models are Unsupervised Multitask Learners".
 *
 * Positions: `batch.positionIds`, else arange(T) for every row over the full length, prompt included, ignoring the
 * mask (transformers 5.x forward without position_ids). generate() instead uses cumsum(mask) - 1, as HF
 * `generate` does, and continues from each row's real length, so right-padded rows decode like unpadded ones.
 *
 * Loss: CE(logits[:, :-1], labels[:, 1:]) ignoring -100, mean over the batch's non-ignored tokens.
 * tokenNll (B, T) is aligned with the labels: tokenNll[b, t] = -log p(labels[b, t] | x[b, <t]); column 0 and
 * ignored labels are 0 (same convention as llama.ts).
 *
 * Dims: B batch, T length (prompt included), N = B*T, C = n_embd, NH = n_head, HS = C/NH, F = n_inner (4C),
 * V vocab, P = n_positions, L layers. Backward is the forward's kernel list, reversed (llm.c style), down to
 * dLoss/dInputsEmbeds (B, T, C), the gradient of the token-embedding part. Weights are frozen unless named in
 * setTrainable (WeightTraining, types.ts): then their dW slots accumulate (+=) and forward keeps the per-layer
 * GEMM inputs they need; frozen weights cost nothing. Conv1D weights are held transposed, so their gradients are
 * (out, in) too. Side paths (LoRA) run right after each targeted linear's GEMM and input-gradient GEMM.
 */
import { MASK_MIN, contiguousAttn, engine, type Act, type AttnDims } from '../engine/index.js';
import { SoftpromptError } from '../errors.js';
import {
  effectivePrecision, embedRows, linearBackwardFull, linearForward, toMat, toTable, type Mat, type Precision, type Table,
} from './frozen-weight.js';
import { gpt2Activation, gpt2Inner, parseGPT2Config, type GPT2Config } from './gpt2-config.js';
import type {
  CausalBatch, CausalGenerateOptions, CausalLM, CausalOutput, ForwardOptions, GenerateOutput, LinearModule, LinearSidePath,
  ModelInfo, ModelWeight, WeightSource, WeightTraining,
} from './types.js';
import { checkLayerCount } from './types.js';
import { GradTable, SidePaths, embedScatter, heldWeight, refuseBf16Trainable, type HeldWeight, type SideMode } from './weight-grads.js';
import { Workspace } from './workspace.js';

export { parseGPT2Config, type GPT2Config };

type F32 = Float32Array;

/** One transformer.h.{l}. Conv1D weights are held transposed to the nn.Linear (out, in) layout matmul expects. */
interface GPT2Block {
  ln1w: F32; // (C)
  ln1b: F32; // (C)
  attnW: Mat; // (3C, C): q | k | v rows; c_attn.weight^T
  attnB: F32; // (3C)
  projW: Mat; // (C, C) attn.c_proj.weight^T
  projB: F32; // (C)
  ln2w: F32; // (C)
  ln2b: F32; // (C)
  fcW: Mat; // (F, C) mlp.c_fc.weight^T
  fcB: F32; // (F)
  mprojW: Mat; // (C, F) mlp.c_proj.weight^T
  mprojB: F32; // (C)
}
/** GEMM weights are `Mat`: fp32, or (precision 'bf16') bf16 held once by the engine; biases, norms, wpe stay fp32. */
export interface GPT2Weights {
  wte: Table; // (V, C); bf16 bits in precision 'bf16'
  wpe: F32; // (P, C)
  blocks: GPT2Block[];
  lnfW: F32; // (C)
  lnfB: F32; // (C)
  lmHead: Mat; // (V, C); === wte when tied and fp32
}

export interface GPT2TensorRow {
  name: string;
  /** the shape stored in the checkpoint */
  shape: number[];
  /** Conv1D: stored [in, out]; loaded transposed to (out, in) */
  transposed?: boolean;
}

/**
 * HF tensor names and shapes, the loading contract (`transformer.` prefix as GPT2LMHeadModel.save_pretrained
 * writes; the original openai-community/gpt2 files have no prefix, which the loader also accepts). The tied
 * lm_head.weight is not stored; the attn.bias / attn.masked_bias causal-mask buffers of old checkpoints are ignored.
 */
export function gpt2TensorTable(cfg: GPT2Config, prefix = 'transformer.'): GPT2TensorRow[] {
  const C = cfg.n_embd, F = gpt2Inner(cfg), V = cfg.vocab_size;
  const rows: GPT2TensorRow[] = [
    { name: `${prefix}wte.weight`, shape: [V, C] },
    { name: `${prefix}wpe.weight`, shape: [cfg.n_positions, C] },
  ];
  for (let l = 0; l < cfg.n_layer; l++) {
    const h = `${prefix}h.${l}`;
    rows.push(
      { name: `${h}.ln_1.weight`, shape: [C] }, { name: `${h}.ln_1.bias`, shape: [C] },
      { name: `${h}.attn.c_attn.weight`, shape: [C, 3 * C], transposed: true }, { name: `${h}.attn.c_attn.bias`, shape: [3 * C] },
      { name: `${h}.attn.c_proj.weight`, shape: [C, C], transposed: true }, { name: `${h}.attn.c_proj.bias`, shape: [C] },
      { name: `${h}.ln_2.weight`, shape: [C] }, { name: `${h}.ln_2.bias`, shape: [C] },
      { name: `${h}.mlp.c_fc.weight`, shape: [C, F], transposed: true }, { name: `${h}.mlp.c_fc.bias`, shape: [F] },
      { name: `${h}.mlp.c_proj.weight`, shape: [F, C], transposed: true }, { name: `${h}.mlp.c_proj.bias`, shape: [C] },
    );
  }
  rows.push({ name: `${prefix}ln_f.weight`, shape: [C] }, { name: `${prefix}ln_f.bias`, shape: [C] });
  if (!cfg.tie_word_embeddings) rows.push({ name: 'lm_head.weight', shape: [V, C] });
  return rows;
}

/** (cols, rows) copy of a row-major (rows, cols) matrix. */
function transpose(x: F32, rows: number, cols: number): F32 {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j]!;
  return out;
}

/** precision 'bf16': each GEMM weight and wte are rounded to bf16 as they are read and only that copy is kept */
export function loadGPT2Weights(cfg: GPT2Config, src: WeightSource, precision: Precision = 'fp32'): GPT2Weights {
  const prefix = src.has('transformer.wte.weight') || !src.has('wte.weight') ? 'transformer.' : '';
  const hint = `config.json gives n_embd=${cfg.n_embd}, n_inner=${gpt2Inner(cfg)}, n_positions=${cfg.n_positions}, vocab_size=${cfg.vocab_size}. Does the checkpoint belong to this config?`;
  checkLayerCount(src, 'n_layer', cfg.n_layer, (l) => `${prefix}h.${l}.ln_1.weight`);
  const table = new Map(gpt2TensorTable(cfg, prefix).map((r) => [r.name, r]));
  const get = (name: string): F32 => {
    const row = table.get(prefix + name) ?? table.get(name)!;
    const x = src.getF32Checked(row.name, row.shape, hint);
    return row.transposed ? transpose(x, row.shape[0]!, row.shape[1]!) : x;
  };
  const C = cfg.n_embd, F = gpt2Inner(cfg), V = cfg.vocab_size;
  const mat = (name: string, rows: number, cols: number): Mat => toMat(get(name), rows, cols, precision);
  const blocks: GPT2Block[] = [];
  for (let l = 0; l < cfg.n_layer; l++) {
    const h = `h.${l}`;
    blocks.push({
      ln1w: get(`${h}.ln_1.weight`), ln1b: get(`${h}.ln_1.bias`),
      attnW: mat(`${h}.attn.c_attn.weight`, 3 * C, C), attnB: get(`${h}.attn.c_attn.bias`),
      projW: mat(`${h}.attn.c_proj.weight`, C, C), projB: get(`${h}.attn.c_proj.bias`),
      ln2w: get(`${h}.ln_2.weight`), ln2b: get(`${h}.ln_2.bias`),
      fcW: mat(`${h}.mlp.c_fc.weight`, F, C), fcB: get(`${h}.mlp.c_fc.bias`),
      mprojW: mat(`${h}.mlp.c_proj.weight`, C, F), mprojB: get(`${h}.mlp.c_proj.bias`),
    });
  }
  const wte = get('wte.weight');
  return {
    wte: toTable(wte, precision), wpe: get('wpe.weight'), blocks, lnfW: get('ln_f.weight'), lnfB: get('ln_f.bias'),
    lmHead: cfg.tie_word_embeddings ? toMat(wte, V, C, precision) : mat('lm_head.weight', V, C),
  };
}

/** Dropout sites get distinct seeds derived from the step's base seed (as in t5.ts). */
function siteSeed(base: number, site: number): number {
  return (base % 0x100000000) * 0x100000 + site;
}

/** Everything forward saved that backward needs. */
interface ForwardContext {
  B: number;
  T: number;
  train: boolean;
  seed: number;
  maskAdd: F32; // (B, T) 0 or MASK_MIN per key
  dlogits: F32 | null; // (N, V)
  last: F32 | null; // (N, C) residual stream after the last block (ln_f input)
  pos: Int32Array; // (B, T) position ids (wpe rows)
  /** what side paths see: train mode, seed, and whether a backward follows */
  mode: SideMode;
}

/** HF module paths of one block's linear layers (side-path targets). */
interface GPT2BlockModules {
  cAttn: string;
  attnProj: string;
  fc: string;
  mlpProj: string;
}

export class GPT2Model implements CausalLM, WeightTraining {
  readonly info: ModelInfo;
  private readonly act: Act;
  private readonly ws = new Workspace();
  private readonly e = engine();
  private readonly modules: GPT2BlockModules[];
  private grads: GradTable | null = null;
  private side: SidePaths | null = null;

  constructor(readonly config: GPT2Config, readonly tensors: GPT2Weights) {
    this.act = gpt2Activation(config);
    this.modules = tensors.blocks.map((_, l) => ({
      cAttn: `transformer.h.${l}.attn.c_attn`, attnProj: `transformer.h.${l}.attn.c_proj`,
      fc: `transformer.h.${l}.mlp.c_fc`, mlpProj: `transformer.h.${l}.mlp.c_proj`,
    }));
    this.info = {
      architecture: 'gpt2', kind: 'causal', dModel: config.n_embd, vocabSize: config.vocab_size,
      padId: this.padId, eosId: config.eos_token_id ?? -1, numLayers: config.n_layer, numHeads: config.n_head,
      maxPositions: config.n_positions,
    };
  }

  /** precision 'bf16': frozen GEMM weights held only in bf16, GEMMs on oneDNN (fp32, with a notice, without native bf16) */
  static load(configJson: unknown, src: WeightSource, configFile = 'config.json', precision: Precision = 'fp32'): GPT2Model {
    const cfg = parseGPT2Config(configJson, configFile);
    return new GPT2Model(cfg, loadGPT2Weights(cfg, src, effectivePrecision(precision)));
  }

  get precision(): Precision {
    return this.tensors.lmHead instanceof Float32Array ? 'fp32' : 'bf16';
  }

  /** pad_token_id, else eos_token_id (GPT-2 has no pad token; DePT sets pad = eos), else 0 */
  get padId(): number {
    return this.config.pad_token_id ?? this.config.eos_token_id ?? 0;
  }

  /** Bytes of activation buffers held between steps. */
  workspaceBytes(): number {
    return this.ws.bytes();
  }

  /** (N, C) rows of wte; no position embedding. */
  embed(ids: Int32Array): F32 {
    const C = this.config.n_embd;
    const out = new Float32Array(ids.length * C);
    const bad = embedRows(this.e, out, ids, this.tensors.wte, ids.length, C, this.config.vocab_size);
    if (bad >= 0) {
      throw new SoftpromptError('invalid_data',
        `Token id ${ids[bad]} at position ${bad} is outside the vocabulary [0, ${this.config.vocab_size}).`);
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
   * Every tensor by its GPT2LMHeadModel name (`transformer.` prefix); Conv1D weights are held transposed. In
   * precision 'bf16' the GEMM weights and wte are listed as fp32 copies widened when read.
   */
  weights(): ModelWeight[] {
    return this.heldWeights();
  }

  private heldWeights(): HeldWeight[] {
    const w = this.tensors, byName = new Map<string, Mat | Table>([
      ['transformer.wte.weight', w.wte], ['transformer.wpe.weight', w.wpe],
      ['transformer.ln_f.weight', w.lnfW], ['transformer.ln_f.bias', w.lnfB], ['lm_head.weight', w.lmHead],
    ]);
    w.blocks.forEach((b, l) => {
      const h = `transformer.h.${l}`;
      const rows: [string, Mat][] = [
        ['ln_1.weight', b.ln1w], ['ln_1.bias', b.ln1b], ['attn.c_attn.weight', b.attnW], ['attn.c_attn.bias', b.attnB],
        ['attn.c_proj.weight', b.projW], ['attn.c_proj.bias', b.projB], ['ln_2.weight', b.ln2w], ['ln_2.bias', b.ln2b],
        ['mlp.c_fc.weight', b.fcW], ['mlp.c_fc.bias', b.fcB], ['mlp.c_proj.weight', b.mprojW], ['mlp.c_proj.bias', b.mprojB],
      ];
      for (const [n, x] of rows) byName.set(`${h}.${n}`, x);
    });
    return gpt2TensorTable(this.config).map((r) => heldWeight(r.name, r.shape, byName.get(r.name)!, r.transposed === true));
  }

  linearModules(): LinearModule[] {
    const C = this.config.n_embd, F = gpt2Inner(this.config);
    const out: LinearModule[] = [];
    for (const m of this.modules) {
      out.push({ name: m.cAttn, inFeatures: C, outFeatures: 3 * C }, { name: m.attnProj, inFeatures: C, outFeatures: C },
        { name: m.fc, inFeatures: C, outFeatures: F }, { name: m.mlpProj, inFeatures: F, outFeatures: C });
    }
    out.push({ name: 'lm_head', inFeatures: C, outFeatures: this.config.vocab_size });
    return out;
  }

  setTrainable(names: readonly string[]): Map<string, F32> {
    const weights = this.heldWeights();
    refuseBf16Trainable('GPT-2', weights, names);
    const table = names.length === 0 ? null : new GradTable('GPT-2', weights, names);
    this.grads = table;
    return table === null ? new Map() : table.byName;
  }

  setSidePaths(paths: ReadonlyMap<string, LinearSidePath> | null): void {
    this.side = SidePaths.create('GPT-2', paths, this.linearModules().map((m) => m.name));
  }

  embedBackward(ids: Int32Array, dInputsEmbeds: F32, B: number, T: number, skip: number): void {
    const g = this.grads?.get(this.tensors.wte) ?? null;
    if (g !== null) embedScatter(g, ids, dInputsEmbeds, B, T, skip, this.config.n_embd, this.config.vocab_size, 'GPT-2');
  }

  /** dW slot of a weight: null when frozen */
  private g(w: Mat | Table): F32 | null {
    return this.grads === null ? null : this.grads.get(w);
  }

  /** Where the input of the GEMM with weight w goes: a per-layer buffer when its dW will be needed, else scratch. */
  private gemmInput(ctx: ForwardContext, w: Mat, perLayer: string, scratch: string, n: number): F32 {
    return this.ws.f32(ctx.mode.saveForBackward && this.g(w) !== null ? perLayer : scratch, n);
  }

  // ---------------------------------------------------------------------------------------------------------
  // forward

  private checkBatch(b: CausalBatch): void {
    const C = this.config.n_embd;
    const want = (what: string, got: number, expected: number) => {
      if (got !== expected) {
        throw new SoftpromptError('shape_mismatch', `GPT-2 batch: ${what} has ${got} elements, expected ${expected} (B=${b.B}, T=${b.T}, C=${C}).`, { path: what });
      }
    };
    if (!(b.B > 0 && b.T > 0)) throw new SoftpromptError('invalid_data', `GPT-2 batch: B=${b.B}, T=${b.T} must both be > 0.`);
    want('inputsEmbeds', b.inputsEmbeds.length, b.B * b.T * C);
    want('attentionMask', b.attentionMask.length, b.B * b.T);
    want('labels', b.labels.length, b.B * b.T);
    if (b.positionIds !== undefined) want('positionIds', b.positionIds.length, b.B * b.T);
  }

  /** (B, T) positions: the batch's own, else arange(T) per row; all must index wpe. */
  private positions(b: CausalBatch): Int32Array {
    const P = this.config.n_positions;
    if (b.positionIds === undefined && b.T > P) {
      throw new SoftpromptError('invalid_data',
        `Cannot forward a sequence of length ${b.T} (prompt included): GPT-2's n_positions is only ${P}.`,
        { path: 'n_positions', hint: 'Truncate the input (--max-length) or use fewer virtual tokens.' });
    }
    const pos = b.positionIds ?? Int32Array.from({ length: b.B * b.T }, (_, i) => i % b.T);
    for (let i = 0; i < pos.length; i++) {
      if (pos[i]! < 0 || pos[i]! >= P) {
        throw new SoftpromptError('invalid_data', `Position id ${pos[i]} at (${Math.floor(i / b.T)}, ${i % b.T}) is outside [0, n_positions=${P}).`,
          { path: 'positionIds' });
      }
    }
    return pos;
  }

  private maskAdd(name: string, mask: F32, n: number): F32 {
    const m = this.ws.f32(name, n); // (B, T)
    for (let i = 0; i < n; i++) m[i] = mask[i]! > 0 ? 0 : MASK_MIN;
    return m;
  }

  /**
   * h0 = drop(X + wpe[pos]), then the L blocks; returns the residual stream after the last block (N, C).
   * hidden, when given, receives every block's input.
   */
  private trunk(X: F32, pos: Int32Array, ctx: ForwardContext, hidden: F32[] | null): F32 {
    const cfg = this.config, e = this.e, N = ctx.B * ctx.T, C = cfg.n_embd;
    const h0 = this.ws.f32('h0', N * C); // (B, T, C)
    e.embedding(h0, pos, this.tensors.wpe, N, C, cfg.n_positions); // wpe[pos]
    e.add(h0, h0, X, N * C); // + inputs_embeds
    let h = this.dropoutF('h0.drop', h0, N * C, ctx, cfg.embd_pdrop, 1);
    for (let l = 0; l < cfg.n_layer; l++) {
      if (hidden !== null) hidden.push(h.slice());
      h = this.blockForward(l, h, ctx);
    }
    return h;
  }

  private runForward(batch: CausalBatch, opts: ForwardOptions, saveForBackward: boolean):
    { out: CausalOutput; ctx: ForwardContext } {
    this.checkBatch(batch);
    const cfg = this.config, w = this.tensors, e = this.e, ws = this.ws;
    const { B, T } = batch;
    const C = cfg.n_embd, V = cfg.vocab_size, N = B * T;
    const pos = this.positions(batch);
    const train = opts.train === true, seed = opts.seed ?? 0;
    const ctx: ForwardContext = {
      B, T, train, seed, maskAdd: this.maskAdd('maskAdd', batch.attentionMask, N),
      dlogits: null, last: null, pos, mode: { train, seed, saveForBackward },
    };
    const hidden: F32[] | null = opts.outputHiddenStates ? [] : null;
    const hL = this.trunk(batch.inputsEmbeds, pos, ctx, hidden); // (N, C)
    ctx.last = hL;
    const lnf = ws.f32('lnf', N * C); // (N, C) ln_f(h_L)
    e.layernormForward(lnf, ws.f32('lnf.mean', N), ws.f32('lnf.rstd', N), hL, w.lnfW, w.lnfB, N, C, cfg.layer_norm_epsilon);
    if (hidden !== null) hidden.push(lnf.slice());
    const logits = ws.f32('logits', N * V); // (N, V) = lnf @ wte^T
    linearForward(e, logits, lnf, w.lmHead, N, C, V);
    this.side?.forward('lm_head', lnf, logits, V, N, ctx.mode);

    // ---- loss: position t predicts labels[t+1]; mean over non-ignored label tokens of the batch
    const targets = new Int32Array(N).fill(-100); // (B, T) shifted labels, last column ignored
    for (let b = 0; b < B; b++) targets.set(batch.labels.subarray(b * T + 1, (b + 1) * T), b * T);
    let numTokens = 0;
    for (let i = 0; i < N; i++) if (targets[i] !== -100) numTokens++;
    const keep = opts.keepLogits === true ? logits.slice() : undefined;
    const dlogits = saveForBackward ? logits : null; // in place: logits are not needed after the loss
    const losses = ws.f32('losses', N); // (B, T) row t: -log p(labels[t+1])
    const rc = e.crossEntropy(losses, null, dlogits, logits, targets, N, V, numTokens > 0 ? 1 / numTokens : 0, -100);
    if (rc < 0) {
      const i = -rc - 1;
      throw new SoftpromptError('invalid_data',
        `Label ${targets[i]} at (${Math.floor(i / T)}, ${(i % T) + 1}) is outside the vocabulary [0, ${V}) and is not -100.`, { path: 'labels' });
    }
    const tokenNll = new Float32Array(N); // (B, T) aligned with the labels
    let sum = 0;
    for (let b = 0; b < B; b++) for (let t = 0; t + 1 < T; t++) {
      const x = losses[b * T + t]!;
      tokenNll[b * T + t + 1] = x;
      sum += x;
    }
    ctx.dlogits = dlogits;
    const out: CausalOutput = { loss: numTokens > 0 ? sum / numTokens : 0, tokenNll, numTokens };
    if (keep) out.logits = keep;
    if (hidden !== null) out.hiddenStates = hidden;
    return { out, ctx };
  }

  /** dropout(p) on (n) elements of x into the buffer `name`; identity (returns x) when not training or p = 0. */
  private dropoutF(name: string, x: F32, n: number, ctx: ForwardContext, p: number, site: number): F32 {
    if (!ctx.train || p === 0) return x;
    const out = this.ws.f32(name, n);
    this.e.dropoutForward(out, this.ws.u8(`${name}.keep`, n), x, p, siteSeed(ctx.seed, site), n);
    return out;
  }

  private dropoutB(name: string, dout: F32, n: number, ctx: ForwardContext, p: number): F32 {
    if (!ctx.train || p === 0) return dout;
    const din = this.ws.f32(`${name}.grad`, n);
    this.e.dropoutBackward(din, dout, this.ws.u8(`${name}.keep`, n), p, n);
    return din;
  }

  /** 1/sqrt(HS) (scale_attn_weights), times 1/(l+1) with scale_attn_by_inverse_layer_idx */
  private attnScale(l: number): number {
    const cfg = this.config;
    const s = cfg.scale_attn_weights ? 1 / Math.sqrt(cfg.n_embd / cfg.n_head) : 1;
    return cfg.scale_attn_by_inverse_layer_idx ? s / (l + 1) : s;
  }

  /** Causal self-attention over a fused (B, T, 3C) q | k | v buffer. */
  private fusedDims(l: number, ctx: ForwardContext): AttnDims {
    const { n_head: NH, n_embd: C } = this.config;
    const { B, T } = ctx;
    const d = contiguousAttn(B, NH, T, T, C / NH, { causal: true, scale: this.attnScale(l) });
    if (ctx.train && this.config.attn_pdrop > 0) {
      d.dropP = this.config.attn_pdrop;
      d.dropSeed = siteSeed(ctx.seed, 100 + 10 * l);
    }
    return { ...d, qRow: 3 * C, kRow: 3 * C, vRow: 3 * C, qBatch: T * 3 * C, kBatch: T * 3 * C, vBatch: T * 3 * C };
  }

  /** h_out = h + drop(c_proj(attn(ln_1(h)))); h_out += drop(mlp(ln_2(h_out))). Saves h.{l}.* for backward. */
  private blockForward(l: number, h: F32, ctx: ForwardContext): F32 {
    const cfg = this.config, e = this.e, ws = this.ws, blk = this.tensors.blocks[l]!;
    const C = cfg.n_embd, F = gpt2Inner(cfg), NH = cfg.n_head, N = ctx.B * ctx.T, T = ctx.T, eps = cfg.layer_norm_epsilon;
    const p = `h.${l}`, rp = cfg.resid_pdrop, m = this.modules[l]!, side = this.side;
    const hin = ws.f32(`${p}.in`, N * C); // (B, T, C) block input, ln_1 input
    hin.set(h);
    const ln1 = this.gemmInput(ctx, blk.attnW, `${p}.ln1`, 'ln', N * C); // (N, C)
    e.layernormForward(ln1, ws.f32(`${p}.mean1`, N), ws.f32(`${p}.rstd1`, N), hin, blk.ln1w, blk.ln1b, N, C, eps);
    const qkv = ws.f32(`${p}.qkv`, N * 3 * C); // (B, T, 3C): q | k | v per row
    linearForward(e, qkv, ln1, blk.attnW, N, C, 3 * C, blk.attnB);
    side?.forward(m.cAttn, ln1, qkv, 3 * C, N, ctx.mode);
    const att = this.gemmInput(ctx, blk.projW, `${p}.att`, 'att', N * C); // (B, T, C) heads side by side
    e.attentionForward(att, ws.f32(`${p}.probs`, ctx.B * NH * T * T), qkv, qkv.subarray(C), qkv.subarray(2 * C), null,
      ctx.maskAdd, this.fusedDims(l, ctx));
    const ao = ws.f32('ao', N * C); // (N, C) attn.c_proj
    linearForward(e, ao, att, blk.projW, N, C, C, blk.projB);
    side?.forward(m.attnProj, att, ao, C, N, ctx.mode);
    const mid = ws.f32(`${p}.mid`, N * C); // (N, C) ln_2 input
    e.add(mid, hin, this.dropoutF(`${p}.ao`, ao, N * C, ctx, rp, 101 + 10 * l), N * C);
    const ln2 = this.gemmInput(ctx, blk.fcW, `${p}.ln2`, 'ln', N * C); // (N, C)
    e.layernormForward(ln2, ws.f32(`${p}.mean2`, N), ws.f32(`${p}.rstd2`, N), mid, blk.ln2w, blk.ln2b, N, C, eps);
    const pre = ws.f32(`${p}.pre`, N * F); // (N, F) c_fc output, activation input
    linearForward(e, pre, ln2, blk.fcW, N, C, F, blk.fcB);
    side?.forward(m.fc, ln2, pre, F, N, ctx.mode);
    const act = this.gemmInput(ctx, blk.mprojW, `${p}.act`, 'act', N * F); // (N, F)
    e.actForward(this.act, act, pre, N * F);
    const fo = ws.f32('fo', N * C); // (N, C) mlp.c_proj
    linearForward(e, fo, act, blk.mprojW, N, F, C, blk.mprojB);
    side?.forward(m.mlpProj, act, fo, C, N, ctx.mode);
    const out = ws.f32('h.next', N * C);
    e.add(out, mid, this.dropoutF(`${p}.fo`, fo, N * C, ctx, rp, 102 + 10 * l), N * C);
    return out;
  }

  // ---------------------------------------------------------------------------------------------------------
  // backward: the forward, reversed. `dres` is dLoss/d(residual stream) and is accumulated in place.

  private runBackward(ctx: ForwardContext): F32 {
    const cfg = this.config, w = this.tensors, e = this.e, ws = this.ws;
    const C = cfg.n_embd, V = cfg.vocab_size, N = ctx.B * ctx.T;
    // logits = lnf @ lmHead^T (lmHead is wte when tied: its dW lands in wte's gradient)
    const dlnf = ws.zeros('dlnf', N * C), lnf = ws.f32('lnf', N * C);
    linearBackwardFull(e, dlnf, this.g(w.lmHead), null, ctx.dlogits!, lnf, w.lmHead, N, C, V);
    this.side?.backward('lm_head', ctx.dlogits!, V, dlnf, N, ctx.mode);
    const dres = ws.zeros('dres', N * C);
    e.layernormBackward(dres, this.g(w.lnfW), this.g(w.lnfB), dlnf, ctx.last!, w.lnfW, ws.f32('lnf.mean', N),
      ws.f32('lnf.rstd', N), N, C);
    for (let l = cfg.n_layer - 1; l >= 0; l--) this.blockBackward(l, dres, ctx);
    // h0 = drop(X + wpe[pos]): dX = drop'(dres), dwpe[pos] += dX
    const dX = this.dropoutB('h0.drop', dres, N * C, ctx, cfg.embd_pdrop);
    const dwpe = this.g(w.wpe);
    if (dwpe !== null) e.embeddingBackward(dwpe, ctx.pos, dX, N, C, cfg.n_positions);
    return dX.slice();
  }

  private blockBackward(l: number, dres: F32, ctx: ForwardContext): void {
    const cfg = this.config, e = this.e, ws = this.ws, blk = this.tensors.blocks[l]!;
    const C = cfg.n_embd, F = gpt2Inner(cfg), NH = cfg.n_head, N = ctx.B * ctx.T, T = ctx.T;
    const p = `h.${l}`, rp = cfg.resid_pdrop, m = this.modules[l]!, side = this.side, g = (w: Mat) => this.g(w);
    // the GEMM inputs forward kept for a trainable weight (gemmInput); null when the weight is frozen
    const saved = (w: Mat, name: string, n: number): F32 | null => (g(w) === null ? null : ws.f32(name, n));
    // forward: out = mid + drop(c_proj(act(c_fc(ln_2(mid)))))
    const dfo = this.dropoutB(`${p}.fo`, dres, N * C, ctx, rp); // (N, C)
    const dact = ws.zeros('dact', N * F);
    linearBackwardFull(e, dact, g(blk.mprojW), g(blk.mprojB), dfo, saved(blk.mprojW, `${p}.act`, N * F), blk.mprojW, N, F, C);
    side?.backward(m.mlpProj, dfo, C, dact, N, ctx.mode);
    const dpre = ws.zeros('dpre', N * F);
    e.actBackward(this.act, dpre, dact, ws.f32(`${p}.pre`, N * F), N * F);
    const dln = ws.zeros('dln', N * C);
    linearBackwardFull(e, dln, g(blk.fcW), g(blk.fcB), dpre, saved(blk.fcW, `${p}.ln2`, N * C), blk.fcW, N, C, F);
    side?.backward(m.fc, dpre, F, dln, N, ctx.mode);
    e.layernormBackward(dres, g(blk.ln2w), g(blk.ln2b), dln, ws.f32(`${p}.mid`, N * C), blk.ln2w, ws.f32(`${p}.mean2`, N),
      ws.f32(`${p}.rstd2`, N), N, C);
    // forward: mid = in + drop(c_proj(attn(q, k, v))), q | k | v = c_attn(ln_1(in))
    const dao = this.dropoutB(`${p}.ao`, dres, N * C, ctx, rp);
    const datt = ws.zeros('datt', N * C);
    linearBackwardFull(e, datt, g(blk.projW), g(blk.projB), dao, saved(blk.projW, `${p}.att`, N * C), blk.projW, N, C, C);
    side?.backward(m.attnProj, dao, C, datt, N, ctx.mode);
    const qkv = ws.f32(`${p}.qkv`, N * 3 * C), dqkv = ws.zeros('dqkv', N * 3 * C);
    e.attentionBackward(dqkv, dqkv.subarray(C), dqkv.subarray(2 * C), datt, qkv, qkv.subarray(C), qkv.subarray(2 * C),
      ws.f32(`${p}.probs`, ctx.B * NH * T * T), this.fusedDims(l, ctx));
    dln.fill(0);
    linearBackwardFull(e, dln, g(blk.attnW), g(blk.attnB), dqkv, saved(blk.attnW, `${p}.ln1`, N * C), blk.attnW, N, C, 3 * C);
    side?.backward(m.cAttn, dqkv, 3 * C, dln, N, ctx.mode);
    e.layernormBackward(dres, g(blk.ln1w), g(blk.ln1b), dln, ws.f32(`${p}.in`, N * C), blk.ln1w, ws.f32(`${p}.mean1`, N),
      ws.f32(`${p}.rstd1`, N), N, C);
  }

  // ---------------------------------------------------------------------------------------------------------
  // greedy generation with a KV cache (HF generate semantics, no logits processors)

  /**
   * Prefill on (B, T) embeddings with positions cumsum(mask) - 1 (pads: 1, as HF), then feed one token at a
   * time at slot T + t, position len_b + t (len_b = real tokens of row b). The first token comes from each row's
   * last attended position, so right padding works; pads stay masked keys. eosId (none by default; the config's
   * eos_token_id is in info.eosId) stops a row, which is then filled with padId.
   */
  generate(inputsEmbeds: F32, attentionMask: F32, B: number, T: number, opts: CausalGenerateOptions): GenerateOutput {
    const cfg = this.config, w = this.tensors, e = this.e, ws = this.ws;
    const C = cfg.n_embd, F = gpt2Inner(cfg), NH = cfg.n_head, V = cfg.vocab_size, eps = cfg.layer_norm_epsilon;
    const steps = opts.maxNewTokens;
    if (!(Number.isInteger(steps) && steps > 0)) {
      throw new SoftpromptError('invalid_config', `maxNewTokens must be a positive integer, got ${steps}.`, { path: 'maxNewTokens' });
    }
    const eos = opts.eosId ?? null;
    this.checkBatch({ B, T, inputsEmbeds, attentionMask, labels: new Int32Array(B * T) });
    const Tmax = T + steps;

    // positions and per-row lengths
    const pos = new Int32Array(B * T), len = new Int32Array(B), lastReal = new Int32Array(B).fill(T - 1);
    for (let b = 0; b < B; b++) {
      let c = 0;
      for (let t = 0; t < T; t++) {
        const real = attentionMask[b * T + t]! > 0;
        if (real) { c++; lastReal[b] = t; }
        pos[b * T + t] = real ? c - 1 : 1;
      }
      len[b] = c;
    }
    const maxPos = Math.max(...len) + steps - 2; // the last generated token is never fed
    if (Math.max(T, maxPos + 1) > cfg.n_positions) {
      throw new SoftpromptError('invalid_data',
        `Cannot generate ${steps} tokens after a ${T}-position input: positions would reach ${Math.max(T, maxPos + 1) - 1}, GPT-2's n_positions is only ${cfg.n_positions}.`,
        { path: 'maxNewTokens' });
    }

    // prefill: the trunk in eval mode, then the K/V halves of each layer's qkv into the (B, Tmax, C) caches
    const maskExt = new Float32Array(B * Tmax).fill(0); // (B, Tmax) additive; generated slots are attended
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) maskExt[b * Tmax + t] = attentionMask[b * T + t]! > 0 ? 0 : MASK_MIN;
    const mode: SideMode = { train: false, seed: 0, saveForBackward: false };
    const ctx: ForwardContext = {
      B, T, train: false, seed: 0, maskAdd: this.maskAdd('maskAdd', attentionMask, B * T), dlogits: null, last: null, pos, mode,
    };
    const side = this.side;
    const hL = this.trunk(inputsEmbeds, pos, ctx, null);
    const cacheK: F32[] = [], cacheV: F32[] = [];
    for (let l = 0; l < cfg.n_layer; l++) {
      const qkv = ws.f32(`h.${l}.qkv`, B * T * 3 * C);
      const k = ws.f32(`gen.k.${l}`, B * Tmax * C), v = ws.f32(`gen.v.${l}`, B * Tmax * C); // (B, Tmax, C)
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
        const r = (b * T + t) * 3 * C;
        k.set(qkv.subarray(r + C, r + 2 * C), (b * Tmax + t) * C);
        v.set(qkv.subarray(r + 2 * C, r + 3 * C), (b * Tmax + t) * C);
      }
      cacheK.push(k);
      cacheV.push(v);
    }
    const y = ws.f32('gen.y', B * C); // (B, C) residual stream of the newest position
    for (let b = 0; b < B; b++) y.set(hL.subarray((b * T + lastReal[b]!) * C, (b * T + lastReal[b]! + 1) * C), b * C);

    const ln = ws.f32('gen.ln', B * C), qkvNew = ws.f32('gen.qkv', B * 3 * C), att = ws.f32('gen.att', B * C);
    const ao = ws.f32('gen.ao', B * C), pre = ws.f32('gen.pre', B * F), act = ws.f32('gen.act', B * F);
    const logits = ws.f32('gen.logits', B * V), probs = ws.f32('gen.probs', B * NH * Tmax);
    const posNew = new Int32Array(B), wpeRows = ws.f32('gen.wpe', B * C);
    const ids = new Int32Array(B * steps);
    const stepLogits = opts.keepStepLogits ? new Float32Array(steps * B * V) : undefined;
    const finished = new Uint8Array(B), cur = new Int32Array(B);
    let done = 0;
    for (let t = 0; ; t++) {
      // y -> ln_f -> logits (B, V) -> argmax
      e.layernormForward(ln, null, null, y, w.lnfW, w.lnfB, B, C, eps);
      linearForward(e, logits, ln, w.lmHead, B, C, V);
      side?.forward('lm_head', ln, logits, V, B, mode);
      if (stepLogits) stepLogits.set(logits, t * B * V);
      for (let b = 0; b < B; b++) {
        let best = 0;
        for (let j = 1; j < V; j++) if (logits[b * V + j]! > logits[b * V + best]!) best = j;
        const next = finished[b] ? this.padId : best;
        ids[b * steps + t] = next;
        cur[b] = next;
        if (eos !== null && next === eos) finished[b] = 1;
      }
      opts.onStep?.(cur);
      done = t + 1;
      if (done === steps || finished.every((f) => f === 1)) break;

      // feed cur at slot T + t: y = wte[cur] + wpe[len + t], then every block on one position with the cache
      const Tk = T + t + 1, slot = T + t;
      for (let b = 0; b < B; b++) posNew[b] = len[b]! + t;
      embedRows(e, y, cur, w.wte, B, C, V);
      e.embedding(wpeRows, posNew, w.wpe, B, C, cfg.n_positions);
      e.add(y, y, wpeRows, B * C);
      const mask = ws.f32('gen.mask', B * Tk); // (B, Tk)
      for (let b = 0; b < B; b++) mask.set(maskExt.subarray(b * Tmax, b * Tmax + Tk), b * Tk);
      for (let l = 0; l < cfg.n_layer; l++) {
        const blk = w.blocks[l]!, m = this.modules[l]!;
        e.layernormForward(ln, null, null, y, blk.ln1w, blk.ln1b, B, C, eps);
        linearForward(e, qkvNew, ln, blk.attnW, B, C, 3 * C, blk.attnB); // (B, 3C)
        side?.forward(m.cAttn, ln, qkvNew, 3 * C, B, mode);
        for (let b = 0; b < B; b++) {
          cacheK[l]!.set(qkvNew.subarray(b * 3 * C + C, b * 3 * C + 2 * C), (b * Tmax + slot) * C);
          cacheV[l]!.set(qkvNew.subarray(b * 3 * C + 2 * C, (b + 1) * 3 * C), (b * Tmax + slot) * C);
        }
        const dims: AttnDims = {
          B, NH, NKV: NH, Tq: 1, Tk, HS: C / NH, qRow: 3 * C, kRow: C, vRow: C,
          qBatch: 3 * C, kBatch: Tmax * C, vBatch: Tmax * C, causal: false, scale: this.attnScale(l),
        };
        e.attentionForward(att, probs.subarray(0, B * NH * Tk), qkvNew, cacheK[l]!, cacheV[l]!, null, mask, dims);
        linearForward(e, ao, att, blk.projW, B, C, C, blk.projB);
        side?.forward(m.attnProj, att, ao, C, B, mode);
        e.add(y, y, ao, B * C);
        e.layernormForward(ln, null, null, y, blk.ln2w, blk.ln2b, B, C, eps);
        linearForward(e, pre, ln, blk.fcW, B, C, F, blk.fcB);
        side?.forward(m.fc, ln, pre, F, B, mode);
        e.actForward(this.act, act, pre, B * F);
        linearForward(e, ao, act, blk.mprojW, B, F, C, blk.mprojB);
        side?.forward(m.mlpProj, act, ao, C, B, mode);
        e.add(y, y, ao, B * C);
      }
    }
    const outIds = new Int32Array(B * done);
    for (let b = 0; b < B; b++) outIds.set(ids.subarray(b * steps, b * steps + done), b * done);
    const out: GenerateOutput = { ids: outIds, steps: done };
    if (stepLogits) out.stepLogits = stepLogits.subarray(0, done * B * V);
    return out;
  }
}
