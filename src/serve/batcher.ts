/**
 * Continuous batching across requests and adapters (the scheduler behind serve). Each call of `step()` is one
 * unit of engine work, bounded by a token budget:
 *   1. admit waiting rows, taking turns across requests (fewest active lanes first), while their encoder tokens
 *      plus the active decoder lanes fit the budget and the lanes stay within maxLanes (a request with nothing
 *      running always gets one row, so none starves);
 *   2. encode the admitted rows in one packed encoder pass (each with its own soft prompt / DePT offset / LoRA
 *      side paths, see src/models/t5-stepwise.ts);
 *   3. one decoder position for every active lane of every request: a generate row is one lane (greedy, until
 *      EOS or maxNewTokens), a rank row one lane per label word (teacher-forced, its NLL summed).
 * So a 512-token request advances one token per step beside short ones, which join between steps.
 *
 * Decoder-only models (GPT-2, LLaMA: src/models/causal-stepwise.ts) batch their generate rows the same way: the
 * admitted rows' prompts are prefilled together (their first token), then every lane advances one token per step.
 * Rows whose method cannot share a forward (a weight method other than side paths, e.g. full fine-tuning) and
 * rank rows of a decoder-only model run "exclusively": one request's chunk of rows per step through the
 * unbatched predict path (src/predict/), between the batched steps.
 */
import { SoftpromptError } from '../errors.js';
import { engine } from '../engine/index.js';
import type { PeftMethod } from '../methods/method.js';
import type { AnyModel } from '../models/registry.js';
import { causalStepper, type CausalLane, type CausalStepper } from '../models/causal-stepwise.js';
import { T5Model } from '../models/t5.js';
import { T5Stepper, type SidePaths, type T5EncodedRow, type T5Lane } from '../models/t5-stepwise.js';
import type { LinearSidePath, WeightTraining } from '../models/types.js';
import { inputLimit, predictAny, withMethod, type Decoder } from '../predict/index.js';
import { generateBatch } from './generate.js';

/** The adapter name of the base model without any adapter (raw generation only: the OpenAI routes' base `model`). */
export const BASE_MODEL = '';

export interface SubmitOptions {
  mode: 'generate' | 'rank';
  /** generate: new tokens at most (default 20) */
  maxNewTokens?: number;
  /** rank: the candidate label words */
  labels?: readonly string[];
  /** generate: called with each new token of row `row` as it is decided (streaming); EOS included */
  onToken?: (row: number, id: number) => void;
  /**
   * generate: the rows are prompts continued as they are (the OpenAI routes), results carry their ids on every
   * path (up to and including EOS); otherwise they are predict's encoded sources, decoded as predict does
   */
  raw?: boolean;
}

export interface RowResult {
  /** the generated text (trimmed, special tokens skipped), or the best label word */
  text: string;
  /** generate: the generated ids up to and including EOS (batched path only; [] otherwise) */
  ids: number[];
  /** rank: Σ NLL of each label word (+ EOS), in `labels` order (batched path only; [] otherwise) */
  scores: number[];
}

export interface BatcherOptions {
  /** encoder tokens admitted plus decoder lanes per step (default 2048) */
  tokenBudget?: number;
  /**
   * decoder lanes running at most (default 64): past it, waiting rows join as lanes finish, except a request's
   * first row, so a step stays short (a step's cost grows faster than its lanes: the (lanes, vocab) logits) and
   * a small request beside a big one waits a few short steps
   */
  maxLanes?: number;
  /** rows per chunk on the exclusive (unbatched) path (default 16) */
  batchSize?: number;
  /** input truncation on the exclusive path, as predict's --max-length */
  maxLength?: number;
}

/** A job's rows are done or failed; `settle` is called once. */
export interface BatchJob {
  readonly adapter: string;
  readonly rows: readonly Int32Array[];
  readonly options: SubmitOptions;
  settle(outcome: { ok: true; results: RowResult[] } | { ok: false; error: unknown }): void;
}

interface Adapter {
  /** null: the base model (BASE_MODEL) */
  method: PeftMethod | null;
  /** side paths to run per row; 'exclusive': the method must be attached alone */
  sides: SidePaths | 'exclusive';
  order: number;
}

