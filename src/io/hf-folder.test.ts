import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SoftpromptError, formatError } from '../errors.js';
import { loadConfig, openWeights } from './hf-folder.js';
import { SafetensorsFile, writeSafetensors, type WritableTensor } from './safetensors.js';
import { fixture } from '../../test/paths.js';
import { expectError } from '../../test/expect-error.js';

const T5_TINY = fixture('t5-tiny');
const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-hf-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));

let n = 0;
function tmpDir(): string {
  const dir = path.join(ROOT, String(n++));
  fs.mkdirSync(dir);
  return dir;
}


/** t5-tiny split in two shards the way save_pretrained(max_shard_size=…) lays them out. */
function shardedT5(): string {
  const dir = tmpDir();
  fs.copyFileSync(path.join(T5_TINY, 'config.json'), path.join(dir, 'config.json'));
  const src = SafetensorsFile.open(path.join(T5_TINY, 'model.safetensors'));
  const shards: Record<string, Record<string, WritableTensor>> = {
    'model-00001-of-00002.safetensors': {},
    'model-00002-of-00002.safetensors': {},
  };
  const weightMap: Record<string, string> = {};
  for (const name of src.names()) {
    const shard = name.startsWith('decoder.') ? 'model-00002-of-00002.safetensors' : 'model-00001-of-00002.safetensors';
    shards[shard]![name] = { shape: src.info(name).shape, data: src.getF32(name) };
    weightMap[name] = shard;
  }
  for (const [file, tensors] of Object.entries(shards)) writeSafetensors(path.join(dir, file), tensors, { format: 'pt' });
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }, null, 2));
  return dir;
}

describe('hf-folder: config', () => {
  it('loads config.json of t5-tiny', () => {
    const cfg = loadConfig(T5_TINY);
    assert.equal(cfg.model_type, 't5');
    assert.equal(cfg.d_model, 64);
    assert.equal(cfg.vocab_size, 32128);
  });

  it('missing folder, missing config, invalid JSON, non-object JSON', () => {
    const nope = path.join(ROOT, 'nope');
    expectError(() => loadConfig(nope), 'file_not_found', nope);
    const empty = tmpDir();
    expectError(() => loadConfig(empty), 'file_not_found', path.join(empty, 'config.json'));
    const bad = tmpDir();
    fs.writeFileSync(path.join(bad, 'config.json'), '{"d_model": 64,');
    expectError(() => loadConfig(bad), 'malformed_file', path.join(bad, 'config.json'), 'JSON');
    const arr = tmpDir();
    fs.writeFileSync(path.join(arr, 'config.json'), '[1]');
    expectError(() => loadConfig(arr), 'malformed_file', path.join(arr, 'config.json'), 'not a JSON object');
  });
});

describe('hf-folder: weights', () => {
  it('opens model.safetensors of a folder, and a .safetensors file directly', () => {
    for (const src of [T5_TINY, path.join(T5_TINY, 'model.safetensors')]) {
      const w = openWeights(src);
      assert.equal(w.names().length, 47);
      assert.ok(w.has('shared.weight'));
      assert.ok(!w.has('lm_head.weight')); // tied, not stored
      assert.deepEqual(w.info('encoder.block.0.layer.1.DenseReluDense.wi.weight'), { dtype: 'F32', shape: [128, 64] });
      assert.equal(w.fileOf('shared.weight'), path.join(T5_TINY, 'model.safetensors'));
    }
  });

  it('a sharded folder gives the same tensors, each read from its shard', () => {
    const dir = shardedT5();
    const single = SafetensorsFile.open(path.join(T5_TINY, 'model.safetensors'));
    const w = openWeights(dir);
    assert.deepEqual(new Set(w.names()), new Set(single.names()));
    assert.equal(w.fileOf('decoder.final_layer_norm.weight'), path.join(dir, 'model-00002-of-00002.safetensors'));
    assert.equal(w.fileOf('shared.weight'), path.join(dir, 'model-00001-of-00002.safetensors'));
    for (const name of single.names()) assert.deepEqual(w.getF32(name), single.getF32(name), name);
    const q = w.getF32Checked('decoder.block.1.layer.1.EncDecAttention.q.weight', [64, 64]);
    assert.equal(q.length, 64 * 64);
  });

  it('getF32Checked: shape_mismatch names file, tensor, expected, got and carries the hint', () => {
    const w = openWeights(T5_TINY);
    const name = 'encoder.block.0.layer.0.SelfAttention.q.weight';
    const err = expectError(() => w.getF32Checked(name, [512, 512], 'config.json gives num_heads × d_kv = 8 × 64.'), 'shape_mismatch', name, path.join(T5_TINY, 'model.safetensors'), 'expected [512, 512], got [64, 64]');
    assert.equal(err.path, name);
    assert.equal(err.hint, 'config.json gives num_heads × d_kv = 8 × 64.');
    assert.ok(formatError(err).includes('hint: config.json gives num_heads'));
    expectError(() => w.getF32Checked('encoder.final_layer_norm.weight', [64, 1]), 'shape_mismatch', 'expected [64, 1], got [64]');
  });

  it('missing tensor names the file (or the index) and close names', () => {
    const w = openWeights(T5_TINY);
    expectError(() => w.getF32Checked('lm_head.weight', [32128, 64]), 'missing_tensor', '"lm_head.weight"', path.join(T5_TINY, 'model.safetensors'));
    const dir = shardedT5();
    const index = path.join(dir, 'model.safetensors.index.json');
    expectError(() => openWeights(dir).getF32('encoder.block.9.layer.0.SelfAttention.q.weight'), 'missing_tensor', index, '"encoder.block.9.layer.0.SelfAttention.q.weight"', '"encoder.block.');
  });

  it('no weights, PyTorch-only weights, broken index', () => {
    const empty = tmpDir();
    expectError(() => openWeights(empty), 'file_not_found', empty, 'model.safetensors', 'model.safetensors.index.json');

    const pt = tmpDir();
    fs.writeFileSync(path.join(pt, 'pytorch_model.bin'), 'not loaded');
    const err = expectError(() => openWeights(pt), 'unsupported', 'pytorch_model.bin', pt);
    assert.ok(err.hint?.includes('safe_serialization=True'));

    const missingShard = shardedT5();
    fs.rmSync(path.join(missingShard, 'model-00002-of-00002.safetensors'));
    expectError(() => openWeights(missingShard), 'file_not_found', 'model-00002-of-00002.safetensors');

    const wrongShard = shardedT5();
    const index = path.join(wrongShard, 'model.safetensors.index.json');
    const json = JSON.parse(fs.readFileSync(index, 'utf8')) as { weight_map: Record<string, string> };
    json.weight_map['shared.weight'] = 'model-00002-of-00002.safetensors';
    fs.writeFileSync(index, JSON.stringify(json));
    expectError(() => openWeights(wrongShard), 'malformed_file', index, '"shared.weight"', 'model-00002-of-00002.safetensors');

    json.weight_map['shared.weight'] = '../escape.safetensors';
    fs.writeFileSync(index, JSON.stringify(json));
    expectError(() => openWeights(wrongShard), 'malformed_file', index, '../escape.safetensors');

    fs.writeFileSync(index, '{"metadata": {}}');
    expectError(() => openWeights(wrongShard), 'malformed_file', index, 'weight_map');
  });
});
