/**
 * Reader for the weight-gradient goldens (test/fixtures/<name>/weight-golden.{json,safetensors}, made by
 * scripts/make-weight-goldens.py; layout in test/fixtures/README.md): HF float64 dLoss/dW of every parameter for
 * full fine-tuning, and PEFT LoRA values + dLoss/dA, dLoss/dB, on the fixture's plain batch.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { FIXTURES } from './golden.js';

export interface F64Tensor {
  shape: number[];
  data: Float64Array;
}

/** The batch (I32): ids/mask (B, T), labels (B, S); S = T for causal LMs. */
export interface GoldenBatch {
  B: number;
  T: number;
  S: number;
  inputIds: Int32Array;
  attentionMask: Int32Array;
  labels: Int32Array;
}

/** dLoss/dW of one HF parameter; `rows` set: only those rows of a vocabulary-sized tensor are stored (data is (rows.length, cols)). */
export interface WeightGrad extends F64Tensor {
  rows?: Int32Array;
  /** Stats of the FULL gradient tensor (all rows), float64. */
  full: { shape: number[]; max_abs: number; sum: number; sum_sq: number };
}

export interface LoraGoldenConfig {
  r: number;
  lora_alpha: number;
  /** lora_alpha / r */
  scaling: number;
  target_modules: string[];
  /** GPT-2 Conv1D: PEFT stores A [r, in], B [out, r] as for nn.Linear; only the merged delta is transposed. */
  fan_in_fan_out: boolean;
}

/** One LoRA-wrapped module: `module` is the HF module path (e.g. "encoder.block.0.layer.0.SelfAttention.q"). */
export interface LoraModuleGolden {
  module: string;
  A: F64Tensor;
  B: F64Tensor;
  dA: F64Tensor;
  dB: F64Tensor;
}

export interface WeightGolden {
  name: string;
  dir: string;
  modelType: string;
  json: Record<string, unknown>;
  batch: GoldenBatch;
  full: { loss: number; tokenNll: Float64Array; grads: Map<string, WeightGrad> };
  lora: {
    config: LoraGoldenConfig;
    loss: number;
    tokenNll: Float64Array;
    /** By PEFT state-dict key (as in lora-adapter/adapter_model.safetensors). */
    values: Map<string, F64Tensor>;
    grads: Map<string, F64Tensor>;
    modules: LoraModuleGolden[];
    /** The same adapter as PEFT save_pretrained wrote it (fp32). */
    adapterDir: string;
  };
  /** A second batch with the LoRA applied: per-token NLL (aligned with labels, 0 where ignored) and mean CE. */
  second: { batch: GoldenBatch; tokenNll: Float64Array; loss: number };
}

function f64(st: SafetensorsFile, name: string): F64Tensor {
  const info = st.info(name);
  if (info.dtype !== 'F64') throw new Error(`${st.file}: ${name} is ${info.dtype}, expected F64`);
  const bytes = st.getBytes(name);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = new Float64Array(bytes.byteLength / 8);
  for (let i = 0; i < data.length; i++) data[i] = view.getFloat64(i * 8, true);
  return { shape: info.shape, data };
}

function batch(st: SafetensorsFile, prefix: string): GoldenBatch {
  const [B, T] = st.info(`${prefix}input_ids`).shape as [number, number];
  return {
    B, T, S: st.info(`${prefix}labels`).shape[1]!,
    inputIds: st.getI32(`${prefix}input_ids`),
    attentionMask: st.getI32(`${prefix}attention_mask`),
    labels: st.getI32(`${prefix}labels`),
  };
}

export function loadWeightGolden(name: string): WeightGolden {
  const dir = join(FIXTURES, name);
  const st = SafetensorsFile.open(join(dir, 'weight-golden.safetensors'));
  const json = JSON.parse(readFileSync(join(dir, 'weight-golden.json'), 'utf8')) as Record<string, unknown>;
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const fullStats = (json['full'] as { grads: Record<string, WeightGrad['full']> }).grads;
  const grads = new Map<string, WeightGrad>();
  for (const n of st.names()) {
    if (!n.startsWith('full.grad.')) continue;
    const hf = n.slice('full.grad.'.length);
    const rowsName = `full.grad_rows.${hf}`;
    const g: WeightGrad = { ...f64(st, n), full: fullStats[hf]! };
    if (st.has(rowsName)) g.rows = st.getI32(rowsName);
    grads.set(hf, g);
  }
  const values = new Map<string, F64Tensor>(), loraGrads = new Map<string, F64Tensor>();
  for (const n of st.names()) {
    if (n.startsWith('lora.grad.')) loraGrads.set(n.slice('lora.grad.'.length), f64(st, n));
    else if (n.startsWith('lora.') && n.endsWith('.weight')) values.set(n.slice('lora.'.length), f64(st, n));
  }
  const modules: LoraModuleGolden[] = [];
  for (const key of [...values.keys()].sort()) {
    if (!key.endsWith('.lora_A.weight')) continue;
    const base = key.slice(0, -'.lora_A.weight'.length);
    const bKey = `${base}.lora_B.weight`;
    modules.push({
      module: base.replace(/^base_model\.model\./, ''),
      A: values.get(key)!, B: values.get(bKey)!, dA: loraGrads.get(key)!, dB: loraGrads.get(bKey)!,
    });
  }
  const loraJson = json['lora'] as { config: LoraGoldenConfig; adapter_dir: string };
  return {
    name, dir, modelType: String(config['model_type']), json,
    batch: batch(st, ''),
    full: { loss: f64(st, 'full.loss').data[0]!, tokenNll: f64(st, 'full.token_nll').data, grads },
    lora: {
      config: loraJson.config, loss: f64(st, 'lora.loss').data[0]!, tokenNll: f64(st, 'lora.token_nll').data,
      values, grads: loraGrads, modules, adapterDir: join(dir, loraJson.adapter_dir),
    },
    second: { batch: batch(st, 'lora2.'), tokenNll: f64(st, 'lora2.token_nll').data, loss: f64(st, 'lora2.loss').data[0]! },
  };
}

/** Names of the fixture folders holding weight-golden.safetensors, optionally of one model_type. */
export function weightGoldenFixtures(modelType?: string): string[] {
  if (!existsSync(FIXTURES)) return [];
  return readdirSync(FIXTURES).sort().filter((n) => {
    if (!existsSync(join(FIXTURES, n, 'weight-golden.safetensors'))) return false;
    if (modelType === undefined) return true;
    const config = JSON.parse(readFileSync(join(FIXTURES, n, 'config.json'), 'utf8')) as Record<string, unknown>;
    return config['model_type'] === modelType;
  });
}

/** Gather rows of a full (rows_total, cols) gradient to compare with a row-subset golden. */
export function gatherRows(full: ArrayLike<number>, cols: number, rows: Int32Array): Float64Array {
  const out = new Float64Array(rows.length * cols);
  for (let i = 0; i < rows.length; i++) for (let c = 0; c < cols; c++) out[i * cols + c] = full[rows[i]! * cols + c]!;
  return out;
}
