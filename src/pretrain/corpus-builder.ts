/**
 * The pretraining corpus from the public text in a data folder laid out as ../shared/data (GLUE / SuperGLUE
 * task folders, corpora/wikitext-2, corpora/tinystories_sample.txt). Writes, into an output folder:
 *
 *   span.txt          one document per line, for span corruption
 *   supervised.jsonl  {"task", "input", "target"} rows for the optional multi-task mixture
 *   corpus.json       per source: documents, T5 tokens, license, file and sha256
 *
 * Task text is the `train` split of DePT's split protocol only (the rows held out for validation, the dev sets
 * and test sets are never read), in the form prompt tuning later sees it ("sentence1: … sentence2: …").
 * Repeated documents (MultiRC paragraphs) are written once.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import { atomicWriteFile } from '../io/atomic.js';
import type { Tokenizer } from '../io/tokenizer.js';
import { loadSplits } from '../tasks/registry.js';
import { readText } from '../tasks/read-text.js';
import { DEFAULT_SILVER, DEFAULT_STUDENT, SILVER_TASK, silverSentimentExamples, silverStudentExamples } from './silver-sentiment.js';
import { DEFAULT_SUPERVISED_TASKS, supervisedExamples, type LabelWordSet, type SupervisedExample } from './supervised.js';

export interface CorpusSource {
  /** Name used by --exclude and in corpus.json. */
  name: string;
  /** A task whose protocol train split is read (loadSplits), or a text file under the data folder. */
  task?: string;
  file?: string;
  /** 'wikitext': drop headings, undo the @-@ / @,@ / @.@ tokenization. */
  clean?: 'wikitext';
  license: string;
  origin: string;
}

export const PUBLIC_SOURCES: readonly CorpusSource[] = [
  { name: 'cola', task: 'cola', license: 'no license stated by the authors (distributed for research in GLUE)', origin: 'CoLA, Warstadt et al. 2019, via GLUE' },
  { name: 'sst2', task: 'sst2', license: 'no license stated by the authors (distributed for research in GLUE)', origin: 'SST-2, Socher et al. 2013, via GLUE (text only, never labels)' },
  { name: 'rte', task: 'rte', license: 'no license stated (PASCAL RTE 1–3, 5; distributed for research in GLUE)', origin: 'RTE via GLUE' },
  { name: 'mrpc', task: 'mrpc', license: 'Microsoft Research Paraphrase Corpus licence (research use)', origin: 'MRPC, Dolan & Brockett 2005, via GLUE' },
  { name: 'stsb', task: 'stsb', license: 'scores CC BY-SA 4.0; sentences under their sources\' licences (glue/STS-B/LICENSE.txt)', origin: 'STS Benchmark, Cer et al. 2017, via GLUE' },
  { name: 'qnli', task: 'qnli', license: 'CC BY-SA 4.0 (from SQuAD 1.1)', origin: 'QNLI, 8,999-row sample of the GLUE train split (PowerfulPromptFT)' },
  { name: 'wnli', task: 'wnli', license: 'CC BY 4.0 (Winograd Schema Challenge)', origin: 'WNLI via GLUE' },
  { name: 'qqp', task: 'qqp', license: 'Quora Question Pairs terms (non-commercial research use)', origin: 'QQP, 8,999-row sample of the GLUE train split (PowerfulPromptFT)' },
  { name: 'mnli', task: 'mnli', license: 'mixed: OANC and CC BY(-SA) 3.0 sources per the MultiNLI data description', origin: 'MNLI, 8,999-row sample of the GLUE train split (PowerfulPromptFT)' },
  { name: 'boolq', task: 'boolq', license: 'CC BY-SA 3.0', origin: 'BoolQ, FewGLUE 32-shot train (the val set is an evaluation set and is not read)' },
  { name: 'cb', task: 'cb', license: 'no license stated by the authors (SuperGLUE)', origin: 'CommitmentBank train via SuperGLUE' },
  { name: 'copa', task: 'copa', license: 'BSD 2-Clause', origin: 'COPA, FewGLUE 32-shot train' },
  { name: 'multirc', task: 'multirc', license: 'research use (MultiRC, Khashabi et al. 2018)', origin: 'MultiRC, FewGLUE 32-shot train' },
  { name: 'wic', task: 'wic', license: 'CC BY-NC 4.0', origin: 'WiC, FewGLUE 32-shot train' },
  { name: 'wsc', task: 'wsc', license: 'CC BY 4.0', origin: 'WSC train via jiant' },
  { name: 'wikitext-2-valid', file: 'corpora/wikitext-2/valid.txt', clean: 'wikitext', license: 'CC BY-SA 3.0 (Wikipedia text)', origin: 'WikiText-2 validation split, Merity et al. 2016' },
  { name: 'wikitext-2-test', file: 'corpora/wikitext-2/test.txt', clean: 'wikitext', license: 'CC BY-SA 3.0 (Wikipedia text)', origin: 'WikiText-2 test split, Merity et al. 2016' },
  { name: 'tinystories-sample', file: 'corpora/tinystories_sample.txt', license: 'CDLA-Sharing-1.0 (TinyStories, Eldan & Li 2023)', origin: 'TinyStories sample from stanford-cs336/assignment1-basics tests/fixtures' },
];

