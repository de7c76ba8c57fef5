import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig, openWeights } from './hf-folder.js';
import { writeModelFolder } from './model-folder-writer.js';

describe('writeModelFolder', () => {
  it('writes config, F32 weights and the tokenizer files; reads back through openWeights; skips symlinks', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-mf-'));
    const tokDir = path.join(tmp, 'tok');
    fs.mkdirSync(tokDir);
    fs.writeFileSync(path.join(tokDir, 'tokenizer.json'), '{"x":1}');
    fs.writeFileSync(path.join(tmp, 'secret'), 'no');
    fs.symlinkSync(path.join(tmp, 'secret'), path.join(tokDir, 'spiece.model'));
    const out = path.join(tmp, 'out');
    const w = Float32Array.from([1, 2, 3, 4, 5, 6]);
    writeModelFolder(out, { config: { model_type: 't5', d_model: 3 }, tensors: { 'a.weight': { shape: [2, 3], data: w } }, tokenizerDir: tokDir });
    assert.deepEqual(loadConfig(out), { model_type: 't5', d_model: 3 });
    assert.deepEqual(openWeights(out).getF32Checked('a.weight', [2, 3]), w);
    assert.equal(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8'), '{"x":1}');
    assert.equal(fs.existsSync(path.join(out, 'spiece.model')), false);
    fs.rmSync(tmp, { recursive: true, force: true });
  });
});
