/** DePT's config (spec §1.6, §1.7): l, r, s, α and the prompt init; validated with field-naming errors. */
import { z } from 'zod';
import { SoftpromptError } from '../../errors.js';
import { parseWith } from '../../validate.js';
import { DEPT_INIT_TEXT, PROMPT_INITS, type PromptInit } from '../prompt-init.js';

export const DeptConfigSchema = z.object({
  numVirtualTokens: z.number().int().min(0).max(10000),
  rank: z.number().int().min(0).max(4096),
  /** s: the padded input length; A has one row per input position */
  maxLength: z.number().int().min(1).max(1 << 20),
  loraAlpha: z.number().positive().default(8),
  init: z.enum(PROMPT_INITS as [PromptInit, ...PromptInit[]]).default('TEXT'),
  initText: z.string().default(DEPT_INIT_TEXT),
});
export type DeptConfig = z.output<typeof DeptConfigSchema>;

export function validateDeptConfig(value: unknown): DeptConfig {
  const cfg = parseWith(DeptConfigSchema, value, 'peft');
  if (cfg.numVirtualTokens === 0 && cfg.rank === 0) {
    throw new SoftpromptError('invalid_config', 'peft: DePT needs numVirtualTokens > 0 or rank > 0, got both 0.', { path: 'peft.rank' });
  }
  return cfg;
}

/** scaling = lora_alpha / sqrt(r) (the reference's rsLoRA-style factor; r = 0 gives 0). */
export function deptScaling(loraAlpha: number, rank: number): number {
  return rank > 0 ? loraAlpha / Math.sqrt(rank) : 0;
}

/** Trainable scalars: l·d + r·(s + d). */
export function deptParamCount(l: number, r: number, s: number, d: number): number {
  return l * d + r * (s + d);
}

/**
 * The rank that makes DePT's parameter count equal a vanilla PT budget of `ptTokens` (spec §1.6):
 * r = (L − l)·d / (s + d), rounded down when not an integer (e.g. 100 tokens, l=60, s=256, d=768 → r=30).
 */
export function deptRankForBudget(ptTokens: number, l: number, s: number, d: number): number {
  if (l > ptTokens) {
    throw new SoftpromptError('invalid_config', `DePT prompt length ${l} exceeds the PT budget of ${ptTokens} tokens.`, { path: 'peft.numVirtualTokens' });
  }
  return Math.floor(((ptTokens - l) * d) / (s + d));
}

