/** Reading numeric fields of a Hugging Face config.json with errors that name the file and the field. */
import { preview, SoftpromptError } from '../errors.js';

export interface NumberRule {
  /** whole numbers only (default true) */
  integer?: boolean;
  /** reject 0 (default false) */
  positive?: boolean;
}

/** json[key], or `fallback` when absent; throws invalid_config naming key and file when it breaks the rule. */
export function configNumber(json: Record<string, unknown>, key: string, file: string, fallback: unknown,
  rule: NumberRule = {}): number {
  const { integer = true, positive = false } = rule;
  const v = json[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < 0 || (positive && v === 0)) {
    throw new SoftpromptError('invalid_config',
      `${key} in ${file} must be a ${positive ? 'positive' : 'non-negative'} ${integer ? 'integer' : 'number'}, got ${preview(v)}.`,
      { path: key, file });
  }
  // no size, count or id in a real config reaches 2^31; larger ones (num_heads 2^32, 1e308) only overflow sizes
  if (integer && v > MAX_CONFIG_INT) {
    throw new SoftpromptError('invalid_config', `${key} in ${file} is ${v}, above the ${MAX_CONFIG_INT} limit for a size, count or id.`, { path: key, file });
  }
  return v;
}

export const MAX_CONFIG_INT = 2 ** 31 - 1;