interface Job {
  job: BatchJob;
  adapter: Adapter;
  /** runs on the unbatched path: its method cannot share a forward, or a decoder-only model ranks */
  exclusive: boolean;
  arrival: number;
  /** rank: the label words' ids (with EOS) */
  words: Int32Array[];
  maxNewTokens: number;
  results: (RowResult | undefined)[];
  /** rank: per row, lanes still running and the NLL of each word */
  rankLeft: number[];
  rankNll: number[][];
  next: number;
  done: number;
  lanes: number;
  cancelled: boolean;
}

interface LaneRec {
  lane: T5Lane | CausalLane;
  job: Job;
  row: number;
  /** rank lanes: the word index; generate: -1 */
  word: number;
  /** the next token to feed */
  token: number;
  out: number[];
  nll: number;
}

/**
 * The side paths a weight method installs when attached, captured without touching the model: methods whose
 * attach does only setSidePaths can share a forward; any other call marks the method exclusive.
 */
function sidePathsOf(method: PeftMethod, lm: AnyModel): SidePaths | 'exclusive' {
  let captured: ReadonlyMap<string, LinearSidePath> | null = null;
  let other = false;
  const m = lm.model;
  const probe: WeightTraining & Pick<typeof m, 'info'> = {
    info: m.info,
    weights: () => { other = true; return []; },
    linearModules: () => m.linearModules(),
    setTrainable: () => { other = true; return new Map(); },
    setSidePaths: (p) => { captured = p; },
    embedBackward: () => { other = true; },
  };
  try {
    method.attach(probe as unknown as typeof m);
  } catch {
    return 'exclusive';
  }
  return other ? 'exclusive' : captured;
}

export class Batcher {
  private readonly jobs: Job[] = [];
  private lanes: LaneRec[] = [];
  private readonly adapters = new Map<string, Adapter>();
  private readonly base: Adapter;
  private readonly stepper: T5Stepper | null;
  /** a decoder-only model's stepper (its generate rows are batched; rank rows run exclusively) */
  private readonly causal: CausalStepper | null;
  /** the id that ends a generated row: the tokenizer's for decoder-only models (as predict), the config's for T5 */
  private readonly eosId: number;
  private arrivals = 0;
  private adapterCount = 0;
  private exclusiveTurn = 0;
  readonly tokenBudget: number;
  readonly maxLanes: number;
  /** what the last step computed (for metrics: batch sizes) */
  readonly last = { lanes: 0, encodedRows: 0, encodedTokens: 0, exclusiveRows: 0 };

  constructor(readonly lm: AnyModel, readonly tok: Decoder, adapters: ReadonlyMap<string, PeftMethod>, readonly opts: BatcherOptions = {}) {
    this.stepper = lm.kind === 'seq2seq' && lm.model instanceof T5Model ? new T5Stepper(lm.model) : null;
    this.causal = lm.kind === 'causal' ? causalStepper(lm.model) : null;
    this.eosId = lm.kind === 'causal' ? tok.eosId : lm.model.info.eosId;
    this.tokenBudget = opts.tokenBudget ?? 2048;
    this.maxLanes = opts.maxLanes ?? 64;
    this.base = { method: null, sides: this.batching ? null : 'exclusive', order: -1 };
    for (const [name, m] of adapters) this.addAdapter(name, m);
  }

  addAdapter(name: string, method: PeftMethod): void {
    this.adapters.set(name, { method, sides: this.batching ? sidePathsOf(method, this.lm) : 'exclusive', order: this.adapterCount++ });
  }

  /** this model has a stepper (T5, GPT-2) */
  private get batching(): boolean {
    return this.stepper !== null || this.causal !== null;
  }

  /** Remove an adapter; its queued and running requests keep the method they started with. */
  /** The adapter's rows share batched steps (its generate results carry their ids); false: exclusive or unknown. */
  batches(name: string): boolean {
    const a = this.adapters.get(name);
    return a !== undefined && a.sides !== 'exclusive';
  }

  removeAdapter(name: string): boolean {
    return this.adapters.delete(name);
  }

  hasAdapter(name: string): boolean {
    return this.adapters.has(name);
  }

  /** requests admitted and not settled */
  get depth(): number {
    return this.jobs.length;
  }

  /** decoder lanes running */
  get activeLanes(): number {
    return this.lanes.length;
  }

