/** Schema validation (zod) that fails with a SoftpromptError naming the field, the rule and the value. */
import type { z } from 'zod';
import { preview, SoftpromptError } from './errors.js';

export function parseWith<S extends z.ZodType>(schema: S, value: unknown, where: string, file?: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const path = [where, ...issue.path.map(String)].filter((s) => s !== '').join('.');
  let got: unknown = value;
  for (const k of issue.path) got = got !== null && typeof got === 'object' ? (got as Record<PropertyKey, unknown>)[k as PropertyKey] : undefined;
  const shown = got === undefined ? 'nothing' : preview(got);
  const opts: { path: string; file?: string } = { path };
  if (file !== undefined) opts.file = file;
  throw new SoftpromptError('invalid_config', `${path}: ${issue.message}, got ${shown}${file !== undefined ? ` (in ${file})` : ''}.`, opts);
}
