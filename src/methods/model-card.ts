/**
 * `README.md` model card beside a saved adapter, in the shape PEFT generates (YAML front matter with
 * `library_name: peft` and `base_model`, then prose). The card describes the files actually in the folder:
 * writeModelCard reads the adapter back (config and tensors) rather than trusting the caller.
 *
 *   saveAdapter('out/cola', dept, { …, format: 'dept' });
 *   writeModelCard('out/cola', { task: 'glue/cola', metrics: { matthews_correlation: 63.8 }, training: { steps: 30000 } });
 */
import fs from 'node:fs';
import path from 'node:path';
import { atomicWriteFile } from '../io/atomic.js';
import type { AnyMethodEntry, CardValue, LoadedAdapter } from './entry.js';
import type { PeftMethod } from './method.js';
import { readAdapter } from './registry.js';

export const MODEL_CARD_FILE = 'README.md';

export type { CardValue };

export interface ModelCardInfo {
  /** Title line; defaults to "<method> adapter for <base model>". */
  title?: string;
  /** The task / data the adapter was trained on, e.g. "glue/cola". */
  task?: string;
  /** Dataset ids for the front matter, e.g. ["nyu-mll/glue"]. */
  datasets?: string[];
  /** Training settings worth recording (steps, learning rates, batch size, seed…), printed as given. */
  training?: Record<string, CardValue>;
  /** Final metrics (split and name → value), printed as given. */
  metrics?: Record<string, CardValue>;
  /** Used only when adapter_config.json records no base_model_name_or_path. */
  baseModel?: string;
  /**
   * Accepted for callers that have them at hand, not needed: the card is built from the files in `dir`, which
   * are authoritative (a DePT method with a zero offset saved as 'peft' is a PROMPT_TUNING adapter on disk).
   */
  method?: PeftMethod;
  format?: string;
}

/** A YAML scalar: plain when safe, else a double-quoted (JSON) string, which YAML reads the same. */
function yamlScalar(s: string): string {
  return /^[A-Za-z0-9][A-Za-z0-9._/:-]*$/.test(s) && !s.endsWith(':') ? s : JSON.stringify(s);
}

function shellWord(s: string): string {
  return /^[A-Za-z0-9._/:=@+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function cell(v: CardValue): string {
  return (v === null ? 'null' : String(v)).replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function table(rows: Record<string, CardValue>, head: [string, string]): string[] {
  return [`| ${head[0]} | ${head[1]} |`, '|---|---|', ...Object.entries(rows).map(([k, v]) => `| ${cell(k)} | ${cell(v)} |`)];
}

/**
 * How the card names a base model (or the adapter folder): a Hugging Face Hub id stays as it is; a local path of
 * the training machine becomes the Hub id its cache path encodes (`…/models--org--name/snapshots/<rev>`), else its
 * folder name. The card is for other machines; the full path stays in the run's run_config.json.
 */
export function portableName(nameOrPath: string): string {
  const trimmed = nameOrPath.replace(/[\\/]+$/, '');
  const cached = /(?:^|[\\/])models--([^\\/]+?)--([^\\/]+)[\\/]snapshots[\\/][^\\/]+$/.exec(trimmed);
  if (cached !== null) return `${cached[1]}/${cached[2]}`;
  const hubShaped = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/.test(trimmed);
  if (hubShaped && !fs.existsSync(trimmed)) return trimmed;
  return path.basename(trimmed) || trimmed;
}

/** An adapter folder as the card's usage lines show it: a relative path as given, an absolute one by its name. */
function portableDir(dir: string): string {
  return path.isAbsolute(dir) ? path.basename(dir.replace(/[\\/]+$/, '')) : dir;
}

/** The card's Markdown for a loaded adapter in `dir` (the method's entry supplies every method-specific line). */
export function renderModelCard(dir: string, adapter: LoadedAdapter & { entry: AnyMethodEntry }, info: ModelCardInfo = {}): string {
  const { method, config: c } = adapter;
  const rawBase = c.baseModel ?? info.baseModel ?? null;
  const baseModel = rawBase === null ? null : portableName(rawBase);
  const shownDir = portableDir(dir);
  const base = baseModel ?? 'unknown';
  const seq2seq = c.taskType === 'SEQ_2_SEQ_LM';
  const desc = adapter.entry.describe(adapter, base);

  const front = ['---'];
  if (baseModel !== null) front.push(`base_model: ${yamlScalar(baseModel)}`);
  front.push(`library_name: ${desc.card.libraryName ?? 'peft'}`);
  if (c.taskType !== null) front.push(`pipeline_tag: ${seq2seq ? 'text2text-generation' : 'text-generation'}`);
  front.push('tags:', '- softprompt', `- ${desc.tag}`);
  if (baseModel !== null) front.push(`- ${yamlScalar(`base_model:${desc.card.relation ?? 'adapter'}:${baseModel}`)}`);
  if (info.datasets !== undefined && info.datasets.length > 0) front.push('datasets:', ...info.datasets.map((s) => `- ${yamlScalar(s)}`));
  front.push('---');

  const hyper: Record<string, CardValue> = { ...desc.card.hyper, 'trainable parameters': `${method.numParams()} (${desc.paramFormula})` };
  const out: string[] = [...front, '', `# ${info.title ?? desc.card.title ?? `${desc.label} adapter for ${base}`}`, ''];
  out.push(desc.card.intro);
  out.push('');
  if (info.task !== undefined) out.push('## Training data', '', `Task: ${info.task}`, '');
  out.push('## Hyperparameters', '', ...table(hyper, ['setting', 'value']), '');
  if (info.training !== undefined && Object.keys(info.training).length > 0) out.push('## Training', '', ...table(info.training, ['setting', 'value']), '');
  if (info.metrics !== undefined && Object.keys(info.metrics).length > 0) out.push('## Results', '', ...table(info.metrics, ['metric', 'value']), '');
  else out.push('## Results', '', 'No final metrics were recorded with this adapter.', '');

  const auto = seq2seq ? 'AutoModelForSeq2SeqLM' : 'AutoModelForCausalLM';
  out.push('## Usage', '', '### Python', '', ...desc.card.python);
  out.push(...(desc.card.code ?? [
    '```python',
    `from transformers import AutoTokenizer, ${auto}`,
    `from peft import PeftModel${desc.card.peftImportComment ?? ''}`,
    '',
    `model = ${auto}.from_pretrained(${JSON.stringify(base)})`,
    `tokenizer = AutoTokenizer.from_pretrained(${JSON.stringify(c.tokenizer !== null ? portableName(c.tokenizer) : base)})`,
    `model = PeftModel.from_pretrained(model, ${JSON.stringify(shownDir)})`,
    '```',
  ]));
  out.push(
    '',
    ...desc.card.after,
    '### softprompt',
    '',
    '```sh',
    `softprompt predict --model ${shellWord(base)} --adapter ${shellWord(shownDir)} --text "…"`,
    '```',
    '',
    'See `softprompt predict --help` for file input and JSON output. To continue training from this adapter, pass `--init-adapter` to `softprompt train`.',
    '',
  );
  return out.join('\n');
}

/** Write `<dir>/README.md` (atomically) for the adapter saved in `dir`; returns the file. */
export function writeModelCard(dir: string, info: ModelCardInfo = {}): string {
  const file = path.join(dir, MODEL_CARD_FILE);
  atomicWriteFile(file, renderModelCard(dir, readAdapter(dir), info));
  return file;
}
