/**
 * `softprompt inspect PATH`: what an adapter folder, a model folder, a run folder or a .safetensors / .bin file
 * holds. For adapters: the DePT numbers (l, r, s, α), tensor shapes and the statistics that tell a trained
 * adapter from a fresh one (spec §1.10: ‖P_row‖, A and B std, ‖α/√r·(A·B)_row‖ by position).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { SoftpromptError } from '../errors.js';
import { formatShape, numel } from '../io/dtype.js';
import { CONFIG_FILE, loadConfig, openWeights } from '../io/hf-folder.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { loadTokenizerSync, SPM_FILES, TOKENIZER_JSON } from '../io/tokenizer.js';
import { readTorchBin } from '../io/torch-bin.js';
import { ADAPTER_CONFIG_FILE, readAdapter } from '../methods/adapter-files.js';
import { Dept } from '../methods/dept.js';

export function inspectCommand(): Command {
  return new Command('inspect')
    .summary('describe an adapter, model folder, run folder or tensor file')
    .description('Describe PATH: an adapter folder (type, format, l, r, s, α, tensor shapes and norms, parameter count, base\n'
      + 'model), a model folder (model_type, dims, parameters, tensors, tokenizer), a run folder (its adapter/), or a\n'
      + '.safetensors / .bin file (its tensors).')
    .argument('<path>', 'adapter folder, model folder, run folder, .safetensors or .bin file')
    .option('--json', 'print one JSON object')
    .addHelpText('after', `
Examples:
  $ softprompt inspect runs/quickstart/adapter
  $ softprompt inspect test/fixtures/dept-cola          # a released DePT checkpoint (l=80, r=15, s=256)
  $ softprompt inspect ./t5-base --json
  $ softprompt inspect ./t5-base/model.safetensors
`)
    .action((p: string, o: { json?: boolean }) => { runInspect(p, o.json === true); });
}

// ---- statistics -------------------------------------------------------------------------------------------

export interface Summary {
  mean: number;
  min: number;
  max: number;
}

/** L2 norm of each row of a (rows, cols) matrix: mean, min, max. */
export function rowNormStats(x: Float32Array, rows: number, cols: number): Summary | null {
  if (rows === 0) return null;
  let sum = 0, min = Infinity, max = -Infinity;
  for (let i = 0; i < rows; i++) {
    let ss = 0;
    for (let j = 0; j < cols; j++) ss += x[i * cols + j]! ** 2;
    const n = Math.sqrt(ss);
    sum += n;
    min = Math.min(min, n);
    max = Math.max(max, n);
  }
  return { mean: sum / rows, min, max };
}

/** Population standard deviation (numpy's .std()). */
export function std(x: Float32Array): number | null {
  if (x.length === 0) return null;
  let mean = 0;
  for (let i = 0; i < x.length; i++) mean += x[i]!;
  mean /= x.length;
  let v = 0;
  for (let i = 0; i < x.length; i++) v += (x[i]! - mean) ** 2;
  return Math.sqrt(v / x.length);
}

const OFFSET_POSITIONS = [0, 1, 2, 5, 10, 20, 40, 60, 100, 255];

/** ‖scaling·(A·B)_row‖ at the positions spec §1.10 lists (those below s). */
function offsetNorms(m: Dept): Array<[number, number]> {
  const { rank: r, maxLength: s } = m.config;
  const d = m.dModel;
  const A = m.loraA.data, B = m.loraB.data;
  return OFFSET_POSITIONS.filter((p) => p < s).map((p) => {
    let ss = 0;
    for (let j = 0; j < d; j++) {
      let v = 0;
      for (let k = 0; k < r; k++) v += A[p * r + k]! * B[k * d + j]!;
      ss += (m.scaling * v) ** 2;
    }
    return [p, Math.sqrt(ss)];
  });
}

// ---- adapter ----------------------------------------------------------------------------------------------

interface TensorReport {
  name: string;
  shape: number[];
  rowNorm?: Summary | null;
  std?: number | null;
}

function inspectAdapter(dir: string): Record<string, unknown> {
  const a = readAdapter(dir);
  const c = a.config;
  const m = a.method;
  const tensors: TensorReport[] = [{ name: 'prompt_embeddings', shape: m.prompt.shape, rowNorm: rowNormStats(m.prompt.data, m.prompt.shape[0]!, m.prompt.shape[1]!), std: std(m.prompt.data) }];
  const base: Record<string, unknown> = {
    kind: 'adapter', path: dir,
    type: m.type,
    format: c.peftType === 'PROMPT_TUNING_LORA' ? 'DePT fork of PEFT (peft_type PROMPT_TUNING_LORA)' : 'PEFT prompt tuning (peft_type PROMPT_TUNING)',
    peftType: c.peftType,
    configFile: a.configFile, weightsFile: a.weightsFile,
    baseModel: c.baseModel, tokenizer: c.tokenizer, taskType: c.taskType,
    d: m.dModel, l: m.numVirtualTokens,
    init: c.init, initText: c.initText,
    params: m.numParams(),
  };
  if (m instanceof Dept) {
    tensors.push({ name: 'prompt_encoder.lora_embedding_A', shape: m.loraA.shape, std: std(m.loraA.data) });
    tensors.push({ name: 'prompt_encoder.lora_embedding_B', shape: m.loraB.shape, std: std(m.loraB.data) });
    const r = m.config.rank;
    Object.assign(base, {
      r, s: m.config.maxLength, alpha: m.config.loraAlpha, scaling: m.scaling,
      initStd: { A: r > 0 ? 1 / Math.sqrt(3 * r) : 0, B: 0 },
      offsetRowNorms: Object.fromEntries(offsetNorms(m)),
    });
  }
  return { ...base, tensors };
}

