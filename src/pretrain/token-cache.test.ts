import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fixture } from '../../test/paths.js';
import { parsePretrainConfig } from './config.js';
import { preparePretraining } from './prepare.js';

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-cache-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));
const TOK = fixture('tokenizers', 't5');

function setup(name: string) {
  const dir = path.join(ROOT, name);
  fs.mkdirSync(dir);
  const corpus = path.join(dir, 'span.txt');
  fs.copyFileSync(fixture('pretrain', 'wikitext-sample.txt'), corpus);
  const sup = path.join(dir, 'supervised.jsonl');
  fs.writeFileSync(sup, ['{"task":"cola","input":"cola sentence: A film.","target":"acceptable"}', '{"task":"rte","input":"rte sentence1: A. sentence2: B.","target":"entailment"}'].join('\n') + '\n');
  const cfg = parsePretrainConfig({ model: fixture('t5-tiny'), tokenizer: TOK, corpus: [corpus], supervised: sup, mixtureRate: 0.5, inputLength: 24, output: path.join(dir, 'run'), warmupSteps: 0 });
  return { cfg, corpus, cacheDir: path.join(dir, 'run', 'cache') };
}

describe('token cache', () => {
  it('a second run reads the tokens back and draws the same batches', () => {
    const { cfg, cacheDir } = setup('same');
    const a = preparePretraining(cfg, undefined, { cacheDir });
    const b = preparePretraining(cfg, undefined, { cacheDir });
    assert.deepEqual([a.cached, b.cached], [{ corpus: false, supervised: false }, { corpus: true, supervised: true }]);
    assert.deepEqual(b.corpus, a.corpus);
    assert.deepEqual(b.stream.nextBatch(4), a.stream.nextBatch(4));
    assert.deepEqual(preparePretraining(cfg).cached, { corpus: false, supervised: false }); // no cacheDir, no cache
  });

  it('a changed corpus file is tokenized again; a damaged cache file is rebuilt', () => {
    const { cfg, corpus, cacheDir } = setup('changed');
    const a = preparePretraining(cfg, undefined, { cacheDir });
    fs.appendFileSync(corpus, 'One more paragraph of text , long enough to change the token count .\n');
    const b = preparePretraining(cfg, undefined, { cacheDir });
    assert.equal(b.cached.corpus, false);
    assert.ok(b.corpus.tokenCount > a.corpus.tokenCount);
    for (const f of fs.readdirSync(cacheDir)) fs.writeFileSync(path.join(cacheDir, f), 'garbage');
    const c = preparePretraining(cfg, undefined, { cacheDir });
    assert.deepEqual(c.cached, { corpus: false, supervised: false });
    assert.deepEqual(c.corpus, b.corpus);
    assert.equal(preparePretraining(cfg, undefined, { cacheDir }).cached.corpus, true);
  });
});
