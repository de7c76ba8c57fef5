/** Prompt tuning's config: l virtual tokens and the prompt init (PEFT PromptTuningConfig). */
import { z } from 'zod';
import { parseWith } from '../../validate.js';
import { DEPT_INIT_TEXT, PROMPT_INITS, type PromptInit } from '../prompt-init.js';

export const PromptTuningConfigSchema = z.object({
  numVirtualTokens: z.number().int().min(1).max(10000),
  init: z.enum(PROMPT_INITS as [PromptInit, ...PromptInit[]]).default('TEXT'),
  initText: z.string().default(DEPT_INIT_TEXT),
});
export type PromptTuningConfig = z.output<typeof PromptTuningConfigSchema>;

export function validatePromptTuningConfig(value: unknown): PromptTuningConfig {
  return parseWith(PromptTuningConfigSchema, value, 'peft');
}

