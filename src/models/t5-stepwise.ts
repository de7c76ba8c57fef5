/**
 * T5 inference one step at a time over rows of different requests and adapters, for continuous batching
 * (src/serve/batcher.ts). Rows are packed, never padded: every GEMM runs once over all rows' tokens (encoder:
 * N = Σ Te_r rows; decoder: one row per lane), while attention sees only a row's own keys (rows of one length
 * share an attention call, and lanes started together share a cache and its call), so a row's
 * numbers equal its unbatched forward up to GEMM rounding. A row may carry its own side paths (LoRA), applied to
 * its slice of each GEMM's rows; the model's own side paths (setSidePaths) are not used.
 *
 *   const enc = stepper.encode([{ embeds, Te, sides }]);    // encoder + cross-attention k|v per decoder layer
 *   const lanes = stepper.lanes([enc[0]!, enc[0]!]);        // decoder states (a cohort), fed decoder_start first
 *   const logits = stepper.step(lanes, tokens);             // (L, V) next-token logits; each lane.t advances
 *
 * Dims: Te encoder length of a row (prompt included), C = d_model, NH heads, HS = d_kv, D = NH*HS, F = d_ff,
 * V vocab, L lanes.
 */
import { engine, type AttnDims } from '../engine/index.js';
import { embedRows, linearForward, type Mat } from './frozen-weight.js';
import type { T5Model } from './t5.js';
import { t5FeedForward } from './t5-config.js';
import { t5LinearEntries } from './t5-modules.js';
import { computePositionBias } from './t5-position.js';
import type { LinearSidePath, SideCall } from './types.js';
import { Workspace } from './workspace.js';

type F32 = Float32Array;

/** A row's side paths by module name (a LoRA adapter's pairs); null: the frozen model alone. */
export type SidePaths = ReadonlyMap<string, LinearSidePath> | null;

/** Rows start..start+len of a GEMM belong to one adapter's side paths. */
export interface Segment {
  start: number;
  len: number;
  sides: SidePaths;
}

export interface T5EncoderInput {
  /** (Te, C) the method-transformed input embeddings of one row (prompt included), no padding */
  embeds: F32;
  Te: number;
  sides: SidePaths;
}

/** One row after the encoder: what its decoder lanes attend to. */
export interface T5EncodedRow {
  readonly Te: number;
  /** per decoder layer, (Te, 2D): cross-attention k | v of each encoder position */
  readonly crossKv: F32[];
  readonly sides: SidePaths;
}

/**
 * Lanes started together share one self-attention cache per layer, a slot each, and advance together (every
 * step feeds every lane of a cohort, or the lane has left for good): one attention call per cohort, no copies.
 */
interface Cohort {
  slots: number;
  /** positions each slot holds */
  cap: number;
  /** the next position of every lane in the cohort */
  t: number;
  /** per decoder layer, (slots, cap, D) keys and values */
  k: F32[];
  v: F32[];
}

/** A decoder sequence: its slot in its cohort's cache. */
export interface T5Lane {
  readonly row: T5EncodedRow;
  /** tokens fed so far = the position of the next one */
  t: number;
  cohort: Cohort;
  slot: number;
}

const EVAL_CALL = { train: false, seed: 0, saveForBackward: false } as const;

export class T5Stepper {
  private readonly e = engine();
  private readonly ws = new Workspace();
  private readonly names = new Map<Mat, string>();

  constructor(readonly model: T5Model) {
    for (const l of t5LinearEntries(model.config, model.tensors)) this.names.set(l.W, l.name);
  }