const f = (x: number | null | undefined, digits = 3): string => (x === null || x === undefined ? '-' : Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(digits));

function printAdapter(rep: Record<string, unknown>): void {
  const w = (s: string) => process.stdout.write(s + '\n');
  const tensors = rep['tensors'] as TensorReport[];
  const dept = rep['type'] === 'dept';
  w(`${rep['path']}: ${dept ? 'DePT' : 'prompt-tuning'} adapter`);
  w(`  format      ${rep['format']}`);
  w(`  files       ${path.basename(rep['configFile'] as string)}, ${path.basename(rep['weightsFile'] as string)}`);
  w(`  base model  ${rep['baseModel'] ?? '(not recorded)'}${rep['tokenizer'] !== null && rep['tokenizer'] !== rep['baseModel'] ? `  (tokenizer ${rep['tokenizer']})` : ''}`);
  w(dept
    ? `  numbers     l=${rep['l']}, r=${rep['r']}, s=${rep['s']}, alpha=${rep['alpha']} (scaling α/√r = ${f(rep['scaling'] as number, 4)}), d=${rep['d']}`
    : `  numbers     l=${rep['l']}, d=${rep['d']}`);
  w(`  parameters  ${(rep['params'] as number).toLocaleString('en-US')}${dept ? ' = l·d + r·(s + d)' : ' = l·d'}`);
  w(`  init        ${rep['init']}${rep['initText'] !== null ? ` ${JSON.stringify(rep['initText'])}` : ''}`);
  w('  tensors');
  for (const t of tensors) {
    const stats = t.rowNorm !== undefined && t.rowNorm !== null
      ? `‖row‖ mean ${f(t.rowNorm.mean)} (min ${f(t.rowNorm.min)}, max ${f(t.rowNorm.max)})`
      : `std ${f(t.std, 4)}`;
    w(`    ${t.name.padEnd(32)} ${formatShape(t.shape).padEnd(12)} ${stats}`);
  }
  if (dept) {
    const init = rep['initStd'] as { A: number; B: number };
    const offs = rep['offsetRowNorms'] as Record<string, number>;
    w(`  at init     A std ${f(init.A, 4)} (U(±1/√r)), B std 0: a fresh adapter has A·B = 0`);
    if (Object.keys(offs).length > 0) w(`  ‖α/√r·(A·B)_row‖ at positions ${Object.keys(offs).join('/')}: ${Object.values(offs).map((v) => f(v, 2)).join('/')}`);
  }
  w('  reference   released DePT T5-base checkpoints (spec §1.10): CoLA l80 r15: ‖P_row‖ 917 (771–1190), A std 0.237, B std 0.162;');
  w('              SST-2 l60 r30: ‖P_row‖ 781 (665–1029), A std 0.142, B std 0.087');
}

// ---- model folder -----------------------------------------------------------------------------------------

function inspectModel(dir: string): Record<string, unknown> {
  const config = loadConfig(dir);
  const weights = openWeights(dir);
  const names = weights.names();
  let params = 0;
  const dtypes: Record<string, number> = {};
  for (const n of names) {
    const info = weights.info(n);
    params += numel(info.shape);
    dtypes[info.dtype] = (dtypes[info.dtype] ?? 0) + 1;
  }
  const tokFile = [TOKENIZER_JSON, ...SPM_FILES].find((t) => fs.existsSync(path.join(dir, t))) ?? null;
  let tokenizerVocab: number | null = null;
  let tokenizerError: string | null = null;
  if (tokFile !== null) {
    try {
      tokenizerVocab = loadTokenizerSync(dir).vocabSize;
    } catch (err) {
      tokenizerError = err instanceof Error ? err.message : String(err);
    }
  }
  const pick = (k: string): unknown => config[k] ?? null;
  return {
    kind: 'model', path: dir,
    modelType: pick('model_type'),
    architectures: pick('architectures'),
    dims: {
      d_model: pick('d_model'), d_kv: pick('d_kv'), d_ff: pick('d_ff'), num_heads: pick('num_heads'),
      num_layers: pick('num_layers'), num_decoder_layers: pick('num_decoder_layers'), vocab_size: pick('vocab_size'),
      feed_forward_proj: pick('feed_forward_proj'), tie_word_embeddings: pick('tie_word_embeddings'),
    },
    params, tensorCount: names.length, dtypes,
    weights: path.relative(dir, weights.source) === '' ? dir : weights.source,
    tokenizer: tokFile === null ? null : { file: tokFile, vocabSize: tokenizerVocab, error: tokenizerError },
  };
}

