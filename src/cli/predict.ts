/**
 * `softprompt predict`: texts in, one prediction per line out. Inputs are batched (--batch-size); with right
 * padding and masked pads a batched prediction equals the one-at-a-time prediction.
 */
import fs from 'node:fs';
import { Command, Option } from 'commander';
import { SoftpromptError } from '../errors.js';
import { getTask } from '../tasks/registry.js';
import type { TaskSpec } from '../tasks/types.js';
import { encodeSources, predictAny, withMethod } from '../predict/index.js';
import { usageError } from './errors.js';
import { REVISION_FLAG, REVISION_HELP, resolveHubFlags } from './hub-paths.js';
import { loadInference } from './load.js';
import { choiceArg, collect, EVAL_MODE_CHOICES, intArg, labelWordsArg } from './options.js';
import { withLabelWords } from '../tasks/label-words.js';
import { toSource, type RawInput } from '../tasks/input-format.js';

export interface PredictOptions {
  adapter: string;
  model?: string;
  tokenizer?: string;
  task?: string;
  text?: string[];
  input?: string;
  raw?: boolean;
  template?: string;
  evalMode: 'generate' | 'rank';
  batchSize: number;
  maxNewTokens: number;
  maxLength?: number;
  threads?: number;
  json?: boolean;
  /** with task: its label words replaced, class by class (as train's --label-words) */
  labelWords?: string[];
}

export function predictCommand(): Command {
  return new Command('predict')
    .summary('predict labels / text for new inputs')
    .description('Run a model with an adapter on texts and print one prediction per line.\n'
      + 'With --task, raw text gets the task\'s input format (SST-2: "sentence: <text>"; two-field tasks such as RTE:\n'
      + 'the fields separated by a tab, or a JSON object {"sentence1": …, "sentence2": …}). Text that already starts\n'
      + 'with the task\'s first prefix is sent as is, and so is everything with --raw.')
    .requiredOption('--adapter <dir>', 'adapter folder')
    .option('--model <dir>', 'base model folder (default: the adapter\'s base_model_name_or_path, if it is a folder here)')
    .option('--tokenizer <path>', 'tokenizer folder or file (default: the model folder, else the adapter\'s tokenizer path)')
    .option(REVISION_FLAG, REVISION_HELP)
    .option('--task <name>', 'task whose input format and label words to use (see `softprompt tasks`)')
    .option('--label-words <words>', 'with --task: the targets of its classes, comma-separated in class order (as given to train)', labelWordsArg)
    .option('--text <text>', 'an input text; repeat for more', collect)
    .option('--input <file>', 'inputs, one per line: .jsonl (JSON strings or objects), .txt (plain lines), or - for stdin')
    .option('--raw', 'send texts as given, without the task\'s input format')
    .option('--template <text>', 'input format with {field} placeholders, e.g. "review: {text}" (for local-task adapters)')
    .addOption(new Option('--eval-mode <mode>', 'generate (greedy decoding) | rank (likeliest label word; needs --task)').default('generate').argParser(choiceArg(EVAL_MODE_CHOICES, 'generate, rank')))
    .option('--batch-size <n>', 'inputs per batch', intArg, 32)
    .option('--max-new-tokens <n>', 'generation length limit', intArg, 20)
    .option('--max-length <n>', 'truncate inputs to n tokens (default 256, as serve; an adapter with its own limit, e.g. DePT\'s s, caps it)', intArg)
    .option('--threads <n>', 'compute threads (0: one per core)', intArg)
    .option('--json', 'print JSON lines {"input", "source", "prediction"}')
    .addHelpText('after', `
Examples:
  $ softprompt predict --adapter runs/quickstart/adapter --model test/fixtures/t5-tiny \\
      --tokenizer test/fixtures/tokenizers/t5 --task sst2 --eval-mode rank \\
      --text "a gorgeous, witty, seductive movie." --text "this movie is dull."
  $ softprompt predict --adapter runs/rte/adapter --model ./t5-base --task rte --input pairs.jsonl --json
  $ cat reviews.txt | softprompt predict --adapter runs/sst2-dept/adapter --model ./t5-base --task sst2 --input -
`)
    .action(async (o: PredictOptions) => { runPredict(await resolveHubFlags(o)); });
}

interface Item {
  input: RawInput;
  where: string;
}