  /** Encoder over rows packed one after another; each row's cross-attention k|v for every decoder layer. */
  encode(rows: readonly T5EncoderInput[]): T5EncodedRow[] {
    const cfg = this.model.config, w = this.model.tensors, e = this.e, ws = this.ws;
    const C = cfg.d_model, D = cfg.num_heads * cfg.d_kv, NH = cfg.num_heads, F = cfg.d_ff, eps = cfg.layer_norm_epsilon;
    const offsets: number[] = [];
    let N = 0;
    for (const r of rows) {
      offsets.push(N);
      N += r.Te;
    }
    const segs = segments(rows.map((r) => ({ len: r.Te, sides: r.sides })));
    const biases = new Map<number, F32>(); // per Te, this call only: NH·Te² floats each
    const biasOf = (Te: number) => {
      let b = biases.get(Te);
      if (b === undefined) {
        b = computePositionBias(w.encRelBias, NH, Te, Te, 0, true, cfg.relative_attention_num_buckets, cfg.relative_attention_max_distance);
        biases.set(Te, b);
      }
      return b;
    };
    let h = ws.f32('enc.h', N * C); // (N, C)
    rows.forEach((r, i) => h.set(r.embeds.subarray(0, r.Te * C), offsets[i]! * C));
    const ln = ws.f32('enc.ln', N * C), qkv = ws.f32('enc.qkv', N * 3 * D), att = ws.f32('enc.att', N * D);
    const ao = ws.f32('enc.ao', N * C), mid = ws.f32('enc.mid', N * C);
    const runs: { first: number; count: number; Te: number }[] = [];
    rows.forEach((r, i) => {
      const last = runs[runs.length - 1];
      if (last !== undefined && last.Te === r.Te) last.count++;
      else runs.push({ first: i, count: 1, Te: r.Te });
    });
    for (const blk of w.encoder) {
      e.rmsnormForward(ln, null, h, blk.ln1, N, C, eps);
      this.linear(qkv, ln, blk.attn.qkv, N, C, 3 * D, segs, [blk.attn.q, blk.attn.k, blk.attn.v]);
      for (const run of runs) { // rows of one length side by side: one attention call, B = the run's rows
        const o = offsets[run.first]!, Te = run.Te, B = run.count;
        const dims: AttnDims = {
          B, NH, NKV: NH, Tq: Te, Tk: Te, HS: cfg.d_kv, qRow: 3 * D, kRow: 3 * D, vRow: 3 * D,
          qBatch: Te * 3 * D, kBatch: Te * 3 * D, vBatch: Te * 3 * D, causal: false, scale: 1,
        };
        const q = qkv.subarray(o * 3 * D, (o + B * Te) * 3 * D);
        e.attentionForward(att.subarray(o * D, (o + B * Te) * D), ws.f32('enc.probs', B * NH * Te * Te), q, q.subarray(D), q.subarray(2 * D), biasOf(Te), null, dims);
      }
      this.linear(ao, att, blk.attn.o, N, D, C, segs);
      e.add(mid, h, ao, N * C);
      this.ffn(ao, mid, blk.ln2, blk.ffn, N, segs, 'enc');
      e.add(h, mid, ao, N * C);
    }
    const encOut = ws.f32('enc.out', N * C);
    e.rmsnormForward(encOut, null, h, w.encFinal, N, C, eps);
    const crossKv: F32[][] = rows.map(() => []);
    const ckv = ws.f32('enc.ckv', N * 2 * D);
    for (const blk of w.decoder) {
      this.linear(ckv, encOut, blk.crossAttn.kv, N, C, 2 * D, segs, [blk.crossAttn.k, blk.crossAttn.v]);
      rows.forEach((r, i) => crossKv[i]!.push(ckv.slice(offsets[i]! * 2 * D, (offsets[i]! + r.Te) * 2 * D)));
    }
    return rows.map((r, i) => ({ Te: r.Te, crossKv: crossKv[i]!, sides: r.sides }));
  }

  /** Fresh decoder sequences over encoded rows (several may share a row, e.g. one per label word), one cohort. */
  lanes(rows: readonly T5EncodedRow[]): T5Lane[] {
    const cohort = this.cohort(rows.length, 8, 0);
    return rows.map((row, slot) => ({ row, t: 0, cohort, slot }));
  }

  private cohort(slots: number, cap: number, t: number): Cohort {
    const cfg = this.model.config, D = cfg.num_heads * cfg.d_kv, L = cfg.num_decoder_layers;
    const buf = () => Array.from({ length: L }, () => new Float32Array(slots * cap * D));
    return { slots, cap, t, k: buf(), v: buf() };
  }

  /** Room for position t in every slot, and the cohort cut down to its live lanes once half of it has left. */
  private prepare(c: Cohort, live: readonly T5Lane[]): void {
    const D = this.model.config.num_heads * this.model.config.d_kv;
    for (const lane of live) {
      if (lane.t !== c.t) throw new Error(`T5Stepper: a lane at position ${lane.t} in a cohort at ${c.t} (a cohort's lanes step together)`);
    }
    const compact = live.length * 2 <= c.slots && c.slots > 4;
    if (!compact && c.t < c.cap) return;
    const n = compact ? this.cohort(live.length, c.t < c.cap ? c.cap : 2 * c.cap, c.t) : this.cohort(c.slots, 2 * c.cap, c.t);
    const move = (from: number, to: number) => {
      for (let l = 0; l < n.k.length; l++) {
        n.k[l]!.set(c.k[l]!.subarray(from * c.cap * D, (from * c.cap + c.t) * D), to * n.cap * D);
        n.v[l]!.set(c.v[l]!.subarray(from * c.cap * D, (from * c.cap + c.t) * D), to * n.cap * D);
      }
    };
    if (compact) {
      live.forEach((lane, i) => { move(lane.slot, i); lane.slot = i; lane.cohort = n; });
    } else {
      for (let s = 0; s < c.slots; s++) move(s, s);
      for (const lane of live) lane.cohort = n;
    }
  }

