/**
 * LoRA's configuration (Hu et al. 2021, arXiv 2106.09685), with PEFT's `LoraConfig` defaults and field meanings:
 *
 *   y = x Wᵀ + scaling · dropout(x) Aᵀ Bᵀ      A (r, in), B (out, r); scaling = α/r (α/√r with rsLoRA)
 *
 * Target modules are matched as PEFT matches a list: a module path equals a target or ends with "." + target;
 * "all-linear" targets every linear layer except the output head.
 */
import { z } from 'zod';
import { parseWith } from '../../validate.js';

export const LoraConfigSchema = z.object({
  r: z.number().int().min(1).max(4096).default(8),
  loraAlpha: z.number().positive().default(8),
  loraDropout: z.number().min(0).lt(1).default(0),
  /** HF module names or suffixes; undefined = the architecture's default (PEFT's table) */
  targetModules: z.array(z.string().min(1)).min(1).optional(),
  /** scaling α/√r instead of α/r (PEFT use_rslora) */
  useRslora: z.boolean().default(false),
});
export type LoraConfig = z.output<typeof LoraConfigSchema>;

export function validateLoraConfig(value: unknown): LoraConfig {
  return parseWith(LoraConfigSchema, value, 'lora');
}

/** PEFT's scaling: lora_alpha / r, or lora_alpha / √r with use_rslora. */
export function loraScaling(c: Pick<LoraConfig, 'r' | 'loraAlpha' | 'useRslora'>): number {
  return c.useRslora ? c.loraAlpha / Math.sqrt(c.r) : c.loraAlpha / c.r;
}

/** PEFT's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING for the families softprompt runs. */
export const DEFAULT_TARGETS: Readonly<Record<'t5' | 'gpt2' | 'llama', readonly string[]>> = {
  t5: ['q', 'v'],
  gpt2: ['c_attn'],
  llama: ['q_proj', 'v_proj'],
};