  get idle(): boolean {
    return this.jobs.length === 0;
  }

  /** Queue a request; it settles from a later step(). Unknown adapters and bad options throw here. */
  add(job: BatchJob): { cancel(): void } {
    const adapter = job.adapter === BASE_MODEL ? this.base : this.adapters.get(job.adapter);
    if (adapter === undefined) throw new SoftpromptError('invalid_config', `No adapter "${job.adapter}".`, { path: 'adapter' });
    const o = job.options;
    if (adapter.method === null && !(o.mode === 'generate' && o.raw === true)) {
      throw new SoftpromptError('invalid_config', 'The base model (no adapter) answers raw generation only.', { path: 'adapter' });
    }
    if (o.mode === 'rank' && (o.labels === undefined || o.labels.length === 0)) {
      throw new SoftpromptError('invalid_config', 'mode "rank" needs labels.', { path: 'labels' });
    }
    const exclusive = adapter.sides === 'exclusive' || (this.causal !== null && o.mode === 'rank');
    const words = o.mode === 'rank' && !exclusive ? o.labels!.map((w) => Int32Array.from(this.tok.encode(w, { addSpecialTokens: true }))) : [];
    const maxNewTokens = o.maxNewTokens ?? 20;
    const positions = this.lm.model.info.maxPositions;
    if (this.causal !== null && !exclusive && positions !== undefined) {
      const virtual = adapter.method?.numVirtualTokens ?? 0;
      job.rows.forEach((r, i) => {
        if (r.length + virtual + maxNewTokens - 1 > positions) {
          throw new SoftpromptError('invalid_data', `Cannot generate ${maxNewTokens} tokens after a ${r.length + virtual}-position input (row ${i}): the model's n_positions is only ${positions}.`, { path: 'maxNewTokens' });
        }
      });
    }
    const j: Job = {
      job, adapter, exclusive, arrival: this.arrivals++, words, maxNewTokens, results: new Array(job.rows.length),
      rankLeft: new Array(job.rows.length).fill(0), rankNll: job.rows.map(() => new Array(words.length).fill(0)),
      next: 0, done: 0, lanes: 0, cancelled: false,
    };
    this.jobs.push(j);
    if (job.rows.length === 0) this.finish(j);
    return { cancel: () => { j.cancelled = true; } };
  }

  /** One unit of work; false when there was nothing to do. */
  step(): boolean {
    this.dropCancelled();
    Object.assign(this.last, { lanes: 0, encodedRows: 0, encodedTokens: 0, exclusiveRows: 0 });
    if (this.jobs.length === 0) return false;
    const exclusive = this.jobs.filter((j) => j.exclusive && j.next < j.job.rows.length);
    // exclusive chunks take every other step while batched work is running, so neither side waits for the other
    if (exclusive.length > 0 && (this.lanes.length === 0 || this.exclusiveTurn++ % 2 === 0)) {
      const j = exclusive.reduce((a, b) => (b.lanes < a.lanes || (b.lanes === a.lanes && b.arrival < a.arrival) ? b : a));
      this.runExclusive(j);
      return true;
    }
    this.admit();
    if (this.lanes.length > 0) this.decode();
    return true;
  }

  private dropCancelled(): void {
    if (!this.jobs.some((j) => j.cancelled)) return;
    this.lanes = this.lanes.filter((l) => !l.job.cancelled);
    for (let i = this.jobs.length - 1; i >= 0; i--) if (this.jobs[i]!.cancelled) this.jobs.splice(i, 1);
  }