  /**
   * One decoder position for every lane: feed tokens[i] to lanes[i] at its position t, return the (L, V)
   * next-token logits (a workspace view, valid until the next call). Each lane's t advances by one.
   */
  step(lanes: readonly T5Lane[], tokens: Int32Array): F32 {
    const cfg = this.model.config, w = this.model.tensors, e = this.e, ws = this.ws;
    const C = cfg.d_model, D = cfg.num_heads * cfg.d_kv, NH = cfg.num_heads, V = cfg.vocab_size, eps = cfg.layer_norm_epsilon;
    const L = lanes.length;
    for (const [c, idx] of groupBy(lanes, (l) => l.cohort)) this.prepare(c, idx.map((i) => lanes[i]!));
    const segs = segments(lanes.map((l) => ({ len: 1, sides: l.row.sides })));
    const biases = new Map<number, F32>(); // per position t: (NH, 1, t+1)
    const biasOf = (t: number) => {
      let b = biases.get(t);
      if (b === undefined) {
        b = computePositionBias(w.decRelBias, NH, 1, t + 1, t, false, cfg.relative_attention_num_buckets, cfg.relative_attention_max_distance);
        biases.set(t, b);
      }
      return b;
    };
    const y = ws.f32('dec.y', L * C), ln = ws.f32('dec.ln', L * C), qkv = ws.f32('dec.qkv', L * 3 * D);
    const q = ws.f32('dec.q', L * D), att = ws.f32('dec.att', L * D), ao = ws.f32('dec.ao', L * C);
    const byCohort = groupBy(lanes, (l) => l.cohort), byTe = groupBy(lanes, (l) => l.row.Te);
    embedRows(e, y, tokens, w.shared, L, C, V);
    w.decoder.forEach((blk, l) => {
      // self-attention over the lane's own cache (relative position bias for query position t)
      e.rmsnormForward(ln, null, y, blk.ln1, L, C, eps);
      this.linear(qkv, ln, blk.selfAttn.qkv, L, C, 3 * D, segs, [blk.selfAttn.q, blk.selfAttn.k, blk.selfAttn.v]);
      lanes.forEach((lane, i) => {
        const c = lane.cohort, at = (lane.slot * c.cap + lane.t) * D;
        c.k[l]!.set(qkv.subarray(i * 3 * D + D, i * 3 * D + 2 * D), at);
        c.v[l]!.set(qkv.subarray(i * 3 * D + 2 * D, (i + 1) * 3 * D), at);
      });
      // one attention call per cohort over its slots (a slot whose lane has left computes on zeros, unused)
      for (const [c, idx] of byCohort) {
        const B = c.slots, Tk = c.t + 1;
        const qg = ws.zeros('dec.qg', B * D), ag = ws.f32('dec.ag', B * D);
        for (const i of idx) qg.set(qkv.subarray(i * 3 * D, i * 3 * D + D), lanes[i]!.slot * D);
        const dims: AttnDims = { B, NH, NKV: NH, Tq: 1, Tk, HS: cfg.d_kv, qRow: D, kRow: D, vRow: D, qBatch: D, kBatch: c.cap * D, vBatch: c.cap * D, causal: false, scale: 1 };
        e.attentionForward(ag, ws.f32('dec.probs', B * NH * Tk), qg, c.k[l]!, c.v[l]!, biasOf(c.t), null, dims);
        for (const i of idx) att.set(ag.subarray(lanes[i]!.slot * D, (lanes[i]!.slot + 1) * D), i * D);
      }
      this.linear(ao, att, blk.selfAttn.o, L, D, C, segs);
      e.add(y, y, ao, L * C);
      // cross-attention over the lane's row (no position bias, no padding)
      e.rmsnormForward(ln, null, y, blk.ln2, L, C, eps);
      this.linear(q, ln, blk.crossAttn.q, L, C, D, segs);
      for (const [Te, idx] of byTe) {
        const B = idx.length;
        const qg = ws.f32('dec.qg', B * D), kv = ws.f32('dec.kvg', B * Te * 2 * D), ag = ws.f32('dec.ag', B * D);
        idx.forEach((i, b) => {
          qg.set(q.subarray(i * D, (i + 1) * D), b * D);
          kv.set(lanes[i]!.row.crossKv[l]!, b * Te * 2 * D);
        });
        const dims: AttnDims = { B, NH, NKV: NH, Tq: 1, Tk: Te, HS: cfg.d_kv, qRow: D, kRow: 2 * D, vRow: 2 * D, qBatch: D, kBatch: Te * 2 * D, vBatch: Te * 2 * D, causal: false, scale: 1 };
        e.attentionForward(ag, ws.f32('dec.probs', B * NH * Te), qg, kv, kv.subarray(D), null, null, dims);
        idx.forEach((i, b) => att.set(ag.subarray(b * D, (b + 1) * D), i * D));
      }
      this.linear(ao, att, blk.crossAttn.o, L, D, C, segs);
      e.add(y, y, ao, L * C);
      this.ffn(ao, y, blk.ln3, blk.ffn, L, segs, 'dec');
      e.add(y, y, ao, L * C);
    });
    for (const lane of lanes) lane.t++;
    for (const c of byCohort.keys()) c.t++;
    e.rmsnormForward(ln, null, y, w.decFinal, L, C, eps);
    if (cfg.tie_word_embeddings) e.scale(ln, 1 / Math.sqrt(C), L * C);
    const logits = ws.f32('dec.logits', L * V);
    this.linear(logits, ln, w.lmHead, L, C, V, segs);
    return logits;
  }

