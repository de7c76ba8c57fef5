/**
 * Soft-prompt initialisation as PEFT's PromptEmbedding defines it (spec §1.5, §4.2):
 * TEXT: tokenize the init text (special tokens included), repeat cyclically / truncate to l ids, look up the
 * frozen embeddings; SAMPLE_VOCAB: l ids uniform over the whole vocabulary; RANDOM: N(0, 1) elements.
 */
import { SoftpromptError } from '../errors.js';
import type { InitContext } from './method.js';

export type PromptInit = 'TEXT' | 'SAMPLE_VOCAB' | 'RANDOM';
export const PROMPT_INITS: readonly PromptInit[] = ['TEXT', 'SAMPLE_VOCAB', 'RANDOM'];

/** DePT's train.py default for every task (typo "postive" kept: it is the reference's text). */
export const DEPT_INIT_TEXT = 'Classify this text is postive or not:';

/** The l token ids TEXT init uses: the text's ids repeated ceil(l/n) times, then cut to l. */
export function textInitIds(textIds: readonly number[], l: number): Int32Array {
  if (textIds.length === 0) {
    throw new SoftpromptError('invalid_config', 'prompt_tuning_init_text tokenizes to no ids; give a non-empty text.', { path: 'prompt_tuning_init_text' });
  }
  const ids = new Int32Array(l);
  for (let i = 0; i < l; i++) ids[i] = textIds[i % textIds.length]!;
  return ids;
}

export function initPrompt(l: number, init: PromptInit, ctx: InitContext, text: string | null): Float32Array {
  const C = ctx.dModel;
  switch (init) {
    case 'TEXT': {
      if (text === null || text === '') {
        throw new SoftpromptError('invalid_config', "When prompt_tuning_init='TEXT', prompt_tuning_init_text can't be empty.", { path: 'prompt_tuning_init_text' });
      }
      if (ctx.tokenize === undefined) {
        throw new SoftpromptError('invalid_config', "When prompt_tuning_init='TEXT', a tokenizer is needed; none was loaded.", { path: 'prompt_tuning_init', hint: 'Use --init sample_vocab, or point --model at a folder with tokenizer.json / spiece.model.' });
      }
      return ctx.embed(textInitIds(ctx.tokenize(text), l)).slice();
    }
    case 'SAMPLE_VOCAB': {
      const ids = new Int32Array(l);
      for (let i = 0; i < l; i++) ids[i] = Math.min(ctx.vocabSize - 1, Math.floor(ctx.rng.nextFloat() * ctx.vocabSize));
      return ctx.embed(ids).slice();
    }
    case 'RANDOM': {
      const P = new Float32Array(l * C);
      for (let i = 0; i < P.length; i++) P[i] = ctx.rng.normal();
      return P;
    }
  }
}
