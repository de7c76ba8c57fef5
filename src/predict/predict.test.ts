/**
 * The prediction seam end to end: `eval --json`'s loss against a direct one-example-at-a-time computation with
 * the model (Σ tokenNll / Σ tokens), for T5 and a decoder-only GPT-2; and `predict` and `serve` giving the same
 * answer for the same long input (one max-length rule, 256 tokens by default).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fixture, repoRoot } from '../../test/paths.js';
import { buildRandomGpt2 } from '../../test/random-causal.js';
import { runEval, type EvalOptions } from '../cli/eval.js';
import { runPredict } from '../cli/predict.js';
import { loadTokenizerSync, type Tokenizer } from '../io/tokenizer.js';
import type { InitContext, MethodModel, PeftMethod } from '../methods/method.js';
import { getMethod, loadAdapter, saveAdapter } from '../methods/registry.js';
import { loadAnyModel, type AnyModel } from '../models/registry.js';
import { predictRequest } from '../serve/server.js';
import { encodeCausalExample } from '../tasks/encode-causal.js';
import { encodeExamples, targetLength } from '../tasks/encode.js';
import { getTask, loadSplits } from '../tasks/registry.js';
import { Rng } from '../train/rng.js';
import { DEFAULT_MAX_LENGTH, encodeSources, inputLimit, predictAny } from './index.js';

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-predict-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));
const T5_TOKENIZER = fixture('tokenizers', 't5');

/** stdout captured while fn runs (the CLI commands print their results). */
function quietly<R>(fn: () => R): R {
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    return fn();
  } finally {
    process.stdout.write = write;
  }
}

function ctxFor(model: MethodModel, tok: Tokenizer): InitContext {
  return { dModel: model.info.dModel, vocabSize: model.info.vocabSize, embed: (ids) => model.embed(ids), tokenize: (t) => tok.encode(t), rng: new Rng(5), model };
}

/** A method from the registry with its tensors moved off init (a "trained" adapter), saved to a folder. */
function savedAdapter(name: string, settings: Record<string, unknown>, lm: AnyModel, tok: Tokenizer, dir: string): PeftMethod {
  const m = getMethod(name).create({ maxLength: 64, ...settings }, ctxFor(lm.model, tok));
  const rng = new Rng(11);
  for (const p of m.params()) for (let i = 0; i < p.data.length; i++) p.data[i] += 0.05 * rng.normal();
  const info = lm.model.info;
  saveAdapter(dir, m, { baseModel: 'tiny', tokenizer: null, modelInfo: { dModel: info.dModel, numLayers: info.numLayers, numHeads: info.numHeads, kind: info.kind } });
  return m;
}

function evalOptions(adapter: string, model: string, tokenizer: string): EvalOptions {
  return {
    adapter, model, tokenizer, task: 'sst2', dataDir: path.join(repoRoot(), 'data'), split: 'validation', evalMode: 'rank',
    maxEvalExamples: 7, batchSize: 3, maxNewTokens: 4, seed: 42, textColumn: 'text', labelColumn: 'label', json: true,
  };
}

describe('eval --json loss: Σ per-token NLL of the targets / Σ target tokens', () => {
  test('T5 + DePT: equals a direct one-example-at-a-time computation with the model', () => {
    const lm = loadAnyModel(fixture('t5-tiny'));
    const tok = loadTokenizerSync(T5_TOKENIZER);
    const dir = path.join(ROOT, 't5-dept');
    savedAdapter('dept', { promptLength: 3, rank: 2, maxLength: 64 }, lm, tok, dir);
    const got = quietly(() => runEval(evalOptions(dir, fixture('t5-tiny'), T5_TOKENIZER)));
    assert.equal(got.examples, 7);

    // direct: each example alone (no padding), the adapter's transform, T5's forward, Σ tokenNll and Σ tokens
    if (lm.kind !== 'seq2seq') throw new Error('t5-tiny is seq2seq');
    const method = loadAdapter(dir);
    const task = getTask('sst2');
    const rows = loadSplits(task, path.join(repoRoot(), 'data'), { seed: 42 }).validation.slice(0, 7);
    const S = targetLength(tok, task.labelList ?? task.labelWords, 20);
    let nll = 0, tokens = 0;
    for (const ex of encodeExamples(rows, tok, 64, S)) {
      const T = ex.source.length;
      const x = method.apply(lm.model.embed(ex.source), new Float32Array(T).fill(1), 1, T);
      const out = lm.model.forward({ B: 1, Te: x.Te, inputsEmbeds: x.inputsEmbeds, encoderMask: x.mask, S: ex.target.length, labels: ex.target });
      for (const v of out.tokenNll) nll += v;
      tokens += out.numTokens;
    }
    assert.equal(tokens, rows.reduce((n, r) => n + tok.encode(r.target).length, 0), 'every label token and </s> counted');
    const want = nll / tokens;
    assert.ok(Number.isFinite(got.loss!) && Math.abs(got.loss! - want) <= 1e-5 * want, `eval loss ${got.loss} vs direct ${want}`);
  });

  test('GPT-2 + prompt tuning: the loss covers the label tokens and EOS after `source Label : `', () => {
    const modelDir = buildRandomGpt2({ seed: 4 });
    try {
      const lm = loadAnyModel(modelDir);
      const tok = loadTokenizerSync(modelDir);
      const dir = path.join(ROOT, 'gpt2-pt');
      savedAdapter('pt', { promptLength: 2, init: 'SAMPLE_VOCAB' }, lm, tok, dir);
      const got = quietly(() => runEval({ ...evalOptions(dir, modelDir, modelDir), maxLength: 48 }));

      if (lm.kind !== 'causal') throw new Error('gpt2 is causal');
      const method = loadAdapter(dir);
      const rows = loadSplits(getTask('sst2'), path.join(repoRoot(), 'data'), { seed: 42 }).validation.slice(0, 7);
      let nll = 0, tokens = 0;
      for (const r of rows) {
        const ex = encodeCausalExample(tok, r, 48);
        const ids = Int32Array.from([...ex.source, ...ex.target]);
        const T = ids.length, l = method.numVirtualTokens;
        const x = method.apply(lm.model.embed(ids), new Float32Array(T).fill(1), 1, T);
        const labels = new Int32Array(l + T).fill(-100);
        labels.set(ex.target, l + ex.source.length);
        const out = lm.model.forward({ B: 1, T: x.Te, inputsEmbeds: x.inputsEmbeds, attentionMask: x.mask, labels });
        for (const v of out.tokenNll) nll += v;
        tokens += out.numTokens;
      }
      assert.equal(tokens, rows.reduce((n, r) => n + tok.encode(r.target, { addSpecialTokens: false }).length + 1, 0));
      const want = nll / tokens;
      assert.ok(Math.abs(got.loss! - want) <= 1e-5 * want, `eval loss ${got.loss} vs direct ${want}`);
    } finally {
      fs.rmSync(modelDir, { recursive: true, force: true });
    }
  });
});

