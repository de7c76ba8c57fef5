/**
 * Which linear layers a LoRA config targets, resolved against the model's own module list (PEFT's
 * `check_target_module_exists` for a list of names): `key == target || key.endsWith("." + target)`.
 * "all-linear" is every linear except the output head (PEFT excludes the model's output layer).
 */
import { SoftpromptError } from '../../errors.js';
import type { LinearModule } from '../../models/types.js';

export const ALL_LINEAR = 'all-linear';
const OUTPUT_HEADS = new Set(['lm_head']);

export function matchesTarget(module: string, target: string): boolean {
  return module === target || module.endsWith(`.${target}`);
}

/** The modules the targets select, in the model's order. A target matching nothing is an error naming the valid names. */
export function resolveTargets(targets: readonly string[], modules: readonly LinearModule[]): LinearModule[] {
  if (targets.includes(ALL_LINEAR)) {
    if (targets.length > 1) {
      throw new SoftpromptError('invalid_config', `lora.targetModules: "${ALL_LINEAR}" cannot be combined with other names, got ${JSON.stringify(targets)}.`, { path: 'lora.targetModules' });
    }
    return modules.filter((m) => !OUTPUT_HEADS.has(m.name));
  }
  for (const t of targets) {
    if (!modules.some((m) => matchesTarget(m.name, t))) {
      throw new SoftpromptError('invalid_config', `LoRA target module "${t}" matches no linear layer of this model. Valid names: ${validTargetNames(modules).join(', ')} (or full paths such as ${modules[0]?.name ?? '…'}, or "${ALL_LINEAR}").`, {
        path: 'lora.targetModules',
      });
    }
  }
  return modules.filter((m) => targets.some((t) => matchesTarget(m.name, t)));
}

/** The distinct last path segments of the model's linear modules: the short names PEFT users write. */
export function validTargetNames(modules: readonly LinearModule[]): string[] {
  return [...new Set(modules.map((m) => m.name.slice(m.name.lastIndexOf('.') + 1)))];
}
