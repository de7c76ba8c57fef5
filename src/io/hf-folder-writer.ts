/**
 * Model weights written as Hugging Face lays them out: one `model.safetensors`, or shards
 * `model-00001-of-00003.safetensors`, … with `model.safetensors.index.json` ({"metadata": {"total_size": bytes},
 * "weight_map": {tensor name: shard file}}), which `from_pretrained` and hf-folder.ts both read.
 *
 *   writeModelWeights(dir, { 'shared.weight': { shape: [V, C], data } }, { dtype: 'BF16', maxShardBytes: 8e6 });
 */
import fs from 'node:fs';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import { atomicWriteFile } from './atomic.js';
import { numel } from './dtype.js';
import { WEIGHTS_FILE, WEIGHTS_INDEX_FILE } from './hf-folder.js';
import { WRITE_DTYPE_BYTES, writeSafetensors, type WritableTensor } from './safetensors-writer.js';

export interface WeightsWriteOptions {
  /** Element type on disk (default F32); BF16 rounds to nearest even. */
  dtype?: 'F32' | 'BF16';
  /**
   * Largest shard in bytes of tensor data (header excluded, as HF counts). Tensors are packed in the order
   * given; a tensor larger than the limit gets a shard of its own (as huggingface_hub does). Default: no limit,
   * one model.safetensors.
   */
  maxShardBytes?: number;
}

export interface WrittenWeights {
  /** Files written, in order (shards then index, or the single file). */
  files: string[];
  /** Bytes of tensor data (the index's metadata.total_size). */
  totalSize: number;
  /** Tensors too big for maxShardBytes, each alone in an oversized shard. */
  oversized: string[];
}

export function shardFileName(i: number, n: number): string {
  const pad = (k: number) => String(k).padStart(5, '0');
  return `model-${pad(i + 1)}-of-${pad(n)}.safetensors`;
}

/** Write `tensors` (float32 data) into `dir`, replacing any weights file or shard set already there. */
export function writeModelWeights(dir: string, tensors: Record<string, { shape: number[]; data: Float32Array }>, opts: WeightsWriteOptions = {}): WrittenWeights {
  const dtype = opts.dtype ?? 'F32';
  const max = opts.maxShardBytes ?? Infinity;
  if (!(max > 0)) throw new SoftpromptError('invalid_config', `maxShardBytes must be > 0, got ${max}.`, { path: 'maxShardBytes' });
  const bytesPerElement = WRITE_DTYPE_BYTES[dtype];

  const shards: { names: string[]; bytes: number }[] = [];
  const oversized: string[] = [];
  let totalSize = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (numel(t.shape) !== t.data.length) {
      throw new SoftpromptError('shape_mismatch', `Tensor "${name}" has shape [${t.shape.join(', ')}] but ${t.data.length} elements.`, { path: name });
    }
    const bytes = t.data.length * bytesPerElement;
    totalSize += bytes;
    const last = shards[shards.length - 1];
    if (bytes > max) {
      oversized.push(name);
      shards.push({ names: [name], bytes });
      shards.push({ names: [], bytes: 0 });
    } else if (last === undefined || last.bytes + bytes > max) {
      shards.push({ names: [name], bytes });
    } else {
      last.names.push(name);
      last.bytes += bytes;
    }
  }
  const used = shards.filter((s) => s.names.length > 0);
  const removeStale = (keep: Set<string>) => {
    if (!fs.existsSync(dir)) return;
    for (const f of fs.readdirSync(dir)) {
      const stale = f === WEIGHTS_FILE || f === WEIGHTS_INDEX_FILE || /^model-\d{5}-of-\d{5}\.safetensors$/.test(f);
      if (stale && !keep.has(f)) fs.rmSync(path.join(dir, f));
    }
  };
  const tensorsOf = (names: string[]): Record<string, WritableTensor> =>
    Object.fromEntries(names.map((n) => [n, { dtype, shape: tensors[n]!.shape, data: tensors[n]!.data }]));

  if (used.length <= 1) {
    const file = path.join(dir, WEIGHTS_FILE);
    writeSafetensors(file, tensorsOf(used[0]?.names ?? []), { format: 'pt' });
    removeStale(new Set([WEIGHTS_FILE]));
    return { files: [file], totalSize, oversized };
  }
  const names = used.map((_, i) => shardFileName(i, used.length));
  const weightMap: Record<string, string> = {};
  const files: string[] = [];
  used.forEach((s, i) => {
    const file = path.join(dir, names[i]!);
    writeSafetensors(file, tensorsOf(s.names), { format: 'pt' });
    for (const n of s.names) weightMap[n] = names[i]!;
    files.push(file);
  });
  const index = path.join(dir, WEIGHTS_INDEX_FILE);
  atomicWriteFile(index, JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2) + '\n');
  files.push(index);
  removeStale(new Set([...names, WEIGHTS_INDEX_FILE]));
  return { files, totalSize, oversized };
}