  /** Admit rows in turns (fewest active lanes first) while they fit the token budget; encode them together. */
  private admit(): void {
    if (!this.batching) return;
    const waiting = this.jobs.filter((j) => !j.exclusive && j.next < j.job.rows.length)
      .sort((a, b) => a.lanes - b.lanes || a.arrival - b.arrival);
    let budget = this.tokenBudget - this.lanes.length;
    let running = this.lanes.length;
    const admitted: { job: Job; row: number; embeds: Float32Array; Te: number }[] = [];
    let progress = true;
    while (progress) {
      progress = false;
      for (const j of waiting) {
        if (j.cancelled || j.next >= j.job.rows.length) continue;
        const ids = j.job.rows[j.next]!;
        const method = j.adapter.method;
        const Te = ids.length + (method?.numVirtualTokens ?? 0);
        const lanes = j.words.length > 0 ? j.words.length : 1;
        const first = j.lanes === 0 && !admitted.some((a) => a.job === j);
        if ((Te + lanes > budget || running + lanes > this.maxLanes) && !first) continue;
        let x;
        try {
          const E = this.lm.model.embed(ids);
          x = method === null ? { inputsEmbeds: E, Te: ids.length } : method.apply(E, new Float32Array(ids.length).fill(1), 1, ids.length);
        } catch (error) {
          this.fail(j, error);
          continue;
        }
        admitted.push({ job: j, row: j.next++, embeds: x.inputsEmbeds, Te: x.Te });
        j.lanes += lanes;
        budget -= Te + lanes;
        running += lanes;
        progress = true;
      }
    }
    if (admitted.length === 0) return;
    admitted.sort((a, b) => a.job.adapter.order - b.job.adapter.order || a.Te - b.Te); // LoRA segments, attention runs
    const sidesOf = (j: Job) => (j.adapter.sides === 'exclusive' ? null : j.adapter.sides);
    const live = admitted.filter((a) => !a.job.cancelled);
    this.last.encodedRows = live.length;
    this.last.encodedTokens = live.reduce((n, a) => n + a.Te, 0);
    if (this.causal !== null) {
      let first;
      try {
        first = this.causal.prefill(live.map((a) => ({ embeds: a.embeds, Te: a.Te, sides: sidesOf(a.job), room: a.job.maxNewTokens })));
      } catch (error) {
        for (const j of new Set(live.map((a) => a.job))) this.fail(j, error);
        return;
      }
      const recs = live.map((a, i): LaneRec => ({ lane: first.lanes[i]!, job: a.job, row: a.row, word: -1, token: -1, out: [], nll: 0 }));
      this.last.lanes += recs.length;
      this.lanes.push(...this.consume(recs, first.logits));
      return;
    }
    const stepper = this.stepper!;
    let encoded;
    try {
      encoded = stepper.encode(live.map((a) => ({ embeds: a.embeds, Te: a.Te, sides: sidesOf(a.job) })));
    } catch (error) {
      for (const j of new Set(live.map((a) => a.job))) this.fail(j, error);
      return;
    }
    const start = (this.lm.model as T5Model).decoderStartId;
    const recs: Omit<LaneRec, 'lane'>[] = [];
    const rows: T5EncodedRow[] = [];
    live.forEach((a, i) => {
      const row = encoded[i]!;
      if (a.job.words.length === 0) {
        recs.push({ job: a.job, row: a.row, word: -1, token: start, out: [], nll: 0 });
        rows.push(row);
      } else {
        a.job.rankLeft[a.row] = a.job.words.length;
        a.job.words.forEach((_, k) => { recs.push({ job: a.job, row: a.row, word: k, token: start, out: [], nll: 0 }); rows.push(row); });
      }
    });
    stepper.lanes(rows).forEach((lane, i) => this.lanes.push({ lane, ...recs[i]! }));
  }

  /** One decoder position for every lane; finished lanes leave, finished rows and requests settle. */
  private decode(): void {
    this.lanes.sort((a, b) => a.job.adapter.order - b.job.adapter.order); // LoRA rows of one adapter side by side
    const L = this.lanes.length;
    this.last.lanes += L;
    const tokens = Int32Array.from(this.lanes, (l) => l.token);
    let logits: Float32Array;
    try {
      logits = this.causal !== null
        ? this.causal.step(this.lanes.map((l) => l.lane as CausalLane), tokens)
        : this.stepper!.step(this.lanes.map((l) => l.lane as T5Lane), tokens);
    } catch (error) {
      for (const j of new Set(this.lanes.map((l) => l.job))) this.fail(j, error);
      return;
    }
    this.lanes = this.consume(this.lanes, logits);
  }

