import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig, openWeights } from '../io/hf-folder.js';
import { loadTokenizerSync } from '../io/tokenizer.js';
import { loadT5Weights, parseT5Config, T5Model } from '../models/t5.js';
import { fixture } from '../../test/paths.js';
import { packDocuments, readDocuments } from './corpus.js';
import { toSeq2SeqBatch } from './run.js';
import { expandedLengths, sentinelVocab } from './span-corruption.js';
import { PretrainStream } from './stream.js';
import { t5WeightsToTensors, saveT5Folder } from './t5-save.js';

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-save-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));
const TINY = fixture('t5-tiny');

describe('T5 back to an HF folder', () => {
  it('t5WeightsToTensors gives every tensor of the file back under its HF name', () => {
    const store = openWeights(TINY);
    const cfg = parseT5Config(loadConfig(TINY));
    const tensors = t5WeightsToTensors(cfg, loadT5Weights(cfg, store));
    assert.deepEqual(Object.keys(tensors).sort(), store.names().sort());
    for (const [name, t] of Object.entries(tensors)) {
      assert.deepEqual(t.shape, store.info(name).shape, name);
      assert.deepEqual(t.data, store.getF32(name), name);
    }
  });

  it('saveT5Folder (F32) round-trips; bf16 shards load as the rounded weights', () => {
    const json = loadConfig(TINY);
    const cfg = parseT5Config(json);
    const weights = loadT5Weights(cfg, openWeights(TINY));
    const f32 = path.join(ROOT, 'f32');
    saveT5Folder(f32, json, cfg, weights, { dtype: 'F32' });
    const again = loadT5Weights(parseT5Config(loadConfig(f32)), openWeights(f32));
    assert.deepEqual(again.shared, weights.shared);
    assert.deepEqual(again.decoder[1]!.crossAttn.o, weights.decoder[1]!.crossAttn.o);
    const bf = path.join(ROOT, 'bf16');
    const w = saveT5Folder(bf, json, cfg, weights, { dtype: 'BF16', maxShardBytes: 50_000 });
    assert.ok(w.files.length > 3);
    assert.equal(loadConfig(bf).dtype, 'bfloat16');
    const q = openWeights(bf).getF32('encoder.block.1.layer.0.SelfAttention.q.weight');
    const ref = weights.encoder[1]!.attn.q;
    for (let i = 0; i < q.length; i++) assert.ok(Math.abs(q[i]! - ref[i]!) <= Math.abs(ref[i]!) * 2 ** -8);
  });

  it('a stream batch runs through the model: finite loss over exactly the non-ignored target tokens', () => {
    const tok = loadTokenizerSync(fixture('tokenizers', 't5'));
    const inputLength = 24;
    const corpus = packDocuments(readDocuments({ file: fixture('pretrain', 'wikitext-sample.txt') }), tok, expandedLengths(inputLength).tokensLength);
    const sup = [{ inputs: Int32Array.from(tok.encode('cola sentence: A film.')), targets: Int32Array.from(tok.encode('acceptable')) }];
    const stream = new PretrainStream(corpus, sup, { seed: 1, inputLength, vocab: sentinelVocab(tok), padId: tok.padId, mixtureRate: 0.5 });
    const model = T5Model.load(loadConfig(TINY), openWeights(TINY));
    const b = stream.nextBatch(4);
    const out = model.forward(toSeq2SeqBatch(model, b));
    assert.ok(Number.isFinite(out.loss) && out.loss > 0);
    assert.equal(out.numTokens, b.labels.filter((x) => x !== -100).length);
  });
});
