/**
 * GPT-2 greedy decoding one step at a time over rows of different requests and adapters, for continuous batching
 * (src/serve/batcher.ts), as t5-stepwise.ts does for T5. Rows are packed, never padded: every GEMM runs once over
 * all rows' tokens (prefill: N = Σ Te_r rows; a step: one row per lane), while attention sees only a row's own
 * keys (prefill: rows of one length share a causal attention call; a step: each lane over its own cache), so a
 * row's numbers equal GPT2Model.generate on it alone up to GEMM rounding. A row may carry its own side paths
 * (LoRA), applied to its slice of each GEMM's rows; the model's own side paths (setSidePaths) are not used.
 *
 * The interface and its use: causal-stepwise.ts.
 * Positions: a row's Te prompt positions are 0..Te-1 (no padding), its generated tokens Te, Te+1, … as generate.
 * Dims: Te row length (prompt included), C = n_embd, NH heads, HS = C / NH, F inner, V vocab, L lanes.
 */
import { engine, type AttnDims } from '../engine/index.js';
import { SoftpromptError } from '../errors.js';
import type { CausalLane, CausalPromptInput, CausalStepper } from './causal-stepwise.js';
import { embedRows, linearForward, type Mat } from './frozen-weight.js';
import { gpt2Activation, gpt2Inner } from './gpt2-config.js';
import type { GPT2Model } from './gpt2.js';
import { segments, type Segment } from './t5-stepwise.js';
import type { SideCall } from './types.js';
import { Workspace } from './workspace.js';

type F32 = Float32Array;

/** One row's decoding state: its own key/value cache. */
interface GPT2Lane extends CausalLane {
  readonly cap: number;
  /** per layer, (cap, C) keys and values */
  readonly k: Float32Array[];
  readonly v: Float32Array[];
}

const EVAL_CALL = { train: false, seed: 0, saveForBackward: false } as const;

export class GPT2Stepper implements CausalStepper {
  private readonly e = engine();
  private readonly ws = new Workspace();
  private readonly names: { cAttn: string; attnProj: string; fc: string; mlpProj: string }[];

  constructor(readonly model: GPT2Model) {
    this.names = model.tensors.blocks.map((_, l) => ({
      cAttn: `transformer.h.${l}.attn.c_attn`, attnProj: `transformer.h.${l}.attn.c_proj`,
      fc: `transformer.h.${l}.mlp.c_fc`, mlpProj: `transformer.h.${l}.mlp.c_proj`,
    }));
  }

  /** as GPT2Model: 1/sqrt(HS) (scale_attn_weights), times 1/(l+1) with scale_attn_by_inverse_layer_idx */
  private scale(l: number): number {
    const cfg = this.model.config;
    const s = cfg.scale_attn_weights ? 1 / Math.sqrt(cfg.n_embd / cfg.n_head) : 1;
    return cfg.scale_attn_by_inverse_layer_idx ? s / (l + 1) : s;
  }

