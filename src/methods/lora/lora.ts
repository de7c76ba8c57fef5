/**
 * LoRA (Hu et al. 2021; PEFT `LoraModel`): a trainable low-rank side path on chosen linear layers of the frozen
 * model, y = x Wᵀ + (α/r) · B A x. The base weights are never changed: attach() installs the side paths on the
 * model (WeightTraining.setSidePaths), detach() removes them, so one frozen model can serve many adapters.
 *
 *   const lora = Lora.init(validateLoraConfig({ r: 8, targetModules: ['q', 'v'] }), model, rng);
 *   lora.attach(model);   // forward/backward/generate now include the side paths; lora.params() are A and B
 */
import { SoftpromptError } from '../../errors.js';
import type { ModelInfo } from '../../models/types.js';
import { weightTraining, type InitRng, type MethodModel, type PeftMethod, type TrainableTensor, type TransformedInput } from '../method.js';
import { DEFAULT_TARGETS, loraScaling, type LoraConfig } from './config.js';
import { checkPairsAgainstModel, type LoraPairData } from './files.js';
import { LoraLinear } from './side-path.js';
import { resolveTargets } from './targets.js';

export class Lora implements PeftMethod {
  readonly type = 'lora';
  readonly numVirtualTokens = 0;
  readonly maxInputLength = Infinity;
  readonly scaling: number;
  readonly paths: readonly LoraLinear[];

  /** `targets`: target_modules as written to adapter_config.json; `pairs`: one per targeted module, in model order */
  constructor(readonly config: LoraConfig, readonly targets: readonly string[], public dModel: number,
    pairs: readonly LoraPairData[], public architecture: ModelInfo['architecture'] | null = null) {
    this.scaling = loraScaling(config);
    this.paths = pairs.map((p, i) => new LoraLinear(p.module, p.inFeatures, p.outFeatures, config.r, this.scaling, config.loraDropout, i, p.A, p.B));
  }

  /** A fresh adapter on `model`'s linear layers (PEFT init: A kaiming-uniform, B zero). */
  static init(config: LoraConfig, model: MethodModel, rng: InitRng): Lora {
    const arch = model.info.architecture;
    const targets = config.targetModules ?? DEFAULT_TARGETS[arch];
    const modules = resolveTargets(targets, weightTraining(model, 'lora').linearModules());
    const pairs = modules.map((m, i) => {
      const p = LoraLinear.init(m.name, m.inFeatures, m.outFeatures, config.r, loraScaling(config), config.loraDropout, i, rng);
      return { module: m.name, inFeatures: m.inFeatures, outFeatures: m.outFeatures, A: p.A.data, B: p.B.data };
    });
    return new Lora(config, targets, model.info.dModel, pairs, arch);
  }

  params(): TrainableTensor[] {
    return this.paths.flatMap((p) => [p.A, p.B]);
  }

  numParams(): number {
    return this.paths.reduce((n, p) => n + p.A.data.length + p.B.data.length, 0);
  }

  pairs(): LoraPairData[] {
    return this.paths.map((p) => ({ module: p.module, inFeatures: p.inFeatures, outFeatures: p.outFeatures, A: p.A.data, B: p.B.data }));
  }

  apply(E: Float32Array, mask: Float32Array, _B: number, T: number): TransformedInput {
    return { inputsEmbeds: E, mask, Te: T };
  }

  backward(): void {}

  /** Checks every pair against the model's layers (a LoRA file records no model width, so this is the check). */
  attach(model: MethodModel): void {
    const wt = weightTraining(model, 'lora');
    checkPairsAgainstModel(this.pairs(), this.config.r, wt.linearModules(), 'LoRA adapter');
    this.dModel = model.info.dModel;
    if (this.architecture === null) this.architecture = model.info.architecture;
    wt.setSidePaths(new Map(this.paths.map((p) => [p.module, p])));
  }

  detach(model: MethodModel): void {
    weightTraining(model, 'lora').setSidePaths(null);
  }

  /** W += s·B A for every targeted layer (the model's live weights, nn.Linear layout): `softprompt export --merge`. */
  mergeInto(model: MethodModel): void {
    const wt = weightTraining(model, 'lora');
    const byName = new Map(wt.weights().map((w) => [w.name, w]));
    checkPairsAgainstModel(this.pairs(), this.config.r, wt.linearModules(), 'LoRA adapter');
    for (const p of this.paths) {
      const w = byName.get(`${p.module}.weight`);
      if (w === undefined) throw new SoftpromptError('unsupported', `Cannot merge LoRA into ${p.module}: the model holds no ${p.module}.weight.`, { path: p.module });
      p.mergeInto(w.data); // data is (out, in) for nn.Linear and for GPT-2's transposed Conv1D alike
    }
  }
}
