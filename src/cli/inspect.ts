/**
 * `softprompt inspect PATH`: what an adapter folder, a model folder, a run folder or a .safetensors / .bin file
 * holds. For adapters: the method's own description (its registry entry's describe(): for DePT the numbers
 * l, r, s, α, tensor shapes and the statistics that tell a trained adapter from a fresh one, spec §1.10).
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
import { ADAPTER_CONFIG_FILE } from '../methods/adapter-files.js';
import type { TensorReport } from '../methods/entry.js';
import { readAdapter } from '../methods/registry.js';
import { parseGPT2Config } from '../models/gpt2-config.js';
import { parseLlamaConfig } from '../models/llama-config.js';
import { parseT5Config } from '../models/t5-config.js';
import { checkLayerCount } from '../models/types.js';
import { REVISION_FLAG, REVISION_HELP, resolveHubFlag } from './hub-paths.js';

export function inspectCommand(): Command {
  return new Command('inspect')
    .summary('describe an adapter, model folder, run folder or tensor file')
    .description('Describe PATH: an adapter folder (type, format, l, r, s, α, tensor shapes and norms, parameter count, base\n'
      + 'model), a model folder (model_type, dims, parameters, tensors, tokenizer), a run folder (its adapter/), or a\n'
      + '.safetensors / .bin file (its tensors).')
    .argument('<path>', 'adapter folder, model folder, run folder, .safetensors or .bin file, or a Hub id (org/name)')
    .option('--json', 'print one JSON object')
    .option(REVISION_FLAG, REVISION_HELP)
    .addHelpText('after', `
Examples:
  $ softprompt inspect runs/quickstart/adapter
  $ softprompt inspect test/fixtures/dept-cola          # a released DePT checkpoint (l=80, r=15, s=256)
  $ softprompt inspect ./t5-base --json
  $ softprompt inspect ./t5-base/model.safetensors
`)
    .action(async (p: string, o: { json?: boolean; revision?: string }) => { runInspect(await resolveHubFlag(p, 'any', o.revision), o.json === true); });
}

// ---- adapter ----------------------------------------------------------------------------------------------

export { rowNormStats, std } from '../methods/prompt-common.js';

function inspectAdapter(dir: string): Record<string, unknown> {
  const a = readAdapter(dir);
  const c = a.config;
  const m = a.method;
  const desc = a.entry.describe(a, c.baseModel ?? 'unknown');
  return {
    kind: 'adapter', path: dir,
    type: m.type,
    label: desc.label,
    format: desc.format,
    peftType: a.peftType,
    configFile: a.configFile, weightsFile: a.weightsFile,
    baseModel: c.baseModel, tokenizer: c.tokenizer, taskType: c.taskType,
    d: m.dModel, l: m.numVirtualTokens,
    params: m.numParams(), paramFormula: desc.paramFormula,
    numbers: desc.numbers,
    ...desc.fields,
    details: desc.details, notes: desc.notes,
    tensors: desc.tensors,
  };
}

const f = (x: number | null | undefined, digits = 3): string => (x === null || x === undefined ? '-' : Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(digits));

function printAdapter(rep: Record<string, unknown>): void {
  const w = (s: string) => process.stdout.write(s + '\n');
  const tensors = rep['tensors'] as TensorReport[];
  w(`${rep['path']}: ${rep['label']} adapter`);
  w(`  format      ${rep['format']}`);
  w(`  files       ${path.basename(rep['configFile'] as string)}, ${path.basename(rep['weightsFile'] as string)}`);
  w(`  base model  ${rep['baseModel'] ?? '(not recorded)'}${rep['tokenizer'] !== null && rep['tokenizer'] !== rep['baseModel'] ? `  (tokenizer ${rep['tokenizer']})` : ''}`);
  w(`  numbers     ${rep['numbers']}`);
  w(`  parameters  ${(rep['params'] as number).toLocaleString('en-US')} = ${rep['paramFormula']}`);
  for (const line of rep['details'] as string[]) w(line);
  w('  tensors');
  for (const t of tensors) {
    const stats = t.rowNorm !== undefined && t.rowNorm !== null
      ? `‖row‖ mean ${f(t.rowNorm.mean)} (min ${f(t.rowNorm.min)}, max ${f(t.rowNorm.max)})`
      : `std ${f(t.std, 4)}`;
    w(`    ${t.name.padEnd(32)} ${formatShape(t.shape).padEnd(12)} ${stats}`);
  }
  for (const line of rep['notes'] as string[]) w(line);
}

// ---- model folder -----------------------------------------------------------------------------------------

/** The checks loading would make on config.json's values and layer counts (inspect must not accept what load refuses). */
function checkModelConfig(config: Record<string, unknown>, names: ReadonlySet<string>, file: string): void {
  const type = config['model_type'];
  const layers = (key: string, count: number, tensorOf: (l: number) => string): void =>
    checkLayerCount({ has: (n) => names.has(n), getF32Checked: () => new Float32Array(0) }, key, count, tensorOf);
  if (type === 't5' || type === 'mt5') {
    const c = parseT5Config(config, file);
    layers('num_layers', c.num_layers, (l) => `encoder.block.${l}.layer.0.layer_norm.weight`);
    layers('num_decoder_layers', c.num_decoder_layers, (l) => `decoder.block.${l}.layer.0.layer_norm.weight`);
  } else if (type === 'gpt2') {
    const c = parseGPT2Config(config, file);
    const prefix = names.has('transformer.wte.weight') || !names.has('wte.weight') ? 'transformer.' : '';
    layers('n_layer', c.n_layer, (l) => `${prefix}h.${l}.ln_1.weight`);
  } else if (type === 'llama') {
    const c = parseLlamaConfig(config, file);
    layers('num_hidden_layers', c.num_hidden_layers, (l) => `model.layers.${l}.input_layernorm.weight`);
  }
}

function inspectModel(dir: string): Record<string, unknown> {
  const config = loadConfig(dir);
  const weights = openWeights(dir);
  const names = weights.names();
  checkModelConfig(config, new Set(names), path.join(dir, CONFIG_FILE));
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
    const t = readTorchBin(file, { followSymlinks: true }); // a file named on the command line
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
