/**
 * Small decoder-only models with seeded RANDOM weights but real vocabularies, built at run time in a temporary
 * folder with the committed real tokenizer beside them: GPT-2 (50257 tokens, tokenizer.json) and LLaMA-2 (32000,
 * tokenizer.model). The committed gpt2-tiny / llama-tiny fixtures have 1024- / 512-token vocabularies that match
 * no tokenizer, so end-to-end tests on real text use these instead. The builder is `softprompt init-model`'s
 * (src/pretrain/causal-init.ts).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCausalModel } from '../src/pretrain/causal-init.js';
import { fixture } from './paths.js';

export interface RandomGpt2Options {
  seed?: number;
  nEmbd?: number;
  nLayer?: number;
  nHead?: number;
  nPositions?: number;
  /** std of the token embedding (default 0.3: large enough that a prompt can move the output distribution by several nats) */
  wteStd?: number;
  /** std of the block weights (default 0.1, so that attention to the prompt matters) */
  weightStd?: number;
}

function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/** Write config.json, model.safetensors, tokenizer.json, tokenizer_config.json into a new temp folder; return it. */
export function buildRandomGpt2(o: RandomGpt2Options = {}): string {
  const output = mkdtempSync(join(tmpdir(), 'sp-gpt2-rand-'));
  initCausalModel({
    family: 'gpt2', tokenizer: fixture('tokenizers', 'gpt2'), output,
    ...defined({ seed: o.seed, hidden: o.nEmbd, layers: o.nLayer, heads: o.nHead, positions: o.nPositions, wteStd: o.wteStd, weightStd: o.weightStd }),
  });
  return output;
}

/** The same for LLaMA: real LLaMA-2 vocabulary (32000) and the committed LLaMA-2 tokenizer (tokenizer.model). */
export function buildRandomLlama(o: { seed?: number; hidden?: number; layers?: number; heads?: number } = {}): string {
  const output = mkdtempSync(join(tmpdir(), 'sp-llama-rand-'));
  initCausalModel({ family: 'llama', tokenizer: fixture('tokenizers', 'llama2'), output, ...defined(o) });
  return output;
}
