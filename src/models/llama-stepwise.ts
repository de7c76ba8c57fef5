/**
 * LLaMA greedy decoding one step at a time over rows of different requests and adapters (continuous batching),
 * as gpt2-stepwise.ts for GPT-2: packed rows, every GEMM once over all rows' tokens, attention over a row's own
 * keys (grouped-query: NKV key/value heads), RoPE at positions 0..Te-1 for the prompt and Te, Te+1, … for the
 * generated tokens, per-row side paths (LoRA on q/k/v/o/gate/up/down, lm_head). A row's numbers equal
 * LlamaModel.generate on it alone up to GEMM rounding.
 *
 * Dims: Te row length, C hidden, NH / NKV heads, HS head_dim, D = NH·HS, Dkv = NKV·HS, QKV = D + 2·Dkv, F
 * intermediate, V vocab, L lanes.
 */
import { Act, engine, type AttnDims } from '../engine/index.js';
import { SoftpromptError } from '../errors.js';
import type { CausalLane, CausalPromptInput, CausalStepper } from './causal-stepwise.js';
import { embedRows, linearForward, type Mat } from './frozen-weight.js';
import type { LlamaModel } from './llama.js';
import { segments, type Segment, type SidePaths } from './t5-stepwise.js';
import type { SideCall } from './types.js';
import { Workspace } from './workspace.js';

type F32 = Float32Array;

interface LlamaLane extends CausalLane {
  readonly cap: number;
  /** per layer, (cap, 2·Dkv): k | v of each position (k rotated) */
  readonly kv: F32[];
}

const EVAL_CALL = { train: false, seed: 0, saveForBackward: false } as const;

export class LlamaStepper implements CausalStepper {
  private readonly e = engine();
  private readonly ws = new Workspace();
  private readonly names: { q: string; k: string; v: string; o: string; gate: string; up: string; down: string }[];
  private readonly C: number;
  private readonly NH: number;
  private readonly NKV: number;
  private readonly HS: number;
  private readonly D: number;
  private readonly Dkv: number;
  private readonly QKV: number;
  private readonly F: number;
  private readonly V: number;

  constructor(readonly model: LlamaModel) {
    const cfg = model.config;
    this.C = cfg.hidden_size;
    this.NH = cfg.num_attention_heads;
    this.NKV = cfg.num_key_value_heads;
    this.HS = cfg.head_dim;
    this.D = this.NH * this.HS;
    this.Dkv = this.NKV * this.HS;
    this.QKV = this.D + 2 * this.Dkv;
    this.F = cfg.intermediate_size;
    this.V = cfg.vocab_size;
    this.names = model.tensors.layers.map((_, l) => {
      const p = `model.layers.${l}`;
      return {
        q: `${p}.self_attn.q_proj`, k: `${p}.self_attn.k_proj`, v: `${p}.self_attn.v_proj`, o: `${p}.self_attn.o_proj`,
        gate: `${p}.mlp.gate_proj`, up: `${p}.mlp.up_proj`, down: `${p}.mlp.down_proj`,
      };
    });
  }

