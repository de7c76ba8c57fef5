/**
 * Generated ids → the text an OpenAI client sees: cut before the first stop sequence, with the number of tokens
 * it took, and the same text as per-token deltas for streaming (a token that ends inside a UTF-8 character is
 * held back until the character is complete; the deltas always concatenate to the text).
 */
import type { GeneratedRow } from './generate.js';

export interface FinishedText {
  text: string;
  /** generated tokens up to the one that completed a stop sequence, or all of them (+1 for the EOS) */
  tokens: number;
  finishReason: 'stop' | 'length';
  deltas: string[];
}

export interface TextDecoder {
  decode(ids: number[], opts?: { skipSpecialTokens?: boolean }): string;
}

export function finishText(tok: TextDecoder, row: GeneratedRow, stops: readonly string[], opts: { trimStart?: boolean } = {}): FinishedText {
  const decode = (k: number) => {
    const t = tok.decode(row.ids.slice(0, k), { skipSpecialTokens: true });
    return opts.trimStart ? t.trimStart() : t;
  };
  const prefixes: string[] = [];
  let final: FinishedText | null = null;
  for (let k = 1; k <= row.ids.length && final === null; k++) {
    const t = decode(k);
    prefixes.push(t);
    const cut = Math.min(...stops.map((s) => { const i = t.indexOf(s); return i < 0 ? Infinity : i; }));
    if (cut < Infinity) final = { text: t.slice(0, cut), tokens: k, finishReason: 'stop', deltas: [] };
  }
  if (final === null) {
    const text = prefixes.at(-1) ?? '';
    final = { text, tokens: row.ids.length + (row.eos ? 1 : 0), finishReason: row.eos ? 'stop' : 'length', deltas: [] };
  }
  let sent = '';
  for (const p of prefixes) {
    const candidate = p.slice(0, final.text.length);
    if (candidate.length > sent.length && !candidate.endsWith('\uFFFD') && final.text.startsWith(candidate)) {
      final.deltas.push(candidate.slice(sent.length));
      sent = candidate;
    }
  }
  if (sent.length < final.text.length) final.deltas.push(final.text.slice(sent.length));
  return final;
}
