/**
 * Everything `softprompt pretrain` sets up before its first step, all of it checked up front so a bad file fails
 * in seconds, not after an hour: the model (a new config.json or an existing folder), a T5 tokenizer with its
 * sentinels, the packed corpus, the supervised rows and the data stream.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import { CONFIG_FILE, loadConfig, openWeights } from '../io/hf-folder.js';
import { loadTokenizerSync, SPECIAL_TOKENS_MAP, SPM_FILES, TOKENIZER_CONFIG, TOKENIZER_JSON, type Tokenizer } from '../io/tokenizer.js';
import { parseT5Config, t5TensorTable, type T5Config } from '../models/t5.js';
import { readJsonl } from '../tasks/jsonl.js';
import type { PretrainConfig } from './config.js';
import { packDocuments, readDocuments, type PackedCorpus } from './corpus.js';
import { expandedLengths, sentinelVocab, type SpanCorruptionOptions } from './span-corruption.js';
import { PretrainStream, type TokenizedExample } from './stream.js';
import { cachedCorpus, cachedSupervised, cacheKey } from './token-cache.js';
import { tokenizeSupervised, type SupervisedExample } from './supervised.js';
import { completeT5ConfigJson } from './t5-init.js';

export interface PreparedModel {
  /** The model's config.json as it will be written (new model) or as read (existing folder). */
  configJson: Record<string, unknown>;
  config: T5Config;
  /** 'new': initialised from modelConfig; 'continue': weights read from the model folder. */
  start: 'new' | 'continue';
  tokenizer: Tokenizer;
  tokenizerDir: string;
}

export interface PreparedPretraining extends PreparedModel {
  corpus: PackedCorpus;
  supervisedRows: number;
  stream: PretrainStream;
  spanOptions: SpanCorruptionOptions;
  targetsLength: number;
  /** whether the tokens came from the cache folder */
  cached: { corpus: boolean; supervised: boolean };
}

function readJsonObject(file: string, what: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new SoftpromptError('file_not_found', `${what} ${file} does not exist.`, { file });
    throw new SoftpromptError('malformed_file', `${what} ${file} is not valid JSON: ${(err as Error).message}.`, { file, cause: err });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new SoftpromptError('malformed_file', `${what} ${file} is not a JSON object.`, { file });
  return json as Record<string, unknown>;
}

export function hasTokenizer(dir: string): boolean {
  return [TOKENIZER_JSON, ...SPM_FILES].some((f) => fs.existsSync(path.join(dir, f)));
}

/** Tokenizer files a model folder carries, copied next to the weights so the folder is self-contained. */
export const TOKENIZER_FILES = [TOKENIZER_JSON, TOKENIZER_CONFIG, SPECIAL_TOKENS_MAP, ...SPM_FILES];

function readSupervised(file: string): SupervisedExample[] {
  return readJsonl(file).map(({ line, value }) => {
    const input = value['input'], target = value['target'];
    if (typeof input !== 'string' || typeof target !== 'string') {
      throw new SoftpromptError('invalid_data', `${file} line ${line}: expected string "input" and "target" fields.`, { file, path: `line ${line}` });
    }
    return { task: typeof value['task'] === 'string' ? value['task'] : '', input, target };
  });
}

/**
 * The model config and tokenizer. `defaultTokenizer`: used when neither --tokenizer nor the model folder has one
 * (the CLI passes the bundled T5 one).
 */
export function prepareModel(cfg: PretrainConfig, defaultTokenizer?: string): PreparedModel {
  let configJson: Record<string, unknown>;
  let config: T5Config;
  let modelDir: string | undefined;
  if (cfg.modelConfig !== undefined) {
    ({ config, json: configJson } = completeT5ConfigJson(readJsonObject(cfg.modelConfig, 'Model config'), cfg.modelConfig));
  } else {
    modelDir = cfg.model!;
    configJson = loadConfig(modelDir);
    config = parseT5Config(configJson, path.join(modelDir, CONFIG_FILE));
    const store = openWeights(modelDir);
    for (const { name } of t5TensorTable(config)) if (!store.has(name)) store.info(name); // missing_tensor names it
  }
  if (cfg.dropout !== undefined) configJson = { ...configJson, dropout_rate: cfg.dropout };

  const tokenizerDir = cfg.tokenizer ?? (modelDir !== undefined && hasTokenizer(modelDir) ? modelDir : defaultTokenizer);
  if (tokenizerDir === undefined) {
    throw new SoftpromptError('invalid_config', 'No tokenizer: give --tokenizer (a T5 tokenizer folder).', { path: 'config.tokenizer' });
  }
  const tokenizer = loadTokenizerSync(tokenizerDir);
  if (tokenizer.vocabSize > config.vocab_size) {
    throw new SoftpromptError('invalid_config', `The tokenizer in ${tokenizerDir} has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${config.vocab_size}.`, { path: 'vocab_size', file: tokenizerDir });
  }
  sentinelVocab(tokenizer, tokenizerDir); // a T5 tokenizer, checked before any data is read
  return { configJson, config, start: modelDir === undefined ? 'new' : 'continue', tokenizer, tokenizerDir };
}