function printModel(rep: Record<string, unknown>): void {
  const w = (s: string) => process.stdout.write(s + '\n');
  const dims = rep['dims'] as Record<string, unknown>;
  w(`${rep['path']}: ${rep['modelType']} model folder${Array.isArray(rep['architectures']) ? ` (${(rep['architectures'] as string[]).join(', ')})` : ''}`);
  w(`  dims        ${Object.entries(dims).filter(([, v]) => v !== null).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  w(`  parameters  ${(rep['params'] as number).toLocaleString('en-US')} in ${rep['tensorCount']} tensors (${Object.entries(rep['dtypes'] as Record<string, number>).map(([k, v]) => `${v} ${k}`).join(', ')})`);
  const tok = rep['tokenizer'] as { file: string; vocabSize: number | null; error: string | null } | null;
  w(`  tokenizer   ${tok === null
    ? `not found (no ${TOKENIZER_JSON} or ${SPM_FILES.join(' / ')}); pass --tokenizer when training or predicting`
    : tok.error !== null ? `${tok.file}, but it does not load: ${tok.error}` : `${tok.file} (${tok.vocabSize} tokens)`}`);
}

// ---- tensor files -----------------------------------------------------------------------------------------

function inspectTensorFile(file: string): Record<string, unknown> {
  if (file.endsWith('.bin')) {
    const t = readTorchBin(file);
    const tensors = [...t.entries()].map(([name, x]) => ({ name, dtype: x.dtype, shape: x.shape }));
    return { kind: 'pytorch', path: file, tensors, params: tensors.reduce((a, x) => a + numel(x.shape), 0) };
  }
  const st = SafetensorsFile.open(file);
  const tensors = st.names().map((name) => ({ name, ...st.info(name) }));
  return { kind: 'safetensors', path: file, metadata: st.metadata, tensors, params: tensors.reduce((a, x) => a + numel(x.shape), 0) };
}

function printTensorFile(rep: Record<string, unknown>): void {
  const w = (s: string) => process.stdout.write(s + '\n');
  const tensors = rep['tensors'] as Array<{ name: string; dtype: string; shape: number[] }>;
  w(`${rep['path']}: ${rep['kind']} file, ${tensors.length} tensors, ${(rep['params'] as number).toLocaleString('en-US')} values`);
  const meta = rep['metadata'] as Record<string, string> | undefined;
  if (meta !== undefined && Object.keys(meta).length > 0) w(`  metadata  ${JSON.stringify(meta)}`);
  const width = Math.min(70, Math.max(...tensors.map((t) => t.name.length), 4));
  for (const t of tensors) w(`  ${t.name.padEnd(width)} ${t.dtype.padEnd(5)} ${formatShape(t.shape)}`);
}

// ---- dispatch ---------------------------------------------------------------------------------------------

export function inspectPath(p: string): Record<string, unknown> {
  const st = fs.statSync(p, { throwIfNoEntry: false });
  if (st === undefined) throw new SoftpromptError('file_not_found', `${p} does not exist.`, { file: p });
  if (st.isFile()) {
    if (p.endsWith('.safetensors') || p.endsWith('.bin')) return inspectTensorFile(p);
    throw new SoftpromptError('unsupported', `Cannot inspect ${p}: expected a folder, a .safetensors or a .bin file.`, { file: p });
  }
  if (fs.existsSync(path.join(p, ADAPTER_CONFIG_FILE))) return inspectAdapter(p);
  if (fs.existsSync(path.join(p, CONFIG_FILE))) return inspectModel(p);
  const runAdapter = path.join(p, 'adapter');
  if (fs.existsSync(path.join(runAdapter, ADAPTER_CONFIG_FILE))) return { ...inspectAdapter(runAdapter), runFolder: p };
  throw new SoftpromptError('file_not_found', `${p} holds neither ${ADAPTER_CONFIG_FILE} (an adapter) nor ${CONFIG_FILE} (a model), nor adapter/ (a run folder).`, {
    file: p, hint: 'point inspect at an adapter folder, a Hugging Face model folder, a run folder or a .safetensors file.',
  });
}

export function runInspect(p: string, json: boolean): Record<string, unknown> {
  const rep = inspectPath(p);
  if (json) {
    process.stdout.write(JSON.stringify(rep, null, 2) + '\n');
    return rep;
  }
  if (rep['runFolder'] !== undefined) process.stdout.write(`run folder ${rep['runFolder']}, its adapter:\n`);
  if (rep['kind'] === 'adapter') printAdapter(rep);
  else if (rep['kind'] === 'model') printModel(rep);
  else printTensorFile(rep);
  return rep;
}
