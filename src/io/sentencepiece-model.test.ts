import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SoftpromptError } from '../errors.js';
import { parseSentencePieceModel } from './sentencepiece-model.js';
import { fixture } from '../../test/paths.js';

const FIX = fixture('tokenizers');

describe('sentencepiece-model', () => {
  it('T5 spiece.model: 32000 Unigram pieces, pad 0 / eos 1 / unk 2, no bos, nmt_nfkc charsmap', () => {
    const file = path.join(FIX, 't5/spiece.model');
    const m = parseSentencePieceModel(fs.readFileSync(file), file);
    assert.equal(m.pieces.length, 32000);
    assert.equal(m.modelType, 'unigram');
    assert.deepEqual([m.padId, m.eosId, m.unkId, m.bosId], [0, 1, 2, -1]); // T5Tokenizer: pad 0, eos 1, unk 2
    assert.deepEqual(m.pieces.slice(0, 3).map((p) => [p.piece, p.type]), [['<pad>', 'control'], ['</s>', 'control'], ['<unk>', 'unknown']]);
    assert.equal(m.pieces[3]!.piece, '\u2581');
    assert.equal(m.pieces[3]!.score, Math.fround(-2.012292861938477)); // tokenizer.json's vocab[3]
    assert.equal(m.normalizerName, 'nmt_nfkc');
    assert.ok(m.precompiledCharsmap.byteLength > 0);
    assert.equal(m.addDummyPrefix, true);
    assert.equal(m.removeExtraWhitespaces, true);
  });

  it('LLaMA-2 tokenizer.model: 32000 BPE pieces, unk 0 / bos 1 / eos 2, 256 byte pieces, byte fallback', () => {
    const file = path.join(FIX, 'llama2/tokenizer.model');
    const m = parseSentencePieceModel(fs.readFileSync(file), file);
    assert.equal(m.pieces.length, 32000);
    assert.equal(m.modelType, 'bpe');
    assert.equal(m.byteFallback, true);
    assert.deepEqual([m.unkId, m.bosId, m.eosId, m.padId], [0, 1, 2, -1]);
    const bytes = m.pieces.filter((p) => p.type === 'byte');
    assert.equal(bytes.length, 256);
    assert.equal(m.pieces[3 + 0x0a]!.piece, '<0x0A>'); // byte pieces at 3..258
    assert.equal(m.pieces[15043]!.piece, '\u2581Hello');
    assert.equal(m.addDummyPrefix, true);
    assert.equal(m.removeExtraWhitespaces, false);
  });

  it('refuses truncated and non-SentencePiece input as malformed_file naming the file', () => {
    const file = path.join(FIX, 'llama2/tokenizer.model');
    const cut = fs.readFileSync(file).subarray(0, 1001);
    assert.throws(() => parseSentencePieceModel(cut, 'cut.model'), (e: unknown) => e instanceof SoftpromptError && e.code === 'malformed_file' && e.message.includes('cut.model'));
    assert.throws(() => parseSentencePieceModel(Buffer.from('{"not": "protobuf"}'), 'x.model'), (e: unknown) => e instanceof SoftpromptError && e.code === 'malformed_file' && e.message.includes('x.model'));
  });
});

// ---- hand-built models (issue 10): protobuf ModelProto {1: pieces {1: piece, 2: score}, 2: trainer_spec} ----

function varint(v: bigint): Buffer {
  const out: number[] = [];
  let x = BigInt.asUintN(64, v);
  do {
    const b = Number(x & 0x7fn);
    x >>= 7n;
    out.push(x > 0n ? b | 0x80 : b);
  } while (x > 0n);
  return Buffer.from(out);
}
const field = (n: number, wire: number): Buffer => varint(BigInt((n << 3) | wire));
const lenField = (n: number, body: Buffer): Buffer => Buffer.concat([field(n, 2), varint(BigInt(body.byteLength)), body]);

function model(pieces: [string, number][], spec: Record<number, number>): Buffer {
  const ps = pieces.map(([p, score]) => {
    const s = Buffer.alloc(4);
    s.writeFloatLE(score);
    return lenField(1, Buffer.concat([lenField(1, Buffer.from(p)), field(2, 5), s]));
  });
  const trainer = Buffer.concat(Object.entries(spec).map(([k, v]) => Buffer.concat([field(Number(k), 0), varint(BigInt(v))])));
  return Buffer.concat([...ps, lenField(2, trainer)]);
}

describe('sentencepiece-model: hostile models', () => {
  const BPE = 2;
  const base: [string, number][] = [['<unk>', 0], ['<s>', 0], ['</s>', 0], ['a', -1], ['b', -2], ['ab', -3]];

  it('refuses unk_id = -5 (and bos_id = -2), naming the field', () => {
    for (const [f, name] of [[40, 'unk_id'], [41, 'bos_id']] as const) {
      const m = model(base, { 3: BPE, [f]: f === 40 ? -5 : -2 });
      assert.throws(() => parseSentencePieceModel(m, 'evil.model'), (e: unknown) => e instanceof SoftpromptError && e.code === 'malformed_file' && e.message.includes(`trainer_spec.${name}`) && e.path === `trainer_spec.${name}`);
    }
    assert.equal(parseSentencePieceModel(model(base, { 3: BPE, 43: -1 }), 'ok.model').padId, -1); // -1 = none stays valid
  });

  it('bpeMerges on a 30k-character piece is fast and gives the same merges as every split', async () => {
    const { bpeMerges } = await import('./sentencepiece-convert.js');
    const long = 'ab'.repeat(15_000);
    const m = parseSentencePieceModel(model([...base, [long, -9], ['ba', -4], ['aba', -5]], { 3: BPE }), 'long.model');
    const t0 = performance.now();
    const merges = bpeMerges(m);
    assert.ok(performance.now() - t0 < 2000, `took ${performance.now() - t0} ms`);
    // independent: every split of every piece into two vocabulary pieces (short pieces only; the long one has none)
    const vocab = new Set(m.pieces.map((p) => p.piece));
    const splits = m.pieces.filter((p) => p.piece.length < 10).flatMap((p) => [...Array(p.piece.length).keys()].slice(1)
      .map((i) => [p.piece.slice(0, i), p.piece.slice(i)] as [string, string]).filter(([l, r]) => vocab.has(l) && vocab.has(r)));
    assert.deepEqual(new Set(merges.map((x) => x.join(' '))), new Set(splits.map((x) => x.join(' '))));
  });
});
