/**
 * A small decoder-only model with seeded RANDOM weights sized to a real tokenizer's vocabulary, written as a
 * Hugging Face folder (config.json, model.safetensors, the tokenizer's files): GPT-2 (GPT2LMHeadModel, tied head)
 * or LLaMA (LlamaForCausalLM, untied). The committed gpt2-tiny / llama-tiny fixtures have 1,024- / 512-token
 * vocabularies that match no tokenizer; this is the model to try GPT-2 / LLaMA training on real text with:
 *
 *   softprompt init-model --family gpt2 --output models/gpt2-random     # bundled GPT-2 tokenizer, 50,257 tokens
 *   softprompt train --model models/gpt2-random --task sst2 --steps 50
 *
 * Weights (seeded, each family on its own Rng stream): embeddings N(0, 0.3) (large enough that a prompt moves the
 * output distribution by several nats), other matrices N(0, 0.1) (so attention to the prompt matters), GPT-2
 * wpe N(0, 0.01), norms 1, biases 0. Its predictions mean nothing; it shows the loop runs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import { atomicWriteFile } from '../io/atomic.js';
import { writeSafetensors, type WritableTensor } from '../io/safetensors.js';
import { loadTokenizerSync } from '../io/tokenizer.js';
import { gpt2TensorTable } from '../models/gpt2.js';
import { parseGPT2Config } from '../models/gpt2-config.js';
import { llamaTensorTable } from '../models/llama.js';
import { parseLlamaConfig } from '../models/llama-config.js';
import { Rng } from '../train/rng.js';
import { TOKENIZER_FILES } from './prepare.js';

export type CausalFamily = 'gpt2' | 'llama';

export interface CausalInitOptions {
  family: CausalFamily;
  /** tokenizer folder or file; its vocabulary sizes the embedding table and its files are copied */
  tokenizer: string;
  output: string;
  seed?: number;
  /** C (n_embd / hidden_size), default 32 */
  hidden?: number;
  /** L, default 2 */
  layers?: number;
  /** NH, default 4 */
  heads?: number;
  /** longest input (n_positions / max_position_embeddings): GPT-2 default 128, LLaMA 256 */
  positions?: number;
  /** GPT-2 std of the token embedding (default 0.3) */
  wteStd?: number;
  /** GPT-2 std of the block weights (default 0.1) */
  weightStd?: number;
}

export interface CausalInitResult {
  output: string;
  files: string[];
  vocabSize: number;
  params: number;
}

function positive(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1 || v > 1 << 16) throw new SoftpromptError('invalid_config', `--${name} must be an integer from 1 to 65536, got ${v}.`, { path: name });
  return v;
}

/** config.json for the family (HF field names), sized to the tokenizer. */
export function causalConfigJson(o: CausalInitOptions, tok: { vocabSize: number; eosId: number; bosId?: number }): Record<string, unknown> {
  const C = positive('hidden', o.hidden ?? 32), L = positive('layers', o.layers ?? 2), NH = positive('heads', o.heads ?? 4);
  if (C % NH !== 0) throw new SoftpromptError('invalid_config', `--hidden ${C} must be a multiple of --heads ${NH}.`, { path: 'hidden' });
  if (o.family === 'gpt2') {
    const P = positive('positions', o.positions ?? 128);
    return {
      model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: tok.vocabSize, n_embd: C, n_layer: L, n_head: NH,
      n_positions: P, n_ctx: P, activation_function: 'gelu_new', resid_pdrop: 0.1, embd_pdrop: 0.1, attn_pdrop: 0.1,
      layer_norm_epsilon: 1e-5, bos_token_id: tok.bosId ?? tok.eosId, eos_token_id: tok.eosId, tie_word_embeddings: true,
    };
  }
  return {
    model_type: 'llama', architectures: ['LlamaForCausalLM'], vocab_size: tok.vocabSize, hidden_size: C, intermediate_size: 2 * C,
    num_hidden_layers: L, num_attention_heads: NH, num_key_value_heads: NH, hidden_act: 'silu',
    max_position_embeddings: positive('positions', o.positions ?? 256), rms_norm_eps: 1e-6, tie_word_embeddings: false,
    bos_token_id: tok.bosId ?? 1, eos_token_id: tok.eosId, rope_theta: 10000,
  };
}

/** The seeded random tensors of `config` (HF names). */
export function causalRandomTensors(o: Pick<CausalInitOptions, 'family' | 'seed' | 'wteStd' | 'weightStd'>, config: Record<string, unknown>, file: string): Record<string, WritableTensor> {
  const tensors: Record<string, WritableTensor> = {};
  if (o.family === 'gpt2') {
    const rng = new Rng(o.seed ?? 1234, 7);
    for (const row of gpt2TensorTable(parseGPT2Config(config, file))) {
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
    return tensors;
  }
  const rng = new Rng(o.seed ?? 1234, 9);
  for (const row of llamaTensorTable(parseLlamaConfig(config, file))) {
    const n = row.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (row.name.endsWith('norm.weight')) data.fill(1);
    else {
      const std = row.name.includes('embed_tokens') || row.name === 'lm_head.weight' ? 0.3 : 0.1;
      for (let i = 0; i < n; i++) data[i] = rng.normal(0, std);
    }
    tensors[row.name] = { shape: row.shape, data };
  }
  return tensors;
}

/** Write the model folder; refuses a non-empty --output (nothing of someone's is overwritten). */
export function initCausalModel(o: CausalInitOptions): CausalInitResult {
  const st = fs.statSync(o.tokenizer, { throwIfNoEntry: false });
  if (st === undefined) throw new SoftpromptError('file_not_found', `Tokenizer ${o.tokenizer} does not exist.`, { file: o.tokenizer, path: 'tokenizer' });
  const tokDir = st.isDirectory() ? o.tokenizer : path.dirname(o.tokenizer);
  const tok = loadTokenizerSync(o.tokenizer);
  const out = fs.statSync(o.output, { throwIfNoEntry: false });
  if (out !== undefined && (!out.isDirectory() || fs.readdirSync(o.output).length > 0)) {
    throw new SoftpromptError('invalid_config', `--output ${o.output} already exists and is not an empty folder; init-model writes a new model folder.`, { path: 'output', file: o.output });
  }
  fs.mkdirSync(o.output, { recursive: true });
  const configFile = path.join(o.output, 'config.json');
  const config = causalConfigJson(o, tok);
  const tensors = causalRandomTensors(o, config, configFile);
  writeSafetensors(path.join(o.output, 'model.safetensors'), tensors, { format: 'pt' });
  const files = ['model.safetensors'];
  const copy = new Set(TOKENIZER_FILES.filter((f) => fs.existsSync(path.join(tokDir, f))));
  if (!st.isDirectory()) copy.add(path.basename(o.tokenizer));
  for (const f of copy) {
    atomicWriteFile(path.join(o.output, f), fs.readFileSync(path.join(tokDir, f)));
    files.push(f);
  }
  atomicWriteFile(configFile, JSON.stringify(config, null, 2) + '\n'); // last: the folder is a model once config.json exists
  files.push('config.json');
  const params = Object.values(tensors).reduce((a, t) => a + t.data.length, 0);
  return { output: o.output, files, vocabSize: tok.vocabSize, params };
}
