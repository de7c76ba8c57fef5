/**
 * Reads a SentencePiece model file (`spiece.model`, `tokenizer.model`): a serialized `sentencepiece.ModelProto`
 * (https://github.com/google/sentencepiece/blob/master/src/sentencepiece_model.proto). Only the fields a
 * tokenizer needs are decoded; everything else is skipped by wire type.
 *
 *   ModelProto      1: repeated SentencePiece pieces   2: TrainerSpec   3: NormalizerSpec
 *   SentencePiece   1: piece (string)   2: score (float)   3: type (enum, default NORMAL)
 *   TrainerSpec     3: model_type (UNIGRAM=1, BPE=2, WORD=3, CHAR=4)   35: byte_fallback
 *                   40..43: unk_id, bos_id, eos_id, pad_id (-1 = none)
 *   NormalizerSpec  1: name   2: precompiled_charsmap   3: add_dummy_prefix   4: remove_extra_whitespaces
 */

import { SoftpromptError } from '../errors.js';

export type PieceType = 'normal' | 'unknown' | 'control' | 'user_defined' | 'unused' | 'byte';

const PIECE_TYPES: readonly PieceType[] = ['normal', 'normal', 'unknown', 'control', 'user_defined', 'unused', 'byte']; // enum value → name

export interface SentencePiece {
  piece: string;
  score: number;
  type: PieceType;
}

export interface SentencePieceModel {
  pieces: SentencePiece[];
  modelType: 'unigram' | 'bpe' | 'word' | 'char';
  byteFallback: boolean;
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  normalizerName: string;
  precompiledCharsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
}

/** Minimal protobuf wire-format reader over one message. */
class Wire {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    readonly file: string,
    start = 0,
    readonly end = buf.byteLength,
  ) {
    this.pos = start;
  }

  fail(what: string): SoftpromptError {
    return new SoftpromptError('malformed_file', `Malformed SentencePiece model ${this.file}: ${what} at byte ${this.pos}.`, { file: this.file });
  }

  /** A varint's low 32 bits as a signed int32 (how protobuf stores int32 / enum / bool). */
  varint(): number {
    let result = 0;
    for (let shift = 0; ; shift += 7) {
      if (this.pos >= this.end) throw this.fail('truncated varint');
      if (shift >= 70) throw this.fail('varint longer than 10 bytes');
      const b = this.buf[this.pos++]!;
      if (shift < 32) result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
    }
  }

  tag(): { field: number; wire: number } {
    const t = this.varint() >>> 0;
    return { field: t >>> 3, wire: t & 7 };
  }

  bytes(): Uint8Array {
    const len = this.varint() >>> 0;
    if (this.pos + len > this.end) throw this.fail(`length ${len} runs past the end of its message (${this.end})`);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  /** A sub-message: [start, end) of its bytes. */
  message(): Wire {
    const b = this.bytes();
    return new Wire(this.buf, this.file, b.byteOffset - this.buf.byteOffset, b.byteOffset - this.buf.byteOffset + b.byteLength);
  }

  float32(): number {
    if (this.pos + 4 > this.end) throw this.fail('truncated float');
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw this.fail(`unsupported wire type ${wire}`);
    if (this.pos > this.end) throw this.fail('truncated field');
  }

  more(): boolean {
    return this.pos < this.end;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function readPiece(w: Wire): SentencePiece {
  let piece: string | undefined;
  let score = 0;
  let type: PieceType = 'normal';
  while (w.more()) {
    const { field, wire } = w.tag();
    if (field === 1 && wire === 2) piece = utf8.decode(w.bytes());
    else if (field === 2 && wire === 5) score = w.float32();
    else if (field === 3 && wire === 0) type = PIECE_TYPES[w.varint()] ?? 'normal';
    else w.skip(wire);
  }
  if (piece === undefined) throw w.fail('a piece without its string');
  return { piece, score, type };
}

export function parseSentencePieceModel(buf: Uint8Array, file: string): SentencePieceModel {
  const m: SentencePieceModel = {
    pieces: [],
    modelType: 'unigram',
    byteFallback: false,
    unkId: 0,
    bosId: 1,
    eosId: 2,
    padId: -1,
    normalizerName: '',
    precompiledCharsmap: new Uint8Array(0),
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
  };
  const w = new Wire(buf, file);
  try {
    while (w.more()) {
      const { field, wire } = w.tag();
      if (field === 1 && wire === 2) m.pieces.push(readPiece(w.message()));
      else if (field === 2 && wire === 2) readTrainerSpec(w.message(), m);
      else if (field === 3 && wire === 2) readNormalizerSpec(w.message(), m);
      else w.skip(wire);
    }
  } catch (err) {
    if (err instanceof SoftpromptError) throw err;
    throw w.fail(`invalid UTF-8 in a piece (${(err as Error).message})`); // fatal TextDecoder
  }
  if (m.pieces.length === 0) throw new SoftpromptError('malformed_file', `Malformed SentencePiece model ${file}: no pieces (is it a SentencePiece .model file?).`, { file });
  for (const [field, id] of [['unk_id', m.unkId], ['bos_id', m.bosId], ['eos_id', m.eosId], ['pad_id', m.padId]] as const) {
    if (id >= m.pieces.length) throw new SoftpromptError('malformed_file', `Malformed SentencePiece model ${file}: trainer_spec.${field} = ${id} but there are ${m.pieces.length} pieces.`, { file, path: `trainer_spec.${field}` });
    // SentencePiece requires an unknown piece; the others may be -1 (none)
    const least = field === 'unk_id' ? 0 : -1;
    if (id < least) throw new SoftpromptError('malformed_file', `Malformed SentencePiece model ${file}: trainer_spec.${field} = ${id}, expected ${least === 0 ? 'a piece id ≥ 0' : '-1 (none) or a piece id'}.`, { file, path: `trainer_spec.${field}` });
  }
  return m;
}

const MODEL_TYPES = { 1: 'unigram', 2: 'bpe', 3: 'word', 4: 'char' } as const;

function readTrainerSpec(w: Wire, m: SentencePieceModel): void {
  while (w.more()) {
    const { field, wire } = w.tag();
    if (wire !== 0) {
      w.skip(wire);
      continue;
    }
    const v = w.varint();
    if (field === 3) {
      const t = MODEL_TYPES[v as keyof typeof MODEL_TYPES];
      if (t === undefined) throw w.fail(`unknown trainer_spec.model_type ${v}`);
      m.modelType = t;
    } else if (field === 35) m.byteFallback = v !== 0;
    else if (field === 40) m.unkId = v;
    else if (field === 41) m.bosId = v;
    else if (field === 42) m.eosId = v;
    else if (field === 43) m.padId = v;
  }
}

function readNormalizerSpec(w: Wire, m: SentencePieceModel): void {
  while (w.more()) {
    const { field, wire } = w.tag();
    if (field === 1 && wire === 2) m.normalizerName = utf8.decode(w.bytes());
    else if (field === 2 && wire === 2) m.precompiledCharsmap = Uint8Array.from(w.bytes());
    else if (field === 3 && wire === 0) m.addDummyPrefix = w.varint() !== 0;
    else if (field === 4 && wire === 0) m.removeExtraWhitespaces = w.varint() !== 0;
    else w.skip(wire);
  }
}