  prefill(rows: readonly CausalPromptInput[]): { lanes: CausalLane[]; logits: F32 } {
    const cfg = this.model.config, w = this.model.tensors, e = this.e, ws = this.ws;
    const C = cfg.n_embd, NH = cfg.n_head, V = cfg.vocab_size, P = cfg.n_positions;
    const offsets: number[] = [];
    let N = 0;
    for (const r of rows) {
      if (r.Te + r.room - 1 > P) {
        throw new SoftpromptError('invalid_data', `Cannot generate ${r.room} tokens after a ${r.Te}-position input: GPT-2's n_positions is only ${P}.`, { path: 'maxNewTokens' });
      }
      offsets.push(N);
      N += r.Te;
    }
    const lanes: GPT2Lane[] = rows.map((r) => {
      const cap = r.Te + r.room;
      return { t: r.Te, cap, k: w.blocks.map(() => new Float32Array(cap * C)), v: w.blocks.map(() => new Float32Array(cap * C)), sides: r.sides };
    });
    const segs = segments(rows.map((r) => ({ len: r.Te, sides: r.sides })));
    const pos = new Int32Array(N);
    rows.forEach((r, i) => { for (let t = 0; t < r.Te; t++) pos[offsets[i]! + t] = t; });
    const h = ws.f32('pre.h', N * C);
    e.embedding(h, pos, w.wpe, N, C, P);
    const x = ws.f32('pre.x', N * C);
    rows.forEach((r, i) => x.set(r.embeds.subarray(0, r.Te * C), offsets[i]! * C));
    e.add(h, h, x, N * C);
    const runs: { first: number; count: number; Te: number }[] = [];
    rows.forEach((r, i) => {
      const last = runs[runs.length - 1];
      if (last !== undefined && last.Te === r.Te) last.count++;
      else runs.push({ first: i, count: 1, Te: r.Te });
    });
    const qkv = ws.f32('pre.qkv', N * 3 * C), att = ws.f32('pre.att', N * C);
    w.blocks.forEach((blk, l) => {
      this.attentionIn(h, l, N, segs, 'pre', qkv);
      for (const run of runs) { // rows of one length side by side: one causal attention call
        const o = offsets[run.first]!, Te = run.Te, B = run.count;
        const dims: AttnDims = {
          B, NH, NKV: NH, Tq: Te, Tk: Te, HS: C / NH, qRow: 3 * C, kRow: 3 * C, vRow: 3 * C,
          qBatch: Te * 3 * C, kBatch: Te * 3 * C, vBatch: Te * 3 * C, causal: true, scale: this.scale(l),
        };
        const q = qkv.subarray(o * 3 * C, (o + B * Te) * 3 * C);
        e.attentionForward(att.subarray(o * C, (o + B * Te) * C), ws.f32('pre.probs', B * NH * Te * Te), q, q.subarray(C), q.subarray(2 * C), null, null, dims);
      }
      rows.forEach((r, i) => {
        const lane = lanes[i]!;
        for (let t = 0; t < r.Te; t++) {
          const at = (offsets[i]! + t) * 3 * C;
          lane.k[l]!.set(qkv.subarray(at + C, at + 2 * C), t * C);
          lane.v[l]!.set(qkv.subarray(at + 2 * C, at + 3 * C), t * C);
        }
      });
      this.blockRest(h, att, l, N, segs, 'pre');
    });
    const last = ws.f32('pre.last', rows.length * C);
    rows.forEach((r, i) => last.set(h.subarray((offsets[i]! + r.Te - 1) * C, (offsets[i]! + r.Te) * C), i * C));
    return { lanes, logits: this.head(last, rows.length, segments(rows.map((r) => ({ len: 1, sides: r.sides })))) };
  }

    step(lanesIn: readonly CausalLane[], tokens: Int32Array): F32 {
    const lanes = lanesIn as readonly GPT2Lane[];
    const cfg = this.model.config, w = this.model.tensors, e = this.e, ws = this.ws;
    const C = cfg.n_embd, NH = cfg.n_head, V = cfg.vocab_size, L = lanes.length;
    for (const lane of lanes) if (lane.t >= lane.cap) throw new Error(`GPT2Stepper: a lane's cache is full (${lane.cap} positions)`);
    const segs = segments(lanes.map((l) => ({ len: 1, sides: l.sides })));
    const h = ws.f32('dec.h', L * C), wpe = ws.f32('dec.wpe', L * C);
    embedRows(e, h, tokens, w.wte, L, C, V);
    e.embedding(wpe, Int32Array.from(lanes, (l) => l.t), w.wpe, L, C, cfg.n_positions);
    e.add(h, h, wpe, L * C);
    const qkv = ws.f32('dec.qkv', L * 3 * C), att = ws.f32('dec.att', L * C);
    w.blocks.forEach((_, l) => {
      this.attentionIn(h, l, L, segs, 'dec', qkv);
      lanes.forEach((lane, i) => {
        lane.k[l]!.set(qkv.subarray(i * 3 * C + C, i * 3 * C + 2 * C), lane.t * C);
        lane.v[l]!.set(qkv.subarray(i * 3 * C + 2 * C, (i + 1) * 3 * C), lane.t * C);
        const Tk = lane.t + 1;
        const dims: AttnDims = { B: 1, NH, NKV: NH, Tq: 1, Tk, HS: C / NH, qRow: 3 * C, kRow: C, vRow: C, qBatch: 3 * C, kBatch: lane.cap * C, vBatch: lane.cap * C, causal: false, scale: this.scale(l) };
        e.attentionForward(att.subarray(i * C, (i + 1) * C), ws.f32('dec.probs', NH * Tk), qkv.subarray(i * 3 * C, (i + 1) * 3 * C), lane.k[l]!, lane.v[l]!, null, null, dims);
      });
      this.blockRest(h, att, l, L, segs, 'dec');
    });
    for (const lane of lanes) lane.t++;
    return this.head(h, L, segs);
  }

