import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SoftpromptError } from '../errors.js';
import { spmToTokenizerJson } from './sentencepiece-convert.js';
import { parseSentencePieceModel } from './sentencepiece-model.js';
import { loadTokenizer, loadTokenizerSync, type Tokenizer } from './tokenizer.js';
import { fixture } from '../../test/paths.js';
import { expectError } from '../../test/expect-error.js';

const FIX = fixture('tokenizers');
const T5_DIR = path.join(FIX, 't5');
const T5_SPM = path.join(T5_DIR, 'spiece.model');
const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-tok-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));

// Known ids. T5: the DePT CoLA prompt init text (spec §1.9), the t5-tiny fixture inputs (its README) and the
// label words. GPT-2: the classic "Hello world". LLaMA-2: karpathy/llama2.c test.c (from Meta's own tokenizer).
const T5_CASES: [string, number[]][] = [
  ['Classify this text is postive or not:', [4501, 4921, 48, 1499, 19, 442, 757, 42, 59, 10, 1]],
  ['sst2 sentence: this movie is dull.', [3, 7, 7, 17, 357, 7142, 10, 48, 1974, 19, 19511, 5, 1]],
  ['A wonderful film.', [71, 1627, 814, 5, 1]],
  ['0', [3, 632, 1]],
  ['1', [209, 1]],
];
// First fixture input: its 23 leading pieces are the README's input_ids row 0 (truncated to 24 with </s>).
const T5_LONG = 'sst2 sentence: a gorgeous, witty, seductive movie that keeps you guessing from the first frame to the last.';
const T5_LONG_PREFIX = [3, 7, 7, 17, 357, 7142, 10, 3, 9, 5296, 6, 3, 210, 17132, 6, 142, 28668, 1974, 24, 5689, 25, 3382, 53];

const LLAMA_CASES: [string, number[]][] = [
  ['', [1]],
  ['I believe the meaning of life is', [1, 306, 4658, 278, 6593, 310, 2834, 338]],
  ['Simply put, the theory of relativity states that ', [1, 3439, 17632, 1925, 29892, 278, 6368, 310, 14215, 537, 5922, 393, 29871]],
  [
    'A brief message congratulating the team on the launch:\n\n        Hi everyone,\n\n        I just ',
    [1, 319, 11473, 2643, 378, 629, 271, 18099, 278, 3815, 373, 278, 6826, 29901, 13, 13, 4706, 6324, 14332, 29892, 13, 13, 4706, 306, 925, 29871],
  ],
  [
    'Translate English to French:\n\n        sea otter => loutre de mer\n        peppermint => menthe poivrée\n        plush girafe => girafe peluche\n        cheese =>',
    [1, 4103, 9632, 4223, 304, 5176, 29901, 13, 13, 4706, 7205, 4932, 357, 1149, 301, 449, 276, 316, 2778, 13, 4706, 1236, 407, 837, 524, 1149, 6042, 354, 772, 440, 29878, 1318, 13, 4706, 715, 1878, 330, 3055, 1725, 1149, 330, 3055, 1725, 4639, 28754, 13, 4706, 923, 968, 1149],
  ],
];

const MIXED_TEXTS = [
  T5_LONG,
  'Hello  <extra_id_0> world </s>',
  '  leading and  double  spaces\ttab\nnewline ',
  'Ünïcödé — “quotes” ½ ﬁ 日本語 😀',
  'The Boston Celtics won 17 titles, the most of any NBA team!',
  '',
];


