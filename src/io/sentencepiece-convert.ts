/**
 * A SentencePiece model as an in-memory `tokenizer.json`, the way transformers' `convert_slow_tokenizer.py` builds
 * the fast tokenizer, so both load through @huggingface/tokenizers and give the same ids:
 *
 *  - Unigram (T5, `spiece.model`; T5Converter): vocab [piece, score] + `<extra_id_{n-1}>` … `<extra_id_0>`
 *    appended, Precompiled normalizer, WhitespaceSplit + Metaspace("▁"), template "$A </s>".
 *  - BPE (LLaMA, `tokenizer.model`; LlamaConverter, legacy): vocab {piece: id}, merges recovered from the vocab
 *    (every split of a piece into two pieces, ordered by the merged piece's score), byte fallback `<0xNN>`,
 *    normalizer Prepend("▁") + Replace(" " → "▁"), template "<s> $A".
 *
 * The special-token template follows `tokenizer_config.json` when given (add_bos_token / add_eos_token).
 */

import { SoftpromptError } from '../errors.js';
import type { SentencePieceModel } from './sentencepiece-model.js';

/** JSON objects as @huggingface/tokenizers reads them (tokenizer.json, tokenizer_config.json). */
export type JsonObject = Record<string, unknown>;

export interface SpmTokenizerOptions {
  /** T5 sentinel count; default 100 for Unigram models, as T5Tokenizer. */
  extraIds?: number;
  /** Prepend bos; default false for Unigram (T5), true for BPE (LLaMA). */
  addBos?: boolean;
  /** Append eos; default true for Unigram (T5), false for BPE (LLaMA). */
  addEos?: boolean;
}

export interface SpmTokenizerJson {
  tokenizer: JsonObject;
  /** The matching tokenizer_config.json entries (special token strings, class). */
  config: JsonObject;
}

const SPACE = '\u2581'; // ▁, SentencePiece's whitespace symbol

function addedToken(id: number, content: string, special: boolean): JsonObject {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special };
}

/** Control / unknown pieces are special added tokens; user-defined pieces are plain added tokens. */
function addedTokens(m: SentencePieceModel): JsonObject[] {
  const out: JsonObject[] = [];
  m.pieces.forEach((p, id) => {
    if (p.type === 'control' || p.type === 'unknown') out.push(addedToken(id, p.piece, true));
    else if (p.type === 'user_defined') out.push(addedToken(id, p.piece, false));
  });
  return out;
}

function template(bos: string | undefined, eos: string | undefined, m: SentencePieceModel): JsonObject {
  const seq = (id: 'A' | 'B'): JsonObject => ({ Sequence: { id, type_id: 0 } });
  const tok = (t: string): JsonObject => ({ SpecialToken: { id: t, type_id: 0 } });
  const wrap = (id: 'A' | 'B'): JsonObject[] => [...(bos ? [tok(bos)] : []), seq(id), ...(eos ? [tok(eos)] : [])];
  const special: JsonObject = {};
  for (const t of [bos, eos]) {
    if (t !== undefined) {
      const id = m.pieces.findIndex((p) => p.piece === t);
      special[t] = { id: t, ids: [id], tokens: [t] };
    }
  }
  return { type: 'TemplateProcessing', single: wrap('A'), pair: [...wrap('A'), ...wrap('B')], special_tokens: special };
}

function pieceAt(m: SentencePieceModel, id: number): string | undefined {
  return id >= 0 ? m.pieces[id]?.piece : undefined;
}

