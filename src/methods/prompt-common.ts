/**
 * What the two prompt methods (DePT, prompt tuning) share in their entries: the prompt options (l, init, init
 * text), the "prompt" optimizer group, and the statistics and wording their descriptions use.
 */
import { z } from 'zod';
import { choiceArg, intArg } from '../args.js';
import type { ParsedAdapterConfig } from './adapter-config.js';
import type { CardValue, MethodOption, MethodSettings, ParamGroupSpec, TensorReport } from './entry.js';
import { DEPT_INIT_TEXT, PROMPT_INITS, type PromptInit } from './prompt-init.js';

const INIT_CHOICES = { text: 'TEXT', sample_vocab: 'SAMPLE_VOCAB', 'sample-vocab': 'SAMPLE_VOCAB', random: 'RANDOM' } as const;

/** l, the prompt init and its text: the same keys and flags for every prompt method. */
export const PROMPT_OPTIONS: readonly MethodOption[] = [
  { key: 'promptLength', flags: '--prompt-length <n>', help: 'l: virtual tokens', schema: z.number().int().min(0).max(10000).optional(), shownDefault: '60', parse: intArg },
  {
    key: 'init', flags: '--init <kind>', help: 'prompt init: text | sample_vocab | random',
    schema: z.enum(PROMPT_INITS as [PromptInit, ...PromptInit[]]).optional(), shownDefault: '"text"',
    parse: choiceArg(INIT_CHOICES, 'text, sample_vocab, random'),
    normalize: (v) => (typeof v === 'string' ? (INIT_CHOICES as Record<string, string>)[v.toLowerCase()] ?? v : v),
  },
  { key: 'initText', flags: '--init-text <text>', help: 'text whose token embeddings initialise the prompt (--init text)', schema: z.string().optional(), shownDefault: JSON.stringify(DEPT_INIT_TEXT) },
];

/** The prompt P at --lr (spec §1.7: 0.3). */
export const PROMPT_GROUP: ParamGroupSpec = { name: 'prompt', lrKey: 'lr', defaultLr: 0.3, defaultWeightDecay: 0 };

/** The prompt options of a train config, with their defaults. */
export function promptSettings(s: MethodSettings): { numVirtualTokens: number; init: PromptInit; initText: string } {
  return {
    numVirtualTokens: typeof s['promptLength'] === 'number' ? s['promptLength'] : 60,
    init: (s['init'] as PromptInit | undefined) ?? 'TEXT',
    initText: typeof s['initText'] === 'string' ? s['initText'] : DEPT_INIT_TEXT,
  };
}

export function initWords(c: { init: string; initText: string }): string {
  return c.init === 'TEXT' ? `TEXT init ${JSON.stringify(c.initText)}` : `${c.init} init`;
}

/** L2 norm of each row of a (rows, cols) matrix: mean, min, max. */
export function rowNormStats(x: Float32Array, rows: number, cols: number): { mean: number; min: number; max: number } | null {
  if (rows === 0) return null;
  let sum = 0, min = Infinity, max = -Infinity;
  for (let i = 0; i < rows; i++) {
    let ss = 0;
    for (let j = 0; j < cols; j++) ss += x[i * cols + j]! ** 2;
    const n = Math.sqrt(ss);
    sum += n;
    min = Math.min(min, n);
    max = Math.max(max, n);
  }
  return { mean: sum / rows, min, max };
}

/** Population standard deviation (numpy's .std()). */
export function std(x: Float32Array): number | null {
  if (x.length === 0) return null;
  let mean = 0;
  for (let i = 0; i < x.length; i++) mean += x[i]!;
  mean /= x.length;
  let v = 0;
  for (let i = 0; i < x.length; i++) v += (x[i]! - mean) ** 2;
  return Math.sqrt(v / x.length);
}

export function promptTensorReport(P: { shape: number[]; data: Float32Array }): TensorReport {
  return { name: 'prompt_embeddings', shape: P.shape, rowNorm: rowNormStats(P.data, P.shape[0]!, P.shape[1]!), std: std(P.data) };
}

/** inspect fields and card rows every prompt adapter has (init, stored rows). */
export function promptFileFacts(c: ParsedAdapterConfig): { fields: Record<string, unknown>; hyperTail: Record<string, CardValue>; initLine: string } {
  const l = c.numVirtualTokens;
  return {
    fields: { init: c.init, initText: c.initText },
    hyperTail: {
      ...(c.numTransformerSubmodules === 2 ? { 'stored prompt rows': `${2 * l} (num_transformer_submodules 2; only the first ${l} are used)` } : {}),
      'prompt init': c.init === 'TEXT' && c.initText !== null ? `TEXT (${JSON.stringify(c.initText)})` : c.init,
    },
    initLine: `  init        ${c.init}${c.initText !== null ? ` ${JSON.stringify(c.initText)}` : ''}`,
  };
}

export const PROMPT_REFERENCE_NOTES: readonly string[] = [
  '  reference   released DePT T5-base checkpoints (spec §1.10): CoLA l80 r15: ‖P_row‖ 917 (771–1190), A std 0.237, B std 0.162;',
  '              SST-2 l60 r30: ‖P_row‖ 781 (665–1029), A std 0.142, B std 0.087',
];

/** The model card's line after the Python snippet, for prompt adapters. */
export const PROMPT_CARD_AFTER: readonly string[] = [
  'PEFT refuses `is_trainable=True` for prompt adapters; to continue training in Python, create a fresh adapter with `get_peft_model` and copy the saved tensors into it.',
  '',
];