describe('tokenizer: T5', () => {
  let fromJson: Tokenizer;
  let fromSpm: Tokenizer;
  let fromBareSpm: Tokenizer;
  let fromBareJson: Tokenizer;
  before(async () => {
    fromJson = await loadTokenizer(T5_DIR);
    fromSpm = loadTokenizerSync(T5_SPM);
    const bare = path.join(ROOT, 't5-spm-only');
    fs.mkdirSync(bare);
    fs.copyFileSync(T5_SPM, path.join(bare, 'spiece.model'));
    fromBareSpm = loadTokenizerSync(bare); // no tokenizer_config.json: T5 defaults
    const bareJson = path.join(ROOT, 't5-json-only');
    fs.mkdirSync(bareJson);
    fs.copyFileSync(path.join(T5_DIR, 'tokenizer.json'), path.join(bareJson, 'tokenizer.json'));
    fromBareJson = loadTokenizerSync(path.join(bareJson, 'tokenizer.json'));
  });

  it('tokenizer.json gives the known ids', () => {
    for (const [text, ids] of T5_CASES) assert.deepEqual(fromJson.encode(text), ids, text);
    assert.deepEqual(fromJson.encode(T5_LONG).slice(0, 23), T5_LONG_PREFIX);
    assert.deepEqual(fromJson.encode('A wonderful film.', { addSpecialTokens: false }), [71, 1627, 814, 5]);
  });

  it('spiece.model alone gives the same ids as tokenizer.json', () => {
    for (const tok of [fromSpm, fromBareSpm, fromBareJson]) {
      for (const [text, ids] of T5_CASES) assert.deepEqual(tok.encode(text), ids, text);
      for (const text of MIXED_TEXTS) assert.deepEqual(tok.encode(text), fromJson.encode(text), text);
    }
  });

  it('the converted Unigram vocabulary equals tokenizer.json piece for piece (scores in float32)', () => {
    const json = JSON.parse(fs.readFileSync(path.join(T5_DIR, 'tokenizer.json'), 'utf8')) as { model: { vocab: [string, number][]; unk_id: number } };
    const conv = spmToTokenizerJson(parseSentencePieceModel(fs.readFileSync(T5_SPM), T5_SPM), T5_SPM).tokenizer as { model: { vocab: [string, number][]; unk_id: number } };
    assert.equal(conv.model.vocab.length, json.model.vocab.length);
    assert.equal(conv.model.unk_id, json.model.unk_id);
    conv.model.vocab.forEach(([piece, score], i) => {
      const [p, s] = json.model.vocab[i]!;
      if (piece !== p || score !== Math.fround(s)) assert.fail(`piece ${i}: ${piece} ${score} vs tokenizer.json ${p} ${s}`);
    });
  });

  it('special ids, sizes, sentinels, decode', () => {
    for (const tok of [fromJson, fromSpm, fromBareSpm, fromBareJson]) {
      assert.equal(tok.vocabSize, 32100); // 32000 pieces + 100 sentinels (the model pads its embedding to 32128)
      assert.equal(tok.padId, 0);
      assert.equal(tok.eosId, 1);
      assert.equal(tok.bosId, undefined);
      assert.equal(tok.idToToken(32099), '<extra_id_0>');
      assert.equal(tok.tokenToId('<extra_id_99>'), 32000);
      assert.equal(tok.idToToken(1), '</s>');
      assert.equal(tok.decode([71, 1627, 814, 5, 1]), 'A wonderful film.</s>');
      assert.equal(tok.decode([71, 1627, 814, 5, 1, 0, 0], { skipSpecialTokens: true }), 'A wonderful film.');
      assert.equal(tok.decode(tok.encode(T5_LONG), { skipSpecialTokens: true }), T5_LONG);
      assert.equal(tok.decode([209, 32127]), '1'); // ids past the tokenizer (model-only rows) are dropped
      assert.equal(tok.decode([]), '');
    }
  });
});

describe('tokenizer: GPT-2', () => {
  it('tokenizer.json: known ids, no special tokens added, exact decode', () => {
    const tok = loadTokenizerSync(path.join(FIX, 'gpt2'));
    assert.deepEqual(tok.encode('Hello world'), [15496, 995]);
    assert.deepEqual(tok.encode(' Hello world'), [18435, 995]);
    assert.equal(tok.vocabSize, 50257);
    assert.equal(tok.eosId, 50256);
    assert.equal(tok.bosId, 50256);
    assert.equal(tok.padId, 50256); // no pad token: eos
    for (const text of MIXED_TEXTS) assert.equal(tok.decode(tok.encode(text)), text, text);
    assert.deepEqual(tok.encode('a<|endoftext|>'), [64, 50256]);
  });
});