  prefill(rows: readonly CausalPromptInput[]): { lanes: CausalLane[]; logits: F32 } {
    const { C, NH, NKV, HS, D, Dkv, QKV } = this, e = this.e, ws = this.ws, w = this.model.tensors;
    const P = this.model.info.maxPositions;
    const offsets: number[] = [];
    let N = 0;
    for (const r of rows) {
      if (P !== undefined && r.Te + r.room - 1 > P) {
        throw new SoftpromptError('invalid_data', `Cannot generate ${r.room} tokens after a ${r.Te}-position input: the model's positions end at ${P}.`, { path: 'maxNewTokens' });
      }
      offsets.push(N);
      N += r.Te;
    }
    const lanes: LlamaLane[] = rows.map((r) => {
      const cap = r.Te + r.room;
      return { t: r.Te, cap, kv: w.layers.map(() => new Float32Array(cap * 2 * Dkv)), sides: r.sides };
    });
    const segs = segments(rows.map((r) => ({ len: r.Te, sides: r.sides })));
    const pos = new Int32Array(N);
    rows.forEach((r, i) => { for (let t = 0; t < r.Te; t++) pos[offsets[i]! + t] = t; });
    const x = ws.f32('pre.x', N * C);
    rows.forEach((r, i) => x.set(r.embeds.subarray(0, r.Te * C), offsets[i]! * C));
    const runs: { first: number; count: number; Te: number }[] = [];
    rows.forEach((r, i) => {
      const last = runs[runs.length - 1];
      if (last !== undefined && last.Te === r.Te) last.count++;
      else runs.push({ first: i, count: 1, Te: r.Te });
    });
    const qkv = ws.f32('pre.qkv', N * QKV), att = ws.f32('pre.att', N * D);
    w.layers.forEach((_, l) => {
      this.attentionIn(x, l, N, pos, segs, 'pre', qkv);
      for (const run of runs) { // rows of one length side by side: one causal attention call
        const o = offsets[run.first]!, Te = run.Te, B = run.count;
        const dims: AttnDims = {
          B, NH, NKV, Tq: Te, Tk: Te, HS, qRow: QKV, kRow: QKV, vRow: QKV,
          qBatch: Te * QKV, kBatch: Te * QKV, vBatch: Te * QKV, causal: true, scale: 1 / Math.sqrt(HS),
        };
        const q = qkv.subarray(o * QKV, (o + B * Te) * QKV);
        e.attentionForward(att.subarray(o * D, (o + B * Te) * D), ws.f32('pre.probs', B * NH * Te * Te), q, q.subarray(D), q.subarray(D + Dkv), null, null, dims);
      }
      rows.forEach((r, i) => {
        const cache = lanes[i]!.kv[l]!;
        for (let t = 0; t < r.Te; t++) cache.set(qkv.subarray((offsets[i]! + t) * QKV + D, (offsets[i]! + t + 1) * QKV), t * 2 * Dkv);
      });
      this.blockRest(x, att, l, N, segs, 'pre');
    });
    const last = ws.f32('pre.last', rows.length * C);
    rows.forEach((r, i) => last.set(x.subarray((offsets[i]! + r.Te - 1) * C, (offsets[i]! + r.Te) * C), i * C));
    return { lanes, logits: this.head(last, rows.length, segments(rows.map((r) => ({ len: 1, sides: r.sides })))) };
  }

  step(lanesIn: readonly CausalLane[], tokens: Int32Array): F32 {
    const lanes = lanesIn as readonly LlamaLane[];
    const { C, NH, NKV, HS, D, Dkv, QKV, V } = this, e = this.e, ws = this.ws, w = this.model.tensors, L = lanes.length;
    for (const lane of lanes) if (lane.t >= lane.cap) throw new Error(`LlamaStepper: a lane's cache is full (${lane.cap} positions)`);
    const segs = segments(lanes.map((l) => ({ len: 1, sides: l.sides })));
    const x = ws.f32('dec.x', L * C);
    embedRows(e, x, tokens, w.embed, L, C, V);
    const pos = Int32Array.from(lanes, (l) => l.t);
    const qkv = ws.f32('dec.qkv', L * QKV), att = ws.f32('dec.att', L * D);
    w.layers.forEach((_, l) => {
      this.attentionIn(x, l, L, pos, segs, 'dec', qkv);
      lanes.forEach((lane, i) => {
        const cache = lane.kv[l]!, Tk = lane.t + 1;
        cache.set(qkv.subarray(i * QKV + D, (i + 1) * QKV), lane.t * 2 * Dkv);
        const dims: AttnDims = {
          B: 1, NH, NKV, Tq: 1, Tk, HS, qRow: QKV, kRow: 2 * Dkv, vRow: 2 * Dkv,
          qBatch: QKV, kBatch: lane.cap * 2 * Dkv, vBatch: lane.cap * 2 * Dkv, causal: false, scale: 1 / Math.sqrt(HS),
        };
        e.attentionForward(att.subarray(i * D, (i + 1) * D), ws.f32('dec.probs', NH * Tk), qkv.subarray(i * QKV, (i + 1) * QKV), cache, cache.subarray(Dkv), null, null, dims);
      });
      this.blockRest(x, att, l, L, segs, 'dec');
    });
    for (const lane of lanes) lane.t++;
    return this.head(x, L, segs);
  }