  /** qkv (N, 3C) = c_attn(ln_1(h)), with each segment's side path */
  private attentionIn(h: F32, l: number, N: number, segs: readonly Segment[], p: string, qkv: F32): void {
    const cfg = this.model.config, blk = this.model.tensors.blocks[l]!, C = cfg.n_embd;
    const ln = this.ws.f32(`${p}.ln`, N * C);
    this.e.layernormForward(ln, null, null, h, blk.ln1w, blk.ln1b, N, C, cfg.layer_norm_epsilon);
    this.linear(qkv, ln, blk.attnW, blk.attnB, N, C, 3 * C, segs, this.names[l]!.cAttn);
  }

  /** h += c_proj(att); h += mlp(ln_2(h)) */
  private blockRest(h: F32, att: F32, l: number, N: number, segs: readonly Segment[], p: string): void {
    const cfg = this.model.config, blk = this.model.tensors.blocks[l]!, e = this.e, ws = this.ws, m = this.names[l]!;
    const C = cfg.n_embd, F = gpt2Inner(cfg);
    const ao = ws.f32(`${p}.ao`, N * C), ln = ws.f32(`${p}.ln`, N * C), pre = ws.f32(`${p}.pre`, N * F), act = ws.f32(`${p}.act`, N * F);
    this.linear(ao, att, blk.projW, blk.projB, N, C, C, segs, m.attnProj);
    e.add(h, h, ao, N * C);
    e.layernormForward(ln, null, null, h, blk.ln2w, blk.ln2b, N, C, cfg.layer_norm_epsilon);
    this.linear(pre, ln, blk.fcW, blk.fcB, N, C, F, segs, m.fc);
    e.actForward(gpt2Activation(cfg), act, pre, N * F);
    this.linear(ao, act, blk.mprojW, blk.mprojB, N, F, C, segs, m.mlpProj);
    e.add(h, h, ao, N * C);
  }

  /** (N, V) logits = lm_head(ln_f(h)) */
  private head(h: F32, N: number, segs: readonly Segment[]): F32 {
    const cfg = this.model.config, w = this.model.tensors, C = cfg.n_embd, V = cfg.vocab_size;
    const ln = this.ws.f32('head.ln', N * C), logits = this.ws.f32('head.logits', N * V);
    this.e.layernormForward(ln, null, null, h, w.lnfW, w.lnfB, N, C, cfg.layer_norm_epsilon);
    this.linear(logits, ln, w.lmHead, null, N, C, V, segs, 'lm_head');
    return logits;
  }

  /** out (N, OC) = inp (N, I) Wᵀ + bias, then each segment's side path for `module` on its rows */
  private linear(out: F32, inp: F32, W: Mat, bias: F32 | null, N: number, I: number, OC: number, segs: readonly Segment[], module: string): void {
    linearForward(this.e, out, inp, W, N, I, OC, bias);
    const call: SideCall = { module, ...EVAL_CALL };
    for (const s of segs) {
      const path = s.sides?.get(module);
      if (path !== undefined) path.forward(inp.subarray(s.start * I, (s.start + s.len) * I), out.subarray(s.start * OC), OC, s.len, call);
    }
  }
}