describe('one max length for predict and serve', () => {
  test('inputLimit: the default, the request, and a method\'s own limit capping both', () => {
    assert.equal(inputLimit({ maxInputLength: Infinity }), DEFAULT_MAX_LENGTH);
    assert.equal(inputLimit({ maxInputLength: Infinity }, 100), 100);
    assert.equal(inputLimit({ maxInputLength: 32 }), 32);
    assert.equal(inputLimit({ maxInputLength: 32 }, 100), 32);
    assert.equal(inputLimit({ maxInputLength: 32 }, 16), 16);
  });

  const words = 'the film is a quiet and patient portrait of a family , with moments of humour and grief ; '.repeat(30);
  const text = `${words}yet the ending feels rushed and the whole thing is far too long .`;

  /** predict (CLI) and serve (HTTP handler) on the same adapter folder and long input; also the library at n tokens. */
  function bothWays(modelDir: string, tokDir: string, lm: AnyModel, tok: Tokenizer, adapterDir: string) {
    const viaPredict = quietly(() => runPredict({ adapter: adapterDir, model: modelDir, tokenizer: tokDir, task: 'sst2', text: [text], evalMode: 'generate', batchSize: 8, maxNewTokens: 6 }));
    const viaServe = predictRequest({ model: lm, modelName: 'tiny', tokenizer: tok, adapters: new Map([['a', loadAdapter(adapterDir)]]) },
      { adapter: 'a', task: 'sst2', inputs: [text], maxNewTokens: 6 }).predictions;
    const method = loadAdapter(adapterDir);
    const at = (n: number) => predictAny(lm, method, tok, encodeSources(lm.kind, tok, [`sentence: ${text}`], n), null, { batchSize: 1, maxNewTokens: 6 });
    return { viaPredict, viaServe, at };
  }

  test('T5: the same long input gets the same answer from `predict` and from `serve` (both cut at 256 tokens)', () => {
    const lm = loadAnyModel(fixture('t5-tiny'));
    const tok = loadTokenizerSync(T5_TOKENIZER);
    const dir = path.join(ROOT, 't5-pt');
    savedAdapter('pt', { promptLength: 4, init: 'SAMPLE_VOCAB' }, lm, tok, dir);
    assert.ok(tok.encode(`sentence: ${text}`).length > 512, 'longer than both former limits');
    const r = bothWays(fixture('t5-tiny'), T5_TOKENIZER, lm, tok, dir);
    assert.deepEqual(r.viaServe, r.viaPredict);
    assert.deepEqual(r.viaPredict, r.at(DEFAULT_MAX_LENGTH));
  });

  test('GPT-2: predict and serve agree on a long input, where a 512-token cut (serve\'s former default) answers differently', () => {
    const modelDir = buildRandomGpt2({ seed: 9, nPositions: 600 });
    try {
      const lm = loadAnyModel(modelDir);
      const tok = loadTokenizerSync(modelDir);
      const dir = path.join(ROOT, 'gpt2-long-pt');
      savedAdapter('pt', { promptLength: 4, init: 'SAMPLE_VOCAB' }, lm, tok, dir);
      assert.ok(tok.encode(`sentence: ${text}`).length > 512);
      const r = bothWays(modelDir, modelDir, lm, tok, dir);
      assert.deepEqual(r.viaServe, r.viaPredict);
      assert.deepEqual(r.viaPredict, r.at(DEFAULT_MAX_LENGTH));
      assert.notDeepEqual(r.at(512), r.at(DEFAULT_MAX_LENGTH), 'the input is long enough for the cut to matter');
    } finally {
      fs.rmSync(modelDir, { recursive: true, force: true });
    }
  });
});