/** Where tokenized corpora are kept between runs: the run folder's cache/. */
export function tokenCacheDir(cfg: PretrainConfig): string {
  return path.join(cfg.output, 'cache');
}

/**
 * prepareModel, then the packed corpus, the supervised rows and the stream. With `cacheDir`, tokenized corpora
 * are read from / written to it (token-cache.ts).
 */
export function preparePretraining(cfg: PretrainConfig, defaultTokenizer?: string, opts: { cacheDir?: string } = {}): PreparedPretraining {
  const model = prepareModel(cfg, defaultTokenizer);
  const { tokenizer, tokenizerDir } = model;
  if (cfg.corpus.length === 0) throw new SoftpromptError('invalid_config', 'No corpus: give at least one --corpus file.', { path: 'config.corpus' });
  const vocab = sentinelVocab(tokenizer, tokenizerDir);

  const spanOptions: SpanCorruptionOptions = { noiseDensity: cfg.noiseDensity, meanNoiseSpanLength: cfg.meanNoiseSpanLength };
  const { tokensLength, targetsLength } = expandedLengths(cfg.inputLength, spanOptions);
  const tokenizerFiles = TOKENIZER_FILES.map((f) => path.join(tokenizerDir, f));
  const corpusKey = cacheKey(['corpus', JSON.stringify(cfg.textFields ?? null), String(tokensLength), ...cfg.corpus], [...tokenizerFiles, ...cfg.corpus]);
  const { corpus, hit: corpusCached } = cachedCorpus(opts.cacheDir, corpusKey, () => packDocuments(
    cfg.corpus.flatMap((file) => readDocuments({ file, ...(cfg.textFields === undefined ? {} : { fields: cfg.textFields }) })), tokenizer, tokensLength));
  let supervised: TokenizedExample[] = [];
  let supervisedCached = false;
  if (cfg.supervised !== undefined) {
    const file = cfg.supervised;
    const key = cacheKey(['supervised', String(cfg.inputLength), file], [...tokenizerFiles, file]);
    ({ rows: supervised, hit: supervisedCached } = cachedSupervised(opts.cacheDir, key, () => tokenizeSupervised(readSupervised(file), tokenizer, cfg.inputLength)));
  }
  const stream = new PretrainStream(corpus, cfg.mixtureRate > 0 ? supervised : [], {
    seed: cfg.seed, inputLength: cfg.inputLength, vocab, padId: tokenizer.padId, mixtureRate: cfg.mixtureRate, spanOptions,
  });
  return { ...model, corpus, supervisedRows: supervised.length, stream, spanOptions, targetsLength, cached: { corpus: corpusCached, supervised: supervisedCached } };
}

/** One paragraph on what the run will see, for the CLI and the model card. */
export function describeModel(cfg: PretrainConfig, p: PreparedModel): string[] {
  const c = p.config;
  return [
    `model: ${p.start === 'new' ? `new T5 from ${cfg.modelConfig}` : `continue ${cfg.model}`} (d_model ${c.d_model}, ${c.num_layers}+${c.num_decoder_layers} layers, ${c.num_heads} heads × ${c.d_kv}, d_ff ${c.d_ff}, ${c.feed_forward_proj}, vocab ${c.vocab_size})`,
    `tokenizer: ${p.tokenizerDir} (${p.tokenizer.vocabSize} tokens, <extra_id_0> = ${p.tokenizer.vocabSize - 1})`,
  ];
}

export function describePretraining(cfg: PretrainConfig, p: PreparedPretraining): string[] {
  const spanRowsPerStep = cfg.batchSize * (1 - cfg.mixtureRate);
  return [
    ...describeModel(cfg, p),
    `corpus${p.cached.corpus ? ' (cached tokens)' : ''}: ${p.corpus.documents} documents, ${p.corpus.tokenCount} tokens → ${p.corpus.numChunks} chunks of ${p.corpus.chunkLength} (inputs ${cfg.inputLength}, targets ${p.targetsLength}; noise ${cfg.noiseDensity}, mean span ${cfg.meanNoiseSpanLength})`,
    `supervised: ${cfg.mixtureRate > 0 ? `${p.supervisedRows} rows at rate ${cfg.mixtureRate}` : 'none'}`,
    `plan: ${cfg.steps} steps × batch ${cfg.batchSize} ≈ ${(cfg.steps * spanRowsPerStep * p.corpus.chunkLength / 1e6).toFixed(2)}M corpus tokens in span rows (${(cfg.steps * spanRowsPerStep / p.corpus.numChunks).toFixed(2)} epochs of the span corpus)${cfg.mixtureRate > 0 ? ` + ${Math.round(cfg.steps * cfg.batchSize * cfg.mixtureRate)} supervised rows` : ''}`,
  ];
}
