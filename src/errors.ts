/**
 * One error type for the whole library. Errors are data first (a `code`, the `path` of the field or tensor at
 * fault, the `file` involved), text second; the CLI maps `code` to a distinct exit status.
 */

export type ErrorCode =
  | 'usage' // bad command-line arguments
  | 'invalid_config' // a config value out of range or of the wrong type
  | 'file_not_found'
  | 'malformed_file' // a file that cannot be parsed (truncated safetensors, bad JSON, bad TSV row…)
  | 'missing_tensor'
  | 'shape_mismatch'
  | 'unsupported' // a valid input this version does not handle (unknown architecture, dtype, activation…)
  | 'invalid_data' // a data row missing a field, an unknown label…
  | 'unsafe_pickle' // a PyTorch .bin that asks to run code
  | 'non_finite_loss' // NaN/Inf during training
  | 'native' // the compute engine refused a call (wrong buffer size…)
  | 'queue_unavailable' // the job queue's Redis cannot be reached
  | 'sweep_failed' // a sweep finished with failed jobs
  | 'interrupted' // Ctrl-C / SIGTERM: stopped after saving a checkpoint
  | 'hub_unavailable'; // a Hugging Face Hub id that could not be fetched (no network, 401/404, offline and not cached)

/** Exit status per error kind; 1 stays for unexpected crashes. */
export const EXIT_CODES: Readonly<Record<ErrorCode, number>> = {
  usage: 2,
  invalid_config: 3,
  file_not_found: 4,
  malformed_file: 5,
  missing_tensor: 6,
  shape_mismatch: 6,
  unsupported: 7,
  invalid_data: 8,
  unsafe_pickle: 9,
  non_finite_loss: 10,
  native: 11,
  queue_unavailable: 12,
  sweep_failed: 13,
  interrupted: 130,
  hub_unavailable: 14,
};

export interface SoftpromptErrorOptions {
  /** Field or tensor at fault, e.g. "config.peft.rank" or "encoder.block.0.layer.0.SelfAttention.q.weight". */
  path?: string;
  /** File involved, as the user named it. */
  file?: string;
  /** One line on how to fix it. */
  hint?: string;
  cause?: unknown;
}

export class SoftpromptError extends Error {
  readonly code: ErrorCode;
  readonly path: string | undefined;
  readonly file: string | undefined;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: SoftpromptErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SoftpromptError';
    this.code = code;
    this.path = options.path;
    this.file = options.file;
    this.hint = options.hint;
  }

  get exitCode(): number {
    return EXIT_CODES[this.code];
  }
}

/** "✖ message" then "→ at path" / "→ in file" / "hint: …", as the CLI prints it. */
export function formatError(err: unknown): string {
  if (!(err instanceof SoftpromptError)) return `✖ ${err instanceof Error ? err.message : String(err)}`;
  const lines = [`✖ ${err.message}`];
  if (err.path !== undefined) lines.push(`  → at ${err.path}`);
  if (err.file !== undefined && !err.message.includes(err.file)) lines.push(`  → in ${err.file}`);
  if (err.hint !== undefined) lines.push(`  hint: ${err.hint}`);
  return lines.join('\n');
}

/**
 * A short rendering of a value taken from a user's file, for error messages: at most `max` characters, three
 * levels deep and eight items per level, so a 100k-element array or a 300k-deep nesting is never echoed whole (nor
 * overflows the stack, as JSON.stringify does past a few thousand levels).
 */
export function preview(value: unknown, max = 120): string {
  const s = render(value, 3);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function render(v: unknown, depth: number): string {
  const ITEMS = 8;
  if (Array.isArray(v)) {
    if (depth === 0) return v.length === 0 ? '[]' : '[…]';
    const head = v.slice(0, ITEMS).map((x) => render(x, depth - 1));
    return `[${head.join(',')}${v.length > ITEMS ? `,… ${v.length - ITEMS} more` : ''}]`;
  }
  if (v !== null && typeof v === 'object') {
    if (depth === 0) return '{…}';
    const keys = Object.keys(v);
    const head = keys.slice(0, ITEMS).map((k) => `${render(k, 0)}:${render((v as Record<string, unknown>)[k], depth - 1)}`);
    return `{${head.join(',')}${keys.length > ITEMS ? `,… ${keys.length - ITEMS} more` : ''}}`;
  }
  if (typeof v === 'string') return JSON.stringify(v.length > 200 ? `${v.slice(0, 200)}…` : v);
  if (typeof v === 'bigint') return `${v}`;
  if (v === undefined) return 'undefined';
  return JSON.stringify(v) ?? String(v);
}
