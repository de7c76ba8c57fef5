/**
 * The PEFT methods softprompt trains, by name (HF PEFT's `register_peft_method` pattern): each entry validates
 * its config, initialises the method from the model's numbers, and describes itself in one line.
 *
 *   const m = createMethod('dept', { numVirtualTokens: 60, rank: 30, maxLength: 256 }, ctx);
 *   getMethod('pt').describe({ numVirtualTokens: 100, init: 'TEXT', initText: '…' });
 *   // "prompt tuning: 100 virtual tokens, TEXT init"
 */
import { SoftpromptError } from '../errors.js';
import { Dept, deptParamCount, deptScaling, validateDeptConfig, type DeptConfig } from './dept.js';
import type { InitContext, PeftMethod } from './method.js';
import { PromptTuning, validatePromptTuningConfig, type PromptTuningConfig } from './prompt-tuning.js';

export interface MethodEntry<C> {
  /** canonical name, also the method's `type` */
  readonly name: MethodName;
  readonly aliases: readonly string[];
  /** a raw config object → the validated config (invalid_config naming the field otherwise) */
  validate(config: unknown): C;
  init(config: C, ctx: InitContext): PeftMethod;
  /** one line for logs; with d, also the trainable parameter count */
  describe(config: C, dModel?: number): string;
}

export type MethodName = 'dept' | 'prompt_tuning';

function initText(c: { init: string; initText: string }): string {
  return c.init === 'TEXT' ? `TEXT init ${JSON.stringify(c.initText)}` : `${c.init} init`;
}

const dept: MethodEntry<DeptConfig> = {
  name: 'dept',
  aliases: ['prompt_tuning_lora', 'prompt-tuning-lora'],
  validate: validateDeptConfig,
  init: (config, ctx) => Dept.init(config, ctx),
  describe(c, d) {
    const { numVirtualTokens: l, rank: r, maxLength: s, loraAlpha } = c;
    const params = d === undefined ? '' : `, ${deptParamCount(l, r, s, d)} trainable parameters`;
    return `DePT: ${l} virtual tokens + rank-${r} offset over s=${s} input positions (α=${loraAlpha}, scaling α/√r=${+deptScaling(loraAlpha, r).toFixed(4)}), ${initText(c)}${params}`;
  },
};

const promptTuning: MethodEntry<PromptTuningConfig> = {
  name: 'prompt_tuning',
  aliases: ['pt', 'prompt-tuning'],
  validate: validatePromptTuningConfig,
  init: (config, ctx) => PromptTuning.init(config, ctx),
  describe(c, d) {
    const params = d === undefined ? '' : `, ${c.numVirtualTokens * d} trainable parameters`;
    return `prompt tuning: ${c.numVirtualTokens} virtual tokens, ${initText(c)}${params}`;
  },
};

/** Every method, by canonical name. */
export const METHODS: { readonly dept: MethodEntry<DeptConfig>; readonly prompt_tuning: MethodEntry<PromptTuningConfig> } = {
  dept,
  prompt_tuning: promptTuning,
};

export type AnyMethodEntry = (typeof METHODS)[MethodName];

/** Canonical names and aliases, as accepted by getMethod. */
export function methodNames(): string[] {
  return Object.values(METHODS).flatMap((m) => [m.name, ...m.aliases]);
}

/** The entry for a name or alias (case-insensitive); invalid_config listing the known names otherwise. */
export function getMethod(name: string): AnyMethodEntry {
  const key = name.trim().toLowerCase();
  for (const m of Object.values(METHODS)) {
    if (m.name === key || m.aliases.includes(key)) return m;
  }
  throw new SoftpromptError('invalid_config', `Unknown PEFT method ${JSON.stringify(name)}; known methods: ${Object.values(METHODS).map((m) => `${m.name} (${m.aliases.join(', ')})`).join(', ')}.`, { path: 'method' });
}

/** Validate `rawConfig` for method `name` and initialise it. */
export function createMethod(name: string, rawConfig: unknown, ctx: InitContext): PeftMethod {
  const m = getMethod(name);
  // narrow per entry: a union of entries cannot take a union of configs
  if (m.name === 'dept') return METHODS.dept.init(METHODS.dept.validate(rawConfig), ctx);
  return METHODS.prompt_tuning.init(METHODS.prompt_tuning.validate(rawConfig), ctx);
}

/** describe() of a raw config, validated first. */
export function describeMethod(name: string, rawConfig: unknown, dModel?: number): string {
  const m = getMethod(name);
  if (m.name === 'dept') return METHODS.dept.describe(METHODS.dept.validate(rawConfig), dModel);
  return METHODS.prompt_tuning.describe(METHODS.prompt_tuning.validate(rawConfig), dModel);
}
