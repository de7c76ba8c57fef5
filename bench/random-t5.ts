/** A T5 with random weights and the real shapes of a named configuration (no checkpoint download needed). */
import { parseT5Config, T5Model, t5TensorTable, loadT5Weights, type Precision, type T5Config } from '../src/models/t5.js';
import type { WeightSource } from '../src/models/types.js';

export const T5_SHAPES: Record<string, Partial<T5Config>> = {
  't5-small': { d_model: 512, d_kv: 64, d_ff: 2048, num_layers: 6, num_heads: 8 },
  't5-base': { d_model: 768, d_kv: 64, d_ff: 3072, num_layers: 12, num_heads: 12 },
  't5-large': { d_model: 1024, d_kv: 64, d_ff: 4096, num_layers: 24, num_heads: 16 },
};

/** xorshift-filled uniform(-a, a) tensors: fast, deterministic, and well-scaled enough for timing. */
function randomSource(cfg: T5Config, seed: number): WeightSource {
  const table = new Map(t5TensorTable(cfg).map((r) => [r.name, r.shape]));
  let s = seed >>> 0 || 1;
  return {
    has: (name) => table.has(name),
    getF32Checked: (name, shape) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const out = new Float32Array(n);
      const fanIn = shape[shape.length - 1]!;
      const a = name.includes('layer_norm') ? 0 : 1 / Math.sqrt(fanIn);
      for (let i = 0; i < n; i++) {
        s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
        out[i] = name.includes('layer_norm') ? 1 : ((s >>> 0) / 4294967296 * 2 - 1) * a;
      }
      return out;
    },
  };
}

/** precision 'bf16': the GEMM weights are converted as they are generated (no whole fp32 copy is held) */
export function randomT5(name: string, overrides: Partial<T5Config> = {}, seed = 1, precision: Precision = 'fp32'): T5Model {
  const shapes = T5_SHAPES[name];
  if (shapes === undefined) throw new Error(`unknown config ${name}; known: ${Object.keys(T5_SHAPES).join(', ')}`);
  const cfg = parseT5Config({ model_type: 't5', vocab_size: 32128, feed_forward_proj: 'relu', tie_word_embeddings: true, dropout_rate: 0, ...shapes, ...overrides });
  return new T5Model(cfg, loadT5Weights(cfg, randomSource(cfg, seed), precision));
}