  /** out (N, C) = FFN(norm(x)) */
  private ffn(out: F32, x: F32, lnW: F32, f: T5Model['tensors']['encoder'][number]['ffn'], N: number, segs: readonly Segment[], p: string): void {
    const cfg = this.model.config, e = this.e, ws = this.ws, C = cfg.d_model, F = cfg.d_ff;
    const ln = ws.f32(`${p}.ffn.ln`, N * C), pre = ws.f32(`${p}.ffn.pre`, N * F), act = ws.f32(`${p}.ffn.act`, N * F);
    e.rmsnormForward(ln, null, x, lnW, N, C, cfg.layer_norm_epsilon);
    this.linear(pre, ln, f.wi, N, C, F, segs);
    const kind = t5FeedForward(cfg).act;
    if (f.wiGate !== null) {
      const gate = ws.f32(`${p}.ffn.gate`, N * F);
      this.linear(gate, ln, f.wiGate, N, C, F, segs);
      e.gatedForward(kind, act, pre, gate, N * F);
    } else {
      e.actForward(kind, act, pre, N * F);
    }
    this.linear(out, act, f.wo, N, F, C, segs);
  }

  /**
   * out (N, OC) = inp (N, I) Wᵀ, then each segment's side path on its rows. `parts` (q|k|v or k|v) name the
   * row blocks of a fused W, OC / parts.length columns each, for their own side paths.
   */
  private linear(out: F32, inp: F32, W: Mat, N: number, I: number, OC: number, segs: readonly Segment[], parts: readonly Mat[] = [W]): void {
    linearForward(this.e, out, inp, W, N, I, OC);
    const width = OC / parts.length;
    parts.forEach((P, k) => {
      const module = this.names.get(P);
      if (module === undefined) return;
      const call: SideCall = { module, ...EVAL_CALL };
      for (const s of segs) {
        const path = s.sides?.get(module);
        if (path === undefined) continue;
        path.forward(inp.subarray(s.start * I, (s.start + s.len) * I), out.subarray(s.start * OC + k * width), OC, s.len, call);
      }
    });
  }
}

/** Consecutive rows with the same side paths merged into one segment (rows without side paths dropped). */
export function segments(rows: readonly { len: number; sides: SidePaths }[]): Segment[] {
  const out: Segment[] = [];
  let start = 0;
  for (const r of rows) {
    const last = out[out.length - 1];
    if (r.sides !== null) {
      if (last !== undefined && last.sides === r.sides && last.start + last.len === start) last.len += r.len;
      else out.push({ start, len: r.len, sides: r.sides });
    }
    start += r.len;
  }
  return out;
}

/** Indices of items by key, in order. */
export function groupBy<T, K>(items: readonly T[], key: (x: T) => K): Map<K, number[]> {
  const m = new Map<K, number[]>();
  items.forEach((x, i) => {
    const k = key(x);
    const g = m.get(k);
    if (g === undefined) m.set(k, [i]);
    else g.push(i);
  });
  return m;
}