describe('tokenizer: LLaMA-2 SentencePiece BPE', () => {
  let tok: Tokenizer;
  before(() => {
    tok = loadTokenizerSync(path.join(FIX, 'llama2')); // tokenizer.model only
  });

  it('gives the ids of the llama2.c tokenizer tests', () => {
    for (const [text, ids] of LLAMA_CASES) assert.deepEqual(tok.encode(text), ids, JSON.stringify(text));
    assert.deepEqual(tok.encode('Hello world'), [1, 15043, 3186]);
    assert.deepEqual(tok.encode('Hello world', { addSpecialTokens: false }), [15043, 3186]);
  });

  it('falls back to bytes for pieces outside the vocabulary, and decodes them back', () => {
    // 😀 = F0 9F 98 80; byte piece <0xNN> has id 3 + NN.
    assert.deepEqual(tok.encode('😀', { addSpecialTokens: false }), [29871, 3 + 0xf0, 3 + 0x9f, 3 + 0x98, 3 + 0x80]);
    for (const [text] of LLAMA_CASES) assert.equal(tok.decode(tok.encode(text), { skipSpecialTokens: true }), text);
    assert.equal(tok.decode(tok.encode('Ünïcödé — “quotes” 日本語 😀'), { skipSpecialTokens: true }), 'Ünïcödé — “quotes” 日本語 😀');
  });

  it('special ids and size', () => {
    assert.equal(tok.vocabSize, 32000);
    assert.equal(tok.bosId, 1);
    assert.equal(tok.eosId, 2);
    assert.equal(tok.padId, 2); // no pad piece: eos
    assert.equal(tok.idToToken(0), '<unk>');
    assert.equal(tok.decode([1, 15043, 3186, 2]), '<s> Hello world</s>'); // as LlamaTokenizerFast (legacy) decodes
  });
});

describe('tokenizer: errors', () => {
  it('missing path, folder without a tokenizer, bad JSON, not a SentencePiece file', () => {
    const nope = path.join(ROOT, 'nope');
    expectError(() => loadTokenizerSync(nope), 'file_not_found', nope);
    const empty = path.join(ROOT, 'empty');
    fs.mkdirSync(empty);
    expectError(() => loadTokenizerSync(empty), 'file_not_found', empty, 'tokenizer.json', 'spiece.model');
    const bad = path.join(ROOT, 'bad');
    fs.mkdirSync(bad);
    fs.writeFileSync(path.join(bad, 'tokenizer.json'), '{"model": ');
    expectError(() => loadTokenizerSync(bad), 'malformed_file', path.join(bad, 'tokenizer.json'), 'JSON');
    const junk = path.join(ROOT, 'junk.model');
    fs.writeFileSync(junk, Buffer.from([0x0a, 0xff, 0x01, 0x02]));
    expectError(() => loadTokenizerSync(junk), 'malformed_file', junk);
  });
});

describe('tokenizer: hostile folders (issue 10)', () => {
  it('extra_ids 1,000,000 (or -1, or 1.5) in tokenizer_config.json is invalid_config naming the file, at once', () => {
    for (const v of [1_000_000, -1, 1.5, '100']) {
      const dir = fs.mkdtempSync(path.join(ROOT, 'extra-'));
      fs.copyFileSync(T5_SPM, path.join(dir, 'spiece.model'));
      fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ extra_ids: v }));
      const t0 = performance.now();
      const err = expectError(() => loadTokenizerSync(dir), 'invalid_config', 'extra_ids', path.join(dir, 'tokenizer_config.json'));
      assert.equal(err.path, 'extra_ids');
      assert.ok(performance.now() - t0 < 1000);
    }
  });

  it('tokenizer files linked to a device are refused, not read', () => {
    const dir = fs.mkdtempSync(path.join(ROOT, 'dev-'));
    fs.symlinkSync('/dev/zero', path.join(dir, 'spiece.model'));
    expectError(() => loadTokenizerSync(dir), 'malformed_file', 'spiece.model', 'not a regular file');
    const dir2 = fs.mkdtempSync(path.join(ROOT, 'dev-'));
    fs.copyFileSync(T5_SPM, path.join(dir2, 'spiece.model'));
    fs.symlinkSync('/dev/zero', path.join(dir2, 'tokenizer_config.json'));
    expectError(() => loadTokenizerSync(dir2), 'malformed_file', 'tokenizer_config.json', 'not a regular file');
  });
});
