/** CLI option helpers: repeatable values and fixed choices (the strict number parsers live in src/args.ts). */
export { choiceArg, floatArg, intArg, parseNumberStrict } from '../args.js';

/** Repeatable string option: --text a --text b → ['a', 'b']. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export const EVAL_MODE_CHOICES = { generate: 'generate', rank: 'rank' } as const;
export const SPLIT_CHOICES = { validation: 'validation', test: 'test' } as const;

/** --label-words negative,positive → ['negative', 'positive'] (the config schema checks count and emptiness). */
export function labelWordsArg(value: string): string[] {
  return value.split(',').map((w) => w.trim());
}
