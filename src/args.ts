/**
 * Strict option-value parsers for commander. A value that does not parse is a usage error (exit 2) that names
 * the flag: commander prints "error: option '--steps <n>' argument 'ten' is invalid. expected an integer …".
 * Range checks (steps ≥ 1, …) are left to the config schema, which names the field (config.steps, exit 3).
 * Shared by the CLI and the method entries (src/methods/<method>/entry.ts declare their own flags).
 */
import { InvalidArgumentError } from 'commander';

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A finite decimal number: "0.3", "1e-4", ".5"; not "", "0x10", "1,5", "Infinity". */
export function parseNumberStrict(text: string): number | undefined {
  const s = text.trim();
  if (!NUMBER.test(s)) return undefined;
  const v = Number(s);
  return Number.isFinite(v) ? v : undefined;
}

export function floatArg(value: string): number {
  const v = parseNumberStrict(value);
  if (v === undefined) throw new InvalidArgumentError(`expected a number, e.g. 0.3 or 1e-4.`);
  return v;
}

export function intArg(value: string): number {
  const v = parseNumberStrict(value);
  if (v === undefined || !Number.isSafeInteger(v)) throw new InvalidArgumentError(`expected an integer, e.g. 300.`);
  return v;
}

/** A case-insensitive choice mapped to its canonical value: choiceArg({ pt: 'prompt_tuning', … }). */
export function choiceArg<T extends string>(choices: Readonly<Record<string, T>>, shown: string): (value: string) => T {
  return (value: string): T => {
    const v = choices[value.trim().toLowerCase()];
    if (v === undefined) throw new InvalidArgumentError(`expected one of ${shown}.`);
    return v;
  };
}

