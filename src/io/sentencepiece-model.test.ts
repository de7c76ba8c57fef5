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
