/** Full fine-tuning's config: which weights train (`--train-modules`, name segments; empty = every weight). */
import { z } from 'zod';
import { parseWith } from '../../validate.js';

export const FullConfigSchema = z.object({
  trainModules: z.array(z.string().trim().min(1)).default([]),
});
export type FullConfig = z.output<typeof FullConfigSchema>;

export function validateFullConfig(value: unknown): FullConfig {
  return parseWith(FullConfigSchema, value, 'full');
}

/** "encoder, lm_head" or ["encoder", "lm_head"] → ["encoder", "lm_head"]; anything else is left for the schema to reject. */
export function splitModules(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}
