/**
 * Small decoder-only models with seeded RANDOM weights but real vocabularies, built at run time in a temporary
 * folder with the committed real tokenizer beside them: GPT-2 (50257 tokens, tokenizer.json) and LLaMA-2 (32000,
 * tokenizer.model). The committed gpt2-tiny / llama-tiny fixtures have 1024- / 512-token vocabularies that match
 * no tokenizer, so end-to-end tests on real text use these instead.
 */
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors, type WritableTensor } from '../src/io/safetensors.js';
import { gpt2TensorTable, parseGPT2Config } from '../src/models/gpt2.js';
import { llamaTensorTable } from '../src/models/llama.js';
import { parseLlamaConfig } from '../src/models/llama-config.js';
import { Rng } from '../src/train/rng.js';
import { fixture } from './paths.js';

export interface RandomGpt2Options {
  seed?: number;
  nEmbd?: number;
  nLayer?: number;
  nHead?: number;
  nPositions?: number;
  /** std of the token embedding (default 0.3: large enough that a prompt can move the output distribution by several nats) */
  wteStd?: number;
  /** std of the block weights (default 0.1, so that attention to the prompt matters) */
  weightStd?: number;
}

/** Write config.json, model.safetensors, tokenizer.json, tokenizer_config.json into a new temp folder; return it. */
export function buildRandomGpt2(o: RandomGpt2Options = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'sp-gpt2-rand-'));
  const config = {
    model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: 50257, n_embd: o.nEmbd ?? 32, n_layer: o.nLayer ?? 2,
    n_head: o.nHead ?? 4, n_positions: o.nPositions ?? 128, n_ctx: o.nPositions ?? 128, activation_function: 'gelu_new',
    resid_pdrop: 0.1, embd_pdrop: 0.1, attn_pdrop: 0.1, layer_norm_epsilon: 1e-5, bos_token_id: 50256, eos_token_id: 50256,
    tie_word_embeddings: true,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  const cfg = parseGPT2Config(config, join(dir, 'config.json'));
  const rng = new Rng(o.seed ?? 1234, 7);
  const tensors: Record<string, WritableTensor> = {};
  for (const row of gpt2TensorTable(cfg)) {
    const n = row.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const leaf = row.name.split('.').slice(-2).join('.');
    if (/ln_(1|2|f)\.weight$/.test(row.name)) data.fill(1);
    else if (row.name.endsWith('.bias')) data.fill(0);
    else {
      const std = leaf === 'wte.weight' ? (o.wteStd ?? 0.3) : leaf === 'wpe.weight' ? 0.01 : (o.weightStd ?? 0.1);
      for (let i = 0; i < n; i++) data[i] = rng.normal(0, std);
    }
    tensors[row.name] = { shape: row.shape, data };
  }
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(fixture('tokenizers', 'gpt2', f), join(dir, f));
  return dir;
}

/** The same for LLaMA: real LLaMA-2 vocabulary (32000) and the committed LLaMA-2 tokenizer (tokenizer.model). */
export function buildRandomLlama(o: { seed?: number; hidden?: number; layers?: number; heads?: number } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'sp-llama-rand-'));
  const C = o.hidden ?? 32;
  const config = {
    model_type: 'llama', architectures: ['LlamaForCausalLM'], vocab_size: 32000, hidden_size: C, intermediate_size: 2 * C,
    num_hidden_layers: o.layers ?? 2, num_attention_heads: o.heads ?? 4, num_key_value_heads: o.heads ?? 4, hidden_act: 'silu',
    max_position_embeddings: 256, rms_norm_eps: 1e-6, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2, rope_theta: 10000,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  const cfg = parseLlamaConfig(config, join(dir, 'config.json'));
  const rng = new Rng(o.seed ?? 1234, 9);
  const tensors: Record<string, WritableTensor> = {};
  for (const row of llamaTensorTable(cfg)) {
    const n = row.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (row.name.endsWith('norm.weight')) data.fill(1);
    else {
      const std = row.name.includes('embed_tokens') || row.name === 'lm_head.weight' ? 0.3 : 0.1;
      for (let i = 0; i < n; i++) data[i] = rng.normal(0, std);
    }
    tensors[row.name] = { shape: row.shape, data };
  }
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  copyFileSync(fixture('tokenizers', 'llama2', 'tokenizer.model'), join(dir, 'tokenizer.model'));
  return dir;
}
