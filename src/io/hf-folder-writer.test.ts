import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { T5Model } from '../models/t5.js';
import { fixture } from '../../test/paths.js';
import { bf16BitsToNumber, f32ToBf16Bits } from './dtype.js';
import { loadConfig, openWeights } from './hf-folder.js';
import { writeModelWeights } from './hf-folder-writer.js';
import { SafetensorsFile } from './safetensors.js';

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-hfw-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));
const T5_TINY = fixture('t5-tiny');

function tinyTensors(): Record<string, { shape: number[]; data: Float32Array }> {
  const st = SafetensorsFile.open(path.join(T5_TINY, 'model.safetensors'));
  return Object.fromEntries(st.names().map((n) => [n, { shape: st.info(n).shape, data: st.getF32(n) }]));
}

describe('bf16 rounding', () => {
  it('rounds to nearest even, keeps NaN, overflows to Inf (hand-computed bit patterns)', () => {
    const x = new Float32Array(new Uint32Array([
      0x3f800000, // 1
      0x3f808000, // 1 + 2^-8: tie, even is down
      0x3f818000, // 1 + 3·2^-8: tie, even is up
      0x3f808001, // just above the tie
      0xc0200000, // -2.5
      0x7f800000, // Inf
      0x7f7fffff, // largest float32 → Inf
      0x7fc00001, // NaN
      0x00000001, // smallest subnormal → 0
    ]).buffer);
    const b = f32ToBf16Bits(x);
    assert.deepEqual([...b.subarray(0, 7)], [0x3f80, 0x3f80, 0x3f82, 0x3f81, 0xc020, 0x7f80, 0x7f80]);
    assert.ok(Number.isNaN(bf16BitsToNumber(b[7]!)));
    assert.equal(b[8], 0);
  });
});

describe('writeModelWeights: HF sharded safetensors', () => {
  it('bf16 shards ≤ the limit, index with total_size and weight_map; hf-folder reads them back as float32', () => {
    const dir = path.join(ROOT, 'sharded');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(T5_TINY, 'config.json'), path.join(dir, 'config.json'));
    const tensors = tinyTensors();
    const max = 40_000;
    const r = writeModelWeights(dir, tensors, { dtype: 'BF16', maxShardBytes: max });
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    const expectedTotal = Object.values(tensors).reduce((a, t) => a + 2 * t.data.length, 0);
    assert.equal(index.metadata.total_size, expectedTotal);
    assert.equal(r.totalSize, expectedTotal);
    assert.deepEqual(Object.keys(index.weight_map).sort(), Object.keys(tensors).sort());
    const shardFiles = [...new Set(Object.values(index.weight_map))].sort();
    assert.equal(shardFiles.length, r.files.length - 1);
    shardFiles.forEach((f, i) => assert.equal(f, `model-${String(i + 1).padStart(5, '0')}-of-${String(shardFiles.length).padStart(5, '0')}.safetensors`));
    assert.deepEqual(r.oversized, ['shared.weight']); // 32128 × 64 × 2 bytes alone in its shard, as huggingface_hub does
    for (const f of shardFiles) {
      const st = SafetensorsFile.open(path.join(dir, f));
      const bytes = st.names().reduce((a, n) => a + 2 * tensors[n]!.data.length, 0);
      assert.ok(bytes <= max || st.names().join() === 'shared.weight', `${f}: ${bytes} bytes`);
    }
    const store = openWeights(dir);
    for (const [name, { data }] of Object.entries(tensors)) {
      assert.equal(store.info(name).dtype, 'BF16');
      const got = store.getF32(name);
      const want = new Float32Array(new Uint32Array(Array.from(f32ToBf16Bits(data), (b) => b << 16)).buffer);
      assert.deepEqual(got, want);
      let bad = 0;
      for (let i = 0; i < data.length; i++) if (Math.abs(got[i]! - data[i]!) > Math.abs(data[i]!) * 2 ** -8) bad++;
      assert.equal(bad, 0, name);
    }
    assert.equal(T5Model.load(loadConfig(dir), store).config.d_model, 64);
  });

  it('no limit: one model.safetensors in F32, equal to the source; stale shards of an earlier write are removed', () => {
    const dir = path.join(ROOT, 'single');
    fs.mkdirSync(dir);
    const tensors = tinyTensors();
    writeModelWeights(dir, tensors, { dtype: 'BF16', maxShardBytes: 100_000 });
    assert.ok(fs.existsSync(path.join(dir, 'model.safetensors.index.json')));
    const r = writeModelWeights(dir, tensors);
    assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
    assert.equal(r.files.length, 1);
    const store = openWeights(dir);
    for (const [name, { data }] of Object.entries(tensors)) assert.deepEqual(store.getF32(name), data);
  });
});
