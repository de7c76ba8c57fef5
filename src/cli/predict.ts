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
import { toSource, type RawInput, type SourceFormat } from '../tasks/input-format.js';
import { readRecords } from '../tasks/local.js';
import { readSavedTask, SAVED_TASK_FILE, type SavedTask } from '../tasks/saved-task.js';

export interface PredictOptions {
  adapter: string;
  model?: string;
  tokenizer?: string;
  task?: string;
  text?: string[];
  input?: string;
  /** a table (.csv / .tsv / .jsonl) with the task's columns; label columns are ignored */
  data?: string;
  raw?: boolean;
  template?: string;
  textColumn?: string;
  textPairColumn?: string;
  evalMode?: 'generate' | 'rank';
  batchSize: number;
  maxNewTokens?: number;
  maxLength?: number;
  threads?: number;
  json?: boolean;
  /** with task: its label words replaced, class by class (as train's --label-words) */
  labelWords?: string[];
}

const FROM_TASK_FILE = `default: the adapter's ${SAVED_TASK_FILE}`;

export function predictCommand(): Command {
  return new Command('predict')
    .summary('predict labels / text for new inputs')
    .description('Run a model with an adapter on texts and print one prediction per line. '
      + `The task's input format (template, columns), label words, eval mode and max length come from the adapter's `
      + `${SAVED_TASK_FILE} (written by train); flags override them. Raw text gets the task's input format (SST-2: `
      + '"sentence: <text>"; a local task: its template); two-field tasks such as RTE take the fields separated by a '
      + 'tab, or a JSON object {"sentence1": …, "sentence2": …} (also as --text). Text that already starts with the '
      + 'task\'s first prefix is sent as is, and so is everything with --raw.')
    .requiredOption('--adapter <dir>', 'adapter folder')
    .option('--model <dir>', 'base model folder (default: the adapter\'s base_model_name_or_path, if it is a folder here)')
    .option('--tokenizer <path>', 'tokenizer folder or file (default: the model folder, else the adapter\'s tokenizer path)')
    .option(REVISION_FLAG, REVISION_HELP)
    .option('--task <name>', `task whose input format and label words to use (see \`softprompt tasks\`) (${FROM_TASK_FILE})`)
    .option('--label-words <words>', 'the targets of the classes, comma-separated in class order (as given to train)', labelWordsArg)
    .option('--text <text>', 'an input text (or a JSON object of fields); repeat for more', collect)
    .option('--input <file>', 'inputs, one per line: .jsonl (JSON strings or objects), .txt (plain lines), or - for stdin')
    .option('--data <file>', 'a table of inputs: .csv / .tsv / .jsonl with the task\'s columns (a label column is ignored)')
    .option('--raw', 'send texts as given, without the task\'s input format')
    .option('--template <text>', `input format with {field} placeholders, e.g. "review: {text}" (local tasks; ${FROM_TASK_FILE})`)
    .option('--text-column <name>', `--data of a local task: the column {text} reads (${FROM_TASK_FILE}, else "text")`)
    .option('--text-pair-column <name>', `--data of a local task: the column {text_pair} reads (${FROM_TASK_FILE})`)
    .addOption(new Option('--eval-mode <mode>', `generate (greedy decoding) | rank (likeliest label word) (${FROM_TASK_FILE}, else generate)`).argParser(choiceArg(EVAL_MODE_CHOICES, 'generate, rank')))
    .option('--batch-size <n>', 'inputs per batch', intArg, 32)
    .option('--max-new-tokens <n>', `generation length limit (${FROM_TASK_FILE}, else 20)`, intArg)
    .option('--max-length <n>', `truncate inputs to n tokens (${FROM_TASK_FILE}, else 256; an adapter with its own limit, e.g. DePT's s, caps it)`, intArg)
    .option('--threads <n>', 'compute threads (0: one per core)', intArg)
    .option('--json', 'print JSON lines {"input", "source", "prediction"}')
    .addHelpText('after', `
Examples:
  $ softprompt predict --adapter runs/quickstart/adapter --text "a gorgeous, witty, seductive movie." --text "this movie is dull."
  $ softprompt predict --adapter runs/local-dept/adapter --data new-reviews.csv --json
  $ softprompt predict --adapter runs/rte/adapter --text '{"sentence1": "A man sleeps.", "sentence2": "A person rests."}'
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

/** --text "…" as given, or the fields of a JSON object when it is one (`{"sentence1": …, "sentence2": …}`). */
function textInput(text: string): RawInput {
  if (!text.trimStart().startsWith('{')) return { text };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { text };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { text };
  const fields = Object.fromEntries(Object.entries(v).flatMap(([k, x]) => (typeof x === 'string' || typeof x === 'number' ? [[k, String(x)]] : [])));
  return { fields };
}

function readInputs(o: PredictOptions, local: SavedTask | null): Item[] {
  const items: Item[] = (o.text ?? []).map((text, i) => ({ input: textInput(text), where: `--text ${i + 1}` }));
  if (o.data !== undefined) {
    // a local task's template reads {text} / {text_pair} from its columns, any other {name} from that column
    const textColumn = o.textColumn ?? local?.textColumn ?? 'text';
    const pairColumn = o.textPairColumn ?? local?.textPairColumn ?? undefined;
    for (const r of readRecords(o.data)) {
      const f = { ...r.fields };
      if (f[textColumn] !== undefined) f['text'] = f[textColumn]!;
      if (pairColumn !== undefined && f[pairColumn] !== undefined) f['text_pair'] = f[pairColumn]!;
      items.push({ input: { fields: f }, where: r.where });
    }
  }
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
  if (o.text === undefined && o.input === undefined && o.data === undefined) {
    throw usageError('predict needs inputs: --text "…" (repeatable), --input file.jsonl (or - for stdin), or --data table.csv.', { path: '--text' });
  }
  if (o.batchSize < 1) throw usageError(`--batch-size must be at least 1, got ${o.batchSize}.`, { path: '--batch-size' });
  if (o.maxNewTokens !== undefined && o.maxNewTokens < 1) throw usageError(`--max-new-tokens must be at least 1, got ${o.maxNewTokens}.`, { path: '--max-new-tokens' });
  const saved = readSavedTask(o.adapter);
  const taskName = o.task ?? saved?.task;
  // the saved format applies unless --task names another task
  const own = saved !== null && (o.task === undefined || o.task === saved.task || (o.task !== 'local' && saved.task !== 'local' && getTask(o.task).name === getTask(saved.task).name)) ? saved : null;
  const named: TaskSpec | undefined = taskName === undefined || taskName === 'local' ? undefined : getTask(taskName);
  const words = o.labelWords ?? own?.labelWords ?? undefined;
  const task = named !== undefined && words !== undefined && !sameWords(words, named.labelWords) ? withLabelWords(named, words) : named;
  const evalMode = o.evalMode ?? own?.evalMode ?? 'generate';
  // rank mode picks among label words: the task's (relabelled by --label-words), or the local task's words
  const rankWords = task?.labelWords ?? (task === undefined ? words ?? null : null);
  if (evalMode === 'rank' && rankWords === null) {
    const why = task !== undefined ? `${task.name} has none` : taskName === 'local'
      ? `the adapter has no ${SAVED_TASK_FILE} listing them; give --label-words` : 'give --task, or --label-words';
    throw usageError(`--eval-mode rank picks among label words; ${why}.`, { path: '--eval-mode' });
  }
  const local = taskName === 'local' ? own : null;
  const items = readInputs(o, local);
  if (items.length === 0) throw usageError(`No inputs: ${o.input ?? o.data} has no non-empty lines.`, { path: o.data !== undefined ? '--data' : '--input' });
  const template = o.template ?? local?.template ?? undefined;
  const fmt: SourceFormat = { ...(task !== undefined ? { task: task.name } : {}), ...(template !== undefined ? { template } : {}), raw: o.raw === true };
  const sources = items.map((it) => toSource(it.input, fmt, it.where));

  const inf = loadInference({ adapter: o.adapter, model: o.model, tokenizer: o.tokenizer, threads: o.threads, maxLength: o.maxLength });
  const encoded = encodeSources(inf.lm.kind, inf.tok, sources, inf.maxLength);
  const opts = { batchSize: o.batchSize, maxNewTokens: o.maxNewTokens ?? own?.maxNewTokens ?? 20, maxLength: inf.maxLength };
  const method = inf.adapter.method;
  const preds = withMethod(inf.model, method, () => predictAny(inf.lm, method, inf.tok, encoded, evalMode === 'rank' ? rankWords : null, opts));
  for (let i = 0; i < preds.length; i++) {
    const it = items[i]!;
    const input = 'text' in it.input ? it.input.text : 'source' in it.input ? it.input.source : it.input.fields;
    process.stdout.write(o.json === true ? JSON.stringify({ input, source: sources[i], prediction: preds[i] }) + '\n' : `${preds[i]}\n`);
  }
  return preds;
}

function sameWords(a: readonly string[], b: readonly string[] | null): boolean {
  return b !== null && a.length === b.length && a.every((w, i) => w === b[i]);
}