  /** Each lane's next token (or rank word's NLL) from its (L, V) logits; returns the lanes still running. */
  private consume(lanes: readonly LaneRec[], logits: Float32Array): LaneRec[] {
    const V = this.lm.model.info.vocabSize, L = lanes.length;
    const targets = new Int32Array(L).fill(-100);
    lanes.forEach((l, i) => { if (l.word >= 0) targets[i] = l.job.words[l.word]![l.lane.t - 1]!; });
    const nll = new Float32Array(L);
    if (targets.some((t) => t !== -100)) engine().crossEntropy(nll, null, null, logits, targets, L, V, 0, -100);
    const next = new Int32Array(L);
    engine().argmaxRows(next, logits, L, V);
    const keep: LaneRec[] = [];
    lanes.forEach((l, i) => {
      if (l.word >= 0) {
        l.nll += nll[i]!;
        const w = l.job.words[l.word]!;
        if (l.lane.t < w.length) {
          l.token = w[l.lane.t - 1]!;
          keep.push(l);
        } else {
          this.rankDone(l);
        }
        return;
      }
      const best = next[i]!;
      l.out.push(best);
      l.job.job.options.onToken?.(l.row, best);
      if (best === this.eosId || l.out.length >= l.job.maxNewTokens) {
        l.job.lanes--;
        const text = this.tok.decode(best === this.eosId ? l.out.slice(0, -1) : l.out, { skipSpecialTokens: true }).trim();
        this.rowDone(l.job, l.row, { text, ids: l.out, scores: [] });
      } else {
        l.token = best;
        keep.push(l);
      }
    });
    return keep;
  }

  private rankDone(l: LaneRec): void {
    const j = l.job;
    j.lanes--;
    j.rankNll[l.row]![l.word] = l.nll;
    j.rankLeft[l.row] = j.rankLeft[l.row]! - 1;
    if (j.rankLeft[l.row]! > 0) return;
    const scores = j.rankNll[l.row]!;
    let best = 0;
    for (let k = 1; k < scores.length; k++) if (scores[k]! < scores[best]!) best = k;
    this.rowDone(j, l.row, { text: j.job.options.labels![best]!, ids: [], scores });
  }

  private rowDone(j: Job, row: number, r: RowResult): void {
    j.results[row] = r;
    if (++j.done === j.job.rows.length) this.finish(j);
  }

  private finish(j: Job): void {
    const i = this.jobs.indexOf(j);
    if (i >= 0) this.jobs.splice(i, 1);
    j.job.settle({ ok: true, results: j.results as RowResult[] });
  }

  private fail(j: Job, error: unknown): void {
    j.cancelled = true;
    const i = this.jobs.indexOf(j);
    if (i >= 0) this.jobs.splice(i, 1);
    this.lanes = this.lanes.filter((l) => l.job !== j);
    j.job.settle({ ok: false, error });
  }

  /** One chunk of rows through the unbatched predict path, the method attached alone. */
  private runExclusive(j: Job): void {
    const size = this.opts.batchSize ?? 16;
    const from = j.next, to = Math.min(j.job.rows.length, from + size);
    j.next = to;
    this.last.exclusiveRows = to - from;
    const o = j.job.options, method = j.adapter.method;
    try {
      if (o.mode === 'generate' && o.raw === true) {
        const onToken = o.onToken;
        const rows = generateBatch(this.lm, method, this.tok, {
          prompts: j.job.rows.slice(from, to), maxNewTokens: j.maxNewTokens, onToken: onToken && ((b, id) => onToken(from + b, id)),
        });
        rows.forEach((r, k) => this.rowDone(j, from + k, {
          text: this.tok.decode(r.ids, { skipSpecialTokens: true }).trim(), ids: r.eos ? [...r.ids, this.tok.eosId] : r.ids, scores: [],
        }));
        return;
      }
      if (method === null) throw new SoftpromptError('invalid_config', 'The base model (no adapter) answers raw generation only.', { path: 'adapter' });
      const examples = j.job.rows.slice(from, to).map((source) => ({ source, target: new Int32Array(0) }));
      const texts = withMethod(this.lm.model, method, () => predictAny(this.lm, method, this.tok, examples, o.mode === 'rank' ? o.labels! : null,
        { batchSize: size, maxNewTokens: j.maxNewTokens, maxLength: inputLimit(method, this.opts.maxLength) }));
      texts.forEach((text, k) => this.rowDone(j, from + k, { text, ids: [], scores: [] }));
    } catch (error) {
      this.fail(j, error);
    }
  }
}