function parseLine(line: string, where: string, strict: boolean): RawInput {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    if (!strict) return { text: line };
    throw new SoftpromptError('malformed_file', `${where} is not valid JSON: ${(err as Error).message}.`, {
      hint: 'each line of a .jsonl input is a JSON string or object; use a .txt file for plain lines.', cause: err,
    });
  }
  if (typeof v === 'string') return { text: v };
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if (typeof o['source'] === 'string') return { source: o['source'] };
    const fields = Object.fromEntries(Object.entries(o).flatMap(([k, x]) => (typeof x === 'string' || typeof x === 'number' ? [[k, String(x)]] : [])));
    if (typeof o['text'] === 'string' && typeof o['text_pair'] === 'string') return { text: `${o['text']}\t${o['text_pair']}` };
    if (typeof o['text'] === 'string' && Object.keys(fields).length === 1) return { text: o['text'] };
    return { fields };
  }
  if (!strict) return { text: line };
  throw new SoftpromptError('malformed_file', `${where} holds ${JSON.stringify(v)}; expected a JSON string or object.`);
}

function readInputs(o: PredictOptions): Item[] {
  const items: Item[] = (o.text ?? []).map((text, i) => ({ input: { text }, where: `--text ${i + 1}` }));
  if (o.input !== undefined) {
    const stdin = o.input === '-';
    let text: string;
    try {
      text = fs.readFileSync(stdin ? 0 : o.input, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new SoftpromptError('file_not_found', `Input file ${o.input} does not exist.`, { file: o.input, path: '--input' });
      if (code === 'EISDIR') throw new SoftpromptError('file_not_found', `Input ${o.input} is a folder, expected a .jsonl or .txt file.`, { file: o.input, path: '--input' });
      throw err;
    }
    const plain = !stdin && o.input.endsWith('.txt');
    const name = stdin ? 'stdin' : o.input;
    text.split(/\r?\n/).forEach((line, i) => {
      if (line.trim() === '') return;
      const where = `${name}:${i + 1}`;
      items.push({ input: plain ? { text: line } : parseLine(line, where, !stdin), where });
    });
  }
  return items;
}

export function runPredict(o: PredictOptions): string[] {
  if (o.text === undefined && o.input === undefined) {
    throw usageError('predict needs inputs: --text "…" (repeatable) or --input file.jsonl (or - for stdin).', { path: '--text' });
  }
  if (o.batchSize < 1) throw usageError(`--batch-size must be at least 1, got ${o.batchSize}.`, { path: '--batch-size' });
  if (o.maxNewTokens < 1) throw usageError(`--max-new-tokens must be at least 1, got ${o.maxNewTokens}.`, { path: '--max-new-tokens' });
  const named: TaskSpec | undefined = o.task === undefined || o.task === 'local' ? undefined : getTask(o.task);
  const task = named !== undefined && o.labelWords !== undefined ? withLabelWords(named, o.labelWords) : named;
  // rank mode picks among label words: the task's (relabelled by --label-words), or --label-words alone (local data)
  const rankWords = task?.labelWords ?? (task === undefined ? o.labelWords ?? null : null);
  if (o.evalMode === 'rank' && rankWords === null) {
    throw usageError(`--eval-mode rank picks among label words; ${task === undefined ? 'give --task, or --label-words' : `${task.name} has none`}.`, { path: '--eval-mode' });
  }
  const items = readInputs(o);
  if (items.length === 0) throw usageError(`No inputs: ${o.input} has no non-empty lines.`, { path: '--input' });
  const fmt = { ...(task !== undefined ? { task: task.name } : {}), ...(o.template !== undefined ? { template: o.template } : {}), raw: o.raw === true };
  const sources = items.map((it) => toSource(it.input, fmt, it.where));

  const inf = loadInference({ adapter: o.adapter, model: o.model, tokenizer: o.tokenizer, threads: o.threads, maxLength: o.maxLength });
  const encoded = encodeSources(inf.lm.kind, inf.tok, sources, inf.maxLength);
  const opts = { batchSize: o.batchSize, maxNewTokens: o.maxNewTokens, maxLength: inf.maxLength };
  const method = inf.adapter.method;
  const preds = withMethod(inf.model, method, () => predictAny(inf.lm, method, inf.tok, encoded, o.evalMode === 'rank' ? rankWords : null, opts));
  for (let i = 0; i < preds.length; i++) {
    const it = items[i]!;
    const input = 'text' in it.input ? it.input.text : 'source' in it.input ? it.input.source : it.input.fields;
    process.stdout.write(o.json === true ? JSON.stringify({ input, source: sources[i], prediction: preds[i] }) + '\n' : `${preds[i]}\n`);
  }
  return preds;
}
