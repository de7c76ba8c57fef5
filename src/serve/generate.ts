/**
 * Raw-prompt generation (the OpenAI routes' prompts, on the engine's unbatched path): a prompt's own tokens (no task format, unlike /v1/predict's
 * `${source} Label : `), the adapter applied to their embeddings (or none: the base model), greedy decoding up to
 * the tokenizer's EOS or `maxNewTokens`. Decoder-only models continue the prompt; T5 reads it as its encoder
 * input (text-to-text). Batches are right-padded; both families decode a padded row as they would alone.
 */
import type { Tokenizer } from '../io/tokenizer.js';
import { withMethod, type PeftMethod } from '../methods/method.js';
import type { AnyModel } from '../models/registry.js';

/** One prompt's continuation: generated ids before EOS, and whether EOS ended it (else maxNewTokens did). */
export interface GeneratedRow {
  ids: number[];
  eos: boolean;
}

export interface GenerationBatch {
  /** prompt ids (B rows of any lengths ≥ 1) */
  prompts: readonly Int32Array[];
  maxNewTokens: number;
  /** each row's new ids as they are decided, EOS included (streaming) */
  onToken?: ((row: number, id: number) => void) | undefined;
}

/** Generate for one batch of prompts; the method (null: base model) must not be attached (this attaches it). */
export function generateBatch(lm: AnyModel, method: PeftMethod | null, tok: Pick<Tokenizer, 'padId' | 'eosId'>, batch: GenerationBatch): GeneratedRow[] {
  const B = batch.prompts.length;
  const T = Math.max(...batch.prompts.map((p) => p.length));
  const ids = new Int32Array(B * T).fill(tok.padId); // (B, T) right-padded
  const mask = new Float32Array(B * T); // (B, T)
  batch.prompts.forEach((p, b) => {
    ids.set(p, b * T);
    mask.fill(1, b * T, b * T + p.length);
  });
  const onToken = batch.onToken;
  const ended = new Uint8Array(B);
  const onStep = onToken === undefined ? undefined : (next: Int32Array) => {
    for (let b = 0; b < B; b++) {
      if (ended[b]) continue;
      onToken(b, next[b]!);
      if (next[b] === tok.eosId) ended[b] = 1;
    }
  };
  const run = () => {
    const E = lm.model.embed(ids);
    const x = method === null ? { inputsEmbeds: E, mask, Te: T } : method.apply(E, mask, B, T);
    const opts = { maxNewTokens: batch.maxNewTokens, ...(onStep === undefined ? {} : { onStep }) };
    return lm.kind === 'causal'
      ? lm.model.generate(x.inputsEmbeds, x.mask, B, x.Te, { ...opts, eosId: tok.eosId })
      : lm.model.generate(x.inputsEmbeds, x.mask, B, x.Te, opts);
  };
  const gen = method === null ? run() : withMethod(lm.model, method, run);
  const rows: GeneratedRow[] = [];
  for (let b = 0; b < B; b++) {
    const row = Array.from(gen.ids.subarray(b * gen.steps, (b + 1) * gen.steps));
    const end = row.indexOf(tok.eosId);
    rows.push(end < 0 ? { ids: row, eos: false } : { ids: row.slice(0, end), eos: true });
  }
  return rows;
}