export const SPAN_FILE = 'span.txt';
export const SUPERVISED_FILE = 'supervised.jsonl';
export const SILVER_STUDENT_FILE = 'silver-student.jsonl';
export const CORPUS_MANIFEST = 'corpus.json';

/** WikiText paragraphs: headings and blank lines dropped, " @-@ " → "-", " @,@ " → ",", " @.@ " → ".". */
export function wikitextDocuments(text: string): string[] {
  return text.split('\n').map((l) => l.trim())
    .filter((l) => l !== '' && !/^=.*=$/.test(l))
    .map((l) => l.replace(/ @([-,.])@ /g, '$1'));
}

/** Text documents of one source, one line each (inner newlines and tabs become spaces). */
export function sourceDocuments(src: CorpusSource, dataDir: string): { docs: string[]; files: string[] } {
  let docs: string[];
  let files: string[];
  if (src.task !== undefined) {
    const splits = loadSplits(src.task, dataDir);
    docs = splits.train.map((e) => e.source);
    files = [splits.files.train];
  } else {
    const file = path.join(dataDir, src.file!);
    const text = readText(file);
    docs = src.clean === 'wikitext' ? wikitextDocuments(text) : text.split('<|endoftext|>'); // one story each
    files = [file];
  }
  const clean = docs.map((d) => d.replace(/\s+/g, ' ').trim()).filter((d) => d !== '');
  return { docs: [...new Set(clean)], files };
}

export interface SourceReport {
  name: string;
  documents: number;
  tokens: number;
  license: string;
  origin: string;
  files: { path: string; sha256: string }[];
  /** 'span', or 'supervised' for the mixture's rows */
  part: 'span' | 'supervised';
}