export function spmToTokenizerJson(m: SentencePieceModel, file: string, opts: SpmTokenizerOptions = {}): SpmTokenizerJson {
  const unk = pieceAt(m, m.unkId);
  const bos = pieceAt(m, m.bosId);
  const eos = pieceAt(m, m.eosId);
  const pad = pieceAt(m, m.padId);
  if (m.modelType === 'unigram') {
    const extra = opts.extraIds ?? 100;
    const vocab: [string, number][] = m.pieces.map((p) => [p.piece, p.score]);
    const added = addedTokens(m);
    const sentinels: string[] = [];
    for (let i = extra - 1; i >= 0; i--) {
      const t = `<extra_id_${i}>`;
      added.push(addedToken(vocab.length, t, true));
      vocab.push([t, 0]);
      sentinels.push(t);
    }
    const metaspace = { type: 'Metaspace', replacement: SPACE, add_prefix_space: m.addDummyPrefix, prepend_scheme: m.addDummyPrefix ? 'always' : 'never' };
    const tokenizer: JsonObject = {
      version: '1.0',
      added_tokens: added,
      normalizer: m.precompiledCharsmap.byteLength > 0 ? { type: 'Precompiled', precompiled_charsmap: Buffer.from(m.precompiledCharsmap).toString('base64') } : null,
      pre_tokenizer: m.removeExtraWhitespaces ? { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, metaspace] } : metaspace,
      post_processor: template((opts.addBos ?? false) ? bos : undefined, (opts.addEos ?? true) ? eos : undefined, m),
      decoder: metaspace,
      model: { type: 'Unigram', unk_id: m.unkId, vocab, byte_fallback: m.byteFallback },
    };
    return { tokenizer, config: { tokenizer_class: 'T5Tokenizer', eos_token: eos, unk_token: unk, pad_token: pad, additional_special_tokens: sentinels } };
  }
  if (m.modelType === 'bpe') {
    const tokenizer: JsonObject = {
      version: '1.0',
      added_tokens: addedTokens(m),
      normalizer: {
        type: 'Sequence',
        normalizers: [...(m.addDummyPrefix ? [{ type: 'Prepend', prepend: SPACE }] : []), { type: 'Replace', pattern: { String: ' ' }, content: SPACE }],
      },
      pre_tokenizer: null,
      post_processor: template((opts.addBos ?? true) ? bos : undefined, (opts.addEos ?? false) ? eos : undefined, m),
      decoder: {
        type: 'Sequence',
        decoders: [
          { type: 'Replace', pattern: { String: SPACE }, content: ' ' },
          { type: 'ByteFallback' },
          { type: 'Fuse' },
          ...(m.addDummyPrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
        ],
      },
      model: {
        type: 'BPE',
        vocab: Object.fromEntries(m.pieces.map((p, id) => [p.piece, id])),
        merges: bpeMerges(m),
        unk_token: unk,
        fuse_unk: true,
        byte_fallback: m.byteFallback || m.pieces.some((p) => p.type === 'byte'),
      },
    };
    return { tokenizer, config: { tokenizer_class: 'LlamaTokenizer', bos_token: bos, eos_token: eos, unk_token: unk, pad_token: pad, legacy: true, clean_up_tokenization_spaces: false } };
  }
  throw new SoftpromptError('unsupported', `SentencePiece model ${file} is of type ${m.modelType.toUpperCase()}; supported: UNIGRAM (T5) and BPE (LLaMA).`, { file, path: 'trainer_spec.model_type' });
}

/**
 * BPE merges recovered from the vocabulary (transformers `SentencePieceExtractor` / `generate_merges`): every
 * split of a piece into two pieces of the vocabulary, ordered by the merged piece's score (highest first), then
 * longer left part, then longer right part; within a piece by (left id, right id).
 */
export function bpeMerges(m: SentencePieceModel): [string, string][] {
  const ids = new Map<string, number>();
  m.pieces.forEach((p, i) => ids.set(p.piece, i));
  // only split points where both parts have the length of some piece can match: O(length) per piece, not
  // O(length²) (a 20k-character piece took 8.6 s when every prefix and suffix was built)
  const lengths = new Set(m.pieces.map((p) => Array.from(p.piece).length));
  const all: { l: string; r: string; score: number; ll: number; lr: number }[] = [];
  m.pieces.forEach((p) => {
    const chars = Array.from(p.piece); // code points, as Python slices
    const local: { l: string; r: string; score: number; ll: number; lr: number }[] = [];
    for (let i = 1; i < chars.length; i++) {
      if (!lengths.has(i) || !lengths.has(chars.length - i)) continue;
      const l = chars.slice(0, i).join('');
      const r = chars.slice(i).join('');
      if (ids.has(l) && ids.has(r)) local.push({ l, r, score: p.score, ll: i, lr: chars.length - i });
    }
    local.sort((a, b) => ids.get(a.l)! - ids.get(b.l)! || ids.get(a.r)! - ids.get(b.r)!);
    for (const x of local) all.push(x);
  });
  all.sort((a, b) => b.score - a.score || b.ll - a.ll || b.lr - a.lr); // stable, like Python's sorted
  return all.map((x) => [x.l, x.r]);
}
