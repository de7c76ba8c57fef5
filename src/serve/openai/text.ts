/**
 * Generated ids → the text an OpenAI client sees: cut before the first stop sequence, with the number of tokens
 * it took, and the same text as per-token deltas for streaming (a token that ends inside a UTF-8 character is
 * held back until the character is complete; the deltas always concatenate to the text).
 */
import type { GeneratedRow } from '../generate.js';

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

/**
 * One row's text as its tokens arrive (streaming): `push` returns what can be sent now, never text that a later
 * token could change: a token ending inside a UTF-8 character waits for the rest, and a tail that may be the
 * start of a stop sequence waits until it is not; nothing past a stop sequence is ever sent. `finish(text)` with
 * finishText's final text returns what is left to send, so the deltas always join to that text.
 */
export class TextStream {
  private readonly ids: number[] = [];
  private sent = '';
  private ended = false;

  constructor(private readonly tok: TextDecoder & { readonly eosId: number }, private readonly stops: readonly string[],
    private readonly opts: { trimStart?: boolean } = {}) {}

  push(id: number): string {
    if (this.ended) return '';
    if (id === this.tok.eosId) {
      this.ended = true;
      return '';
    }
    this.ids.push(id);
    let text = this.tok.decode(this.ids, { skipSpecialTokens: true });
    if (this.opts.trimStart) text = text.trimStart();
    if (text.endsWith('\uFFFD')) return '';
    const cut = Math.min(...this.stops.map((s) => { const i = text.indexOf(s); return i < 0 ? Infinity : i; }));
    if (cut < Infinity) {
      this.ended = true;
      text = text.slice(0, cut);
    } else {
      let hold = 0;
      for (const s of this.stops) {
        for (let k = Math.min(s.length - 1, text.length); k > hold; k--) if (text.endsWith(s.slice(0, k))) { hold = k; break; }
      }
      text = text.slice(0, text.length - hold);
    }
    return this.advance(text);
  }

  finish(text: string): string {
    this.ended = true;
    return this.advance(text);
  }

  private advance(text: string): string {
    if (text.length <= this.sent.length || !text.startsWith(this.sent)) return '';
    const delta = text.slice(this.sent.length);
    this.sent = text;
    return delta;
  }
}
