/**
 * Full fine-tuning: the model's own weights are the trainable tensors (every weight, or those `--train-modules`
 * selects), trained with AdamW in fp32 (weights and moments), weight decay on all but biases and norm weights
 * (HF Trainer's rule, select.ts). The method owns no tensors of its own: attach() hands the model's live buffers
 * over, so the optimizer updates the model in place.
 *
 * A saved folder is a whole HF model. Loaded back (files.ts) it is a method holding those weights: attach()
 * copies them into the model after checking names and shapes and detach() puts the originals back, so eval,
 * predict and serve can use it as `--adapter DIR` on top of its base model.
 */
import { SoftpromptError } from '../../errors.js';
import { formatShape, numel } from '../../io/dtype.js';
import type { ModelWeight, WeightTraining } from '../../models/types.js';
import { weightTraining, type InitContext, type MethodModel, type PeftMethod, type TrainableTensor, type TransformedInput } from '../method.js';
import type { FullConfig } from './config.js';
import { decays, selectWeights } from './select.js';

/** The two optimizer groups (HF Trainer's): weight decay on 'decay', none on 'no_decay' (biases, norms). */
export const DECAY_GROUP = 'decay';
export const NO_DECAY_GROUP = 'no_decay';

/** A weight by HF name and HF shape (GPT-2 Conv1D: [in, out]). */
export interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
}

/** Weights held outside the model (a loaded folder), in HF layout, read on demand. */
export interface StoredWeights {
  /** where they come from, for errors */
  readonly file: string;
  /** every tensor name, in file order */
  readonly names: readonly string[];
  /** the folder's config.json (copied byte for byte when the weights are saved again) */
  readonly configFile: string;
  has(name: string): boolean;
  shape(name: string): readonly number[];
  read(name: string): Float32Array;
}

/** HF layout → the model's layout (the inverse of hfLayout: GPT-2 Conv1D [in, out] → held (out, in)). */
export function modelLayout(w: ModelWeight, hf: Float32Array): Float32Array {
  if (!w.transposed) return hf;
  const [inF, outF] = w.shape as [number, number];
  const out = new Float32Array(inF * outF);
  for (let i = 0; i < inF; i++) for (let o = 0; o < outF; o++) out[o * inF + i] = hf[i * outF + o]!;
  return out;
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

export class FullFineTune implements PeftMethod {
  readonly type = 'full';
  readonly numVirtualTokens = 0;
  readonly maxInputLength = Infinity;
  private model: (MethodModel & WeightTraining) | null = null;
  private trainable: TrainableTensor[] | null = null;
  /** live buffer and its values before attach copied stored weights in */
  private originals: Array<[Float32Array, Float32Array]> = [];

  /**
   * `selected`: the weights trained (HF names and shapes); `stored`: the weights a loaded folder holds (copied in
   * on attach), null for a fresh method (the model's own weights are the starting point).
   */
  constructor(readonly config: FullConfig, readonly dModel: number, readonly selected: readonly WeightSpec[], readonly stored: StoredWeights | null) {}

  static init(config: FullConfig, ctx: InitContext): FullFineTune {
    if (ctx.model === undefined) {
      throw new SoftpromptError('invalid_config', 'Full fine-tuning needs the model to select its weights (InitContext.model).', { path: 'method' });
    }
    const weights = weightTraining(ctx.model, 'full').weights();
    return new FullFineTune(config, ctx.dModel, selectWeights(weights, config.trainModules).map(({ name, shape }) => ({ name, shape })), null);
  }

  numParams(): number {
    return this.selected.reduce((n, w) => n + numel(w.shape), 0);
  }

  /** The model's weights while attached (what a save writes), else null. */
  attachedWeights(): ModelWeight[] | null {
    return this.model === null ? null : this.model.weights();
  }

  attach(model: MethodModel): void {
    if (this.model !== null) {
      throw new SoftpromptError('invalid_config', 'This full fine-tuning method is already attached to a model; detach it first.', { path: 'method' });
    }
    const wt = weightTraining(model, 'full') as MethodModel & WeightTraining;
    const weights = wt.weights();
    const byName = new Map(weights.map((w) => [w.name, w]));
    for (const s of this.selected) {
      const w = byName.get(s.name);
      if (w === undefined) {
        throw new SoftpromptError('missing_tensor', `Full fine-tuning trains "${s.name}", which this ${model.info.architecture} model does not have (it has e.g. ${weights.slice(0, 3).map((x) => x.name).join(', ')}).`, { path: s.name });
      }
      if (!sameShape(w.shape, s.shape)) {
        throw new SoftpromptError('shape_mismatch', `Weight "${s.name}": the method has shape ${formatShape([...s.shape])}, the model ${formatShape([...w.shape])}.`, { path: s.name });
      }
    }
    if (this.stored !== null) this.copyStoredInto(weights);
    this.model = wt;
  }

  private copyStoredInto(weights: readonly ModelWeight[]): void {
    const st = this.stored!;
    for (const w of weights) { // check everything before changing anything
      if (!st.has(w.name)) throw new SoftpromptError('missing_tensor', `${st.file} has no tensor "${w.name}", which the model needs.`, { file: st.file, path: w.name });
      const shape = st.shape(w.name);
      if (!sameShape(shape, w.shape)) {
        throw new SoftpromptError('shape_mismatch', `Tensor "${w.name}" in ${st.file} has shape ${formatShape([...shape])}, but the model's is ${formatShape([...w.shape])}.`, { file: st.file, path: w.name });
      }
    }
    try {
      for (const w of weights) {
        const value = modelLayout(w, st.read(w.name));
        this.originals.push([w.data, w.data.slice()]);
        w.data.set(value);
      }
    } catch (err) {
      this.restoreOriginals();
      throw err;
    }
  }

  private restoreOriginals(): void {
    for (const [live, orig] of this.originals) live.set(orig);
    this.originals = [];
  }

  detach(model: MethodModel): void {
    if (this.model === null || this.model !== model) return;
    if (this.trainable !== null) this.model.setTrainable([]);
    this.trainable = null;
    this.restoreOriginals();
    this.model = null;
  }

  /** The selected weights as trainable tensors: the model's live buffers (model layout) and its gradient buffers. */
  params(): TrainableTensor[] {
    if (this.model === null) {
      throw new SoftpromptError('invalid_config', 'Full fine-tuning: attach the method to the model before params() (its tensors are the model\'s weights).', { path: 'method' });
    }
    if (this.trainable === null) {
      const grads = this.model.setTrainable(this.selected.map((s) => s.name));
      const byName = new Map(this.model.weights().map((w) => [w.name, w]));
      this.trainable = this.selected.map((s) => {
        const w = byName.get(s.name)!;
        return {
          name: s.name, group: decays(s.name) ? DECAY_GROUP : NO_DECAY_GROUP,
          shape: w.transposed ? [...w.shape].reverse() : [...w.shape], data: w.data, grad: grads.get(s.name)!,
        };
      });
    }
    return this.trainable;
  }

  apply(E: Float32Array, mask: Float32Array, _B: number, T: number): TransformedInput {
    return { inputsEmbeds: E, mask, Te: T };
  }

  backward(): void {} // the model accumulates the weight gradients itself
}