  /** qkv (N, QKV) = Wqkv norm1(x), side paths on q, k, v, then RoPE on q and k at `pos` */
  private attentionIn(x: F32, l: number, N: number, pos: Int32Array, segs: readonly Segment[], p: string, qkv: F32): void {
    const { C, NH, NKV, D, Dkv, QKV } = this, w = this.model.tensors.layers[l]!, n = this.names[l]!;
    const ln = this.ws.f32(`${p}.ln`, N * C);
    this.e.rmsnormForward(ln, null, x, w.ln1, N, C, this.model.config.rms_norm_eps);
    linearForward(this.e, qkv, ln, w.qkv, N, C, QKV);
    this.sides(ln, qkv, C, QKV, segs, [[n.q, 0], [n.k, D], [n.v, D + Dkv]]);
    this.model.rope.apply(qkv, pos, NH + NKV, QKV);
  }

  /** x += o(att); x += down(silu(gate(n2)) * up(n2)), n2 = norm2(x) */
  private blockRest(x: F32, att: F32, l: number, N: number, segs: readonly Segment[], p: string): void {
    const { C, D, F } = this, e = this.e, ws = this.ws, w = this.model.tensors.layers[l]!, n = this.names[l]!;
    const ao = ws.f32(`${p}.ao`, N * C), ln = ws.f32(`${p}.ln`, N * C);
    const gate = ws.f32(`${p}.gate`, N * F), up = ws.f32(`${p}.up`, N * F), act = ws.f32(`${p}.act`, N * F);
    linearForward(e, ao, att, w.o, N, D, C);
    this.sides(att, ao, D, C, segs, [[n.o, 0]]);
    e.add(x, x, ao, N * C);
    e.rmsnormForward(ln, null, x, w.ln2, N, C, this.model.config.rms_norm_eps);
    linearForward(e, gate, ln, w.gate, N, C, F);
    this.sides(ln, gate, C, F, segs, [[n.gate, 0]]);
    linearForward(e, up, ln, w.up, N, C, F);
    this.sides(ln, up, C, F, segs, [[n.up, 0]]);
    e.gatedForward(Act.Silu, act, gate, up, N * F);
    linearForward(e, ao, act, w.down, N, F, C);
    this.sides(act, ao, F, C, segs, [[n.down, 0]]);
    e.add(x, x, ao, N * C);
  }

  /** (N, V) logits = lm_head(norm(x)) */
  private head(x: F32, N: number, segs: readonly Segment[]): F32 {
    const { C, V } = this, w = this.model.tensors;
    const ln = this.ws.f32('head.ln', N * C), logits = this.ws.f32('head.logits', N * V);
    this.e.rmsnormForward(ln, null, x, w.norm, N, C, this.model.config.rms_norm_eps);
    linearForward(this.e, logits, ln, w.lmHead as Mat, N, C, V);
    this.sides(ln, logits, C, V, segs, [['lm_head', 0]]);
    return logits;
  }

  /** Each segment's side path of each [module, column offset] on its rows of out (N, ldy). */
  private sides(inp: F32, out: F32, I: number, ldy: number, segs: readonly Segment[], modules: readonly (readonly [string, number])[]): void {
    for (const s of segs) {
      const paths: SidePaths = s.sides;
      if (paths === null) continue;
      for (const [module, col] of modules) {
        const path = paths.get(module);
        if (path === undefined) continue;
        const call: SideCall = { module, ...EVAL_CALL };
        path.forward(inp.subarray(s.start * I, (s.start + s.len) * I), out.subarray(s.start * ldy + col), ldy, s.len, call);
      }
    }
  }
}