export interface BuildOptions {
  tokenizer: Tokenizer;
  /** Sources left out by name, e.g. ['sst2'] to keep SST-2's text out of the span corpus too. */
  exclude?: readonly string[];
  /** Supervised mixture tasks (default: all but SST-2); [] writes no supervised.jsonl rows. */
  supervisedTasks?: readonly string[];
  labelWords?: LabelWordSet;
  /** Add the VADER-labelled sentiment task (silver-sentiment.ts) over the span documents to the mixture. */
  silverSentiment?: boolean;
  /** Also write silver-student.jsonl: the sentiment rows of the lexicon's TF-IDF student (silverStudentExamples). */
  silverStudent?: boolean;
  /** Default PUBLIC_SOURCES. */
  sources?: readonly CorpusSource[];
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** T5 tokens of a document, EOS included (what packing will use). */
function countTokens(docs: readonly string[], tok: Tokenizer): number {
  let n = 0;
  for (const d of docs) n += tok.encode(d).length;
  return n;
}

/** T5 tokens of supervised rows, input and target. */
function exampleTokens(rows: readonly SupervisedExample[], tok: Tokenizer): number {
  let n = 0;
  for (const e of rows) n += tok.encode(e.input).length + tok.encode(e.target).length;
  return n;
}

export function buildCorpus(dataDir: string, outDir: string, opts: BuildOptions): SourceReport[] {
  if (!fs.statSync(dataDir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new SoftpromptError('file_not_found', `Data folder ${dataDir} does not exist.`, { file: dataDir, path: 'dataDir' });
  }
  const sources = opts.sources ?? PUBLIC_SOURCES;
  const exclude = new Set(opts.exclude ?? []);
  for (const e of exclude) {
    if (!sources.some((s) => s.name === e)) {
      throw new SoftpromptError('invalid_config', `Unknown corpus source "${e}"; known: ${sources.map((s) => s.name).join(', ')}.`, { path: 'exclude' });
    }
  }
  fs.mkdirSync(outDir, { recursive: true });
  const reports: SourceReport[] = [];
  const lines: string[] = [];
  for (const src of sources) {
    if (exclude.has(src.name)) continue;
    const { docs, files } = sourceDocuments(src, dataDir);
    lines.push(...docs);
    reports.push({
      name: src.name, documents: docs.length, tokens: countTokens(docs, opts.tokenizer), license: src.license, origin: src.origin,
      files: files.map((f) => ({ path: path.relative(dataDir, f), sha256: sha256(f) })), part: 'span',
    });
  }
  atomicWriteFile(path.join(outDir, SPAN_FILE), lines.join('\n') + '\n');

  const tasks = (opts.supervisedTasks ?? DEFAULT_SUPERVISED_TASKS).filter((t) => !exclude.has(t));
  const sup = supervisedExamples(dataDir, tasks, opts.labelWords ?? 't5');
  if (opts.silverSentiment === true) sup.push(...silverSentimentExamples(lines, DEFAULT_SILVER));
  atomicWriteFile(path.join(outDir, SUPERVISED_FILE), sup.map((e) => JSON.stringify(e)).join('\n') + (sup.length > 0 ? '\n' : ''));
  for (const task of tasks) {
    const rows = sup.filter((e) => e.task === task);
    const src = PUBLIC_SOURCES.find((s) => s.task === task);
    reports.push({
      name: `${task} (supervised)`, documents: rows.length,
      tokens: exampleTokens(rows, opts.tokenizer),
      license: src?.license ?? 'see the task data', origin: src?.origin ?? task, files: [], part: 'supervised',
    });
  }
  if (opts.silverSentiment === true) {
    const rows = sup.filter((e) => e.task === SILVER_TASK);
    reports.push({
      name: `${SILVER_TASK} (supervised)`, documents: rows.length,
      tokens: exampleTokens(rows, opts.tokenizer),
      license: 'sentences under their sources\' licences above; labels from the VADER lexicon (MIT) via vader-sentiment (Apache-2.0)',
      origin: `span-corpus sentences with |VADER compound| ≥ ${DEFAULT_SILVER.threshold}, classes balanced; no dataset labels`, files: [], part: 'supervised',
    });
  }
  if (opts.silverStudent === true) {
    const rows = silverStudentExamples(lines, DEFAULT_SILVER, DEFAULT_STUDENT);
    atomicWriteFile(path.join(outDir, SILVER_STUDENT_FILE), rows.map((e) => JSON.stringify(e)).join('\n') + '\n');
    reports.push({
      name: `${SILVER_TASK} student (${SILVER_STUDENT_FILE})`, documents: rows.length,
      tokens: exampleTokens(rows, opts.tokenizer),
      license: 'sentences under their sources\' licences above; labels from a TF-IDF student of four lexicons (VADER, AFINN-165, wink, Pattern; data/lexicons)',
      origin: `the top and bottom ${DEFAULT_STUDENT.keep * 100} % of all span-corpus sentences ranked by a logistic regression fitted on the sentences the lexicons agree on; no dataset labels`,
      files: [], part: 'supervised',
    });
  }
  atomicWriteFile(path.join(outDir, CORPUS_MANIFEST), JSON.stringify({
    dataDir: path.resolve(dataDir), labelWords: opts.labelWords ?? 't5', silverSentiment: opts.silverSentiment === true, silverStudent: opts.silverStudent === true, excluded: [...exclude], sources: reports,
    spanTokens: reports.filter((r) => r.part === 'span').reduce((a, r) => a + r.tokens, 0),
    supervisedTokens: reports.filter((r) => r.part === 'supervised').reduce((a, r) => a + r.tokens, 0),
  }, null, 2) + '\n');
  return reports;
}
