/**
 * Which weights full fine-tuning trains, and which of them get weight decay.
 *
 * `--train-modules` patterns match whole dot-separated segments of the HF tensor name: "encoder" selects every
 * encoder weight, "SelfAttention" every self-attention projection, "decoder.block.1" one block,
 * "lm_head.weight" one tensor. No patterns: every weight.
 *
 * Decay follows HF Trainer's `get_decay_parameter_names`: no weight decay on biases (the T5 relative attention
 * bias table included, as there) or on normalisation weights (LayerNorm, RMSNorm).
 */
import { SoftpromptError } from '../../errors.js';
import type { ModelWeight } from '../../models/types.js';

export function matchesModule(name: string, pattern: string): boolean {
  return `.${name}.`.includes(`.${pattern}.`);
}

export function selectWeights<W extends Pick<ModelWeight, 'name'>>(weights: readonly W[], patterns: readonly string[] | undefined): W[] {
  if (patterns === undefined || patterns.length === 0) return [...weights];
  for (const p of patterns) {
    if (!weights.some((w) => matchesModule(w.name, p))) {
      const sample = weights.slice(0, 4).map((w) => w.name).join(', ');
      throw new SoftpromptError('invalid_config', `--train-modules "${p}" matches no weight of this model (patterns match whole dot-separated parts of names such as ${sample}, …).`, {
        path: 'full.trainModules',
      });
    }
  }
  return weights.filter((w) => patterns.some((p) => matchesModule(w.name, p)));
}

const NO_DECAY = /bias|layernorm|rmsnorm|layer_norm|(^|\.)norm(\.|$)|_norm(\.|$)|(^|\.)ln_(\d+|f)(\.|$)/i;

/** HF Trainer's rule: biases and normalisation weights get no weight decay. */
export function decays(name: string): boolean {
  return !NO_DECAY.test(name);
}
