/**
 * `README.md` model card beside a saved adapter, in the shape PEFT generates (YAML front matter with
 * `library_name: peft` and `base_model`, then prose). The card describes the files actually in the folder:
 * writeModelCard reads the adapter back (config and tensors) rather than trusting the caller.
 *
 *   saveAdapter('out/cola', dept, { …, format: 'dept' });
 *   writeModelCard('out/cola', { task: 'glue/cola', metrics: { matthews_correlation: 63.8 }, training: { steps: 30000 } });
 */
import path from 'node:path';
import { atomicWriteFile } from '../io/atomic.js';
import { readAdapter, type AdapterFormat, type LoadedAdapter } from './adapter-files.js';
import { Dept } from './dept.js';
import type { PeftMethod } from './method.js';

export const MODEL_CARD_FILE = 'README.md';

export type CardValue = string | number | boolean | null;

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
  format?: AdapterFormat;
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

/** The card's Markdown for a loaded adapter in `dir`. */
export function renderModelCard(dir: string, adapter: LoadedAdapter, info: ModelCardInfo = {}): string {
  const { method, config: c } = adapter;
  const dept = method instanceof Dept ? method : null; // PROMPT_TUNING_LORA
  const isDept = dept !== null;
  const baseModel = c.baseModel ?? info.baseModel ?? null;
  const base = baseModel ?? 'unknown';
  const seq2seq = c.taskType === 'SEQ_2_SEQ_LM';
  const d = method.dModel;
  const l = c.numVirtualTokens;
  const methodName = isDept ? 'DePT (decomposed prompt tuning)' : 'prompt tuning';

  const front = ['---'];
  if (baseModel !== null) front.push(`base_model: ${yamlScalar(baseModel)}`);
  front.push('library_name: peft');
  if (c.taskType !== null) front.push(`pipeline_tag: ${seq2seq ? 'text2text-generation' : 'text-generation'}`);
  front.push('tags:', '- softprompt', `- ${isDept ? 'dept' : 'prompt-tuning'}`);
  if (baseModel !== null) front.push(`- ${yamlScalar(`base_model:adapter:${baseModel}`)}`);
  if (info.datasets !== undefined && info.datasets.length > 0) front.push('datasets:', ...info.datasets.map((s) => `- ${yamlScalar(s)}`));
  front.push('---');

  const hyper: Record<string, CardValue> = { peft_type: c.peftType, 'virtual tokens l (num_virtual_tokens)': l };
  if (dept !== null) {
    const { rank: r, maxLength: s, loraAlpha } = dept.config;
    Object.assign(hyper, {
      'rank r': r,
      'max input length s (max_length)': s,
      'lora_alpha α': loraAlpha,
      'offset scaling α/√r': +dept.scaling.toPrecision(6),
    });
  }
  Object.assign(hyper, {
    'model width d (token_dim)': d,
    ...(c.numTransformerSubmodules === 2 ? { 'stored prompt rows': `${2 * l} (num_transformer_submodules 2; only the first ${l} are used)` } : {}),
    'prompt init': c.init === 'TEXT' && c.initText !== null ? `TEXT (${JSON.stringify(c.initText)})` : c.init,
    'trainable parameters': `${method.numParams()} (${isDept ? 'l·d + r·(s + d)' : 'l·d'})`,
  });

  const out: string[] = [...front, '', `# ${info.title ?? `${isDept ? 'DePT' : 'Prompt-tuning'} adapter for ${base}`}`, ''];
  out.push(dept !== null
    ? `A ${methodName} adapter (Shi & Lipani, ICLR 2024) for the frozen model \`${base}\`, saved by softprompt. It holds a soft prompt P (${l} × ${d}) prepended to the ${seq2seq ? 'encoder ' : ''}input, and low-rank factors A (${dept.config.maxLength} × ${dept.config.rank}) and B (${dept.config.rank} × ${d}) whose product, scaled by α/√r, is added to the input embeddings at each input position.`
    : `A ${methodName} adapter (Lester et al., 2021) for the frozen model \`${base}\`, saved by softprompt: a soft prompt P (${l} × ${d}) prepended to the ${seq2seq ? 'encoder ' : ''}input. The base model's weights are unchanged.`);
  out.push('');
  if (info.task !== undefined) out.push('## Training data', '', `Task: ${info.task}`, '');
  out.push('## Hyperparameters', '', ...table(hyper, ['setting', 'value']), '');
  if (info.training !== undefined && Object.keys(info.training).length > 0) out.push('## Training', '', ...table(info.training, ['setting', 'value']), '');
  if (info.metrics !== undefined && Object.keys(info.metrics).length > 0) out.push('## Results', '', ...table(info.metrics, ['metric', 'value']), '');
  else out.push('## Results', '', 'No final metrics were recorded with this adapter.', '');

  const auto = seq2seq ? 'AutoModelForSeq2SeqLM' : 'AutoModelForCausalLM';
  out.push('## Usage', '', '### Python', '');
  if (dept !== null) {
    out.push(
      `This is a \`PROMPT_TUNING_LORA\` adapter: upstream \`peft\` cannot load it. Use the DePT fork of peft (the \`peft/\` folder of https://github.com/ZhengxiangShi/DePT) on your \`PYTHONPATH\`.`,
      `The fork adds A·B for all ${dept.config.maxLength} positions, so pad every input to exactly max_length (\`padding="max_length"\`).`,
      ...(seq2seq || c.taskType === null ? [] : [
        `softprompt trained it on a decoder-only model with RIGHT padding (input \`f"{source} Label : "\`, then the label and EOS): pad on the right (\`tokenizer.padding_side = "right"\`) so that A's row i meets the i-th token as in training; the fork's own scripts pad on the left.`,
      ]),
      '',
    );
  } else {
    out.push('Load it with upstream `peft`:', '');
  }
  out.push(
    '```python',
    `from transformers import AutoTokenizer, ${auto}`,
    `from peft import PeftModel${isDept ? '  # the DePT fork, not upstream peft' : ''}`,
    '',
    `model = ${auto}.from_pretrained(${JSON.stringify(base)})`,
    `tokenizer = AutoTokenizer.from_pretrained(${JSON.stringify(c.tokenizer ?? base)})`,
    `model = PeftModel.from_pretrained(model, ${JSON.stringify(dir)})`,
    '```',
    '',
    'PEFT refuses `is_trainable=True` for prompt adapters; to continue training in Python, create a fresh adapter with `get_peft_model` and copy the saved tensors into it.',
    '',
    '### softprompt',
    '',
    '```sh',
    `softprompt predict --model ${shellWord(base)} --adapter ${shellWord(dir)} --text "…"`,
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
