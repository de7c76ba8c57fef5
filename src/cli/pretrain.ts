/**
 * `softprompt pretrain`: T5 span-corruption pretraining (optionally mixed with supervised text-to-text rows) of a
 * new model initialised from a config.json, or of an existing T5 folder. Draft: the configuration, the model
 * and the data stream are built and checked; the step is the full fine-tuning method's (src/pretrain/run.ts,
 * pretrainStep), which is not in this build yet, so a training run stops with an `unsupported` error (exit 7).
 * --dry-run prints what would be trained; --init-only writes the initialised model folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { SoftpromptError } from '../errors.js';
import { parsePretrainConfig, type PretrainConfig } from '../pretrain/config.js';
import { describeModel, describePretraining, prepareModel, preparePretraining, tokenCacheDir } from '../pretrain/prepare.js';
import { runPretraining, writeInitialModel } from '../pretrain/run.js';
import { resolveTrainHubIds } from './hub-paths.js';
import { choiceArg, collect, floatArg, intArg } from './options.js';
import { displayPath, packageRoot, selfCommand, shellQuote } from './paths.js';

const HELP_AFTER = `
The corpus files are plain text (one document per line), .jsonl (--text-field, default "text") or .tsv
(--text-field names the columns). scripts/build-pretrain-corpus.ts writes span.txt and supervised.jsonl from a
folder of public text datasets (its --data; examples/pretrain/README.md lists them). Without --tokenizer, the model folder's tokenizer is used, else the bundled T5
SentencePiece tokenizer (sentinels <extra_id_k> = 32099 − k).

Examples:
  $ softprompt pretrain --model-config t5-small-config.json --corpus corpus/span.txt --output runs/t5-pre --dry-run
  $ softprompt pretrain --model-config cfg.json --output models/t5-new --init-only
  $ softprompt pretrain --model-config cfg.json --corpus corpus/span.txt --supervised corpus/supervised.jsonl \\
      --mixture-rate 0.25 --input-length 256 --batch-size 16 --steps 3000 --lr 1e-3 --output runs/t5-pre
`;

type Key = keyof PretrainConfig;
const FLAGS: readonly { key: Key; flags: string; help: string; parse?: (v: string, prev?: unknown) => unknown }[] = [
  { key: 'modelConfig', flags: '--model-config <file>', help: 'config.json of a new T5 (initialised as HF _init_weights)' },
  { key: 'model', flags: '--model <dir>', help: 'existing T5 folder to continue pretraining' },
  { key: 'tokenizer', flags: '--tokenizer <path>', help: 'T5 tokenizer folder (default: the model folder, else the bundled T5 tokenizer)' },
  { key: 'corpus', flags: '--corpus <file>', help: 'corpus file (repeatable): text, .jsonl or .tsv', parse: (v, prev) => collect(v, prev as string[] | undefined) },
  { key: 'textFields', flags: '--text-field <name>', help: 'JSONL key or TSV column to read (repeatable)', parse: (v, prev) => collect(v, prev as string[] | undefined) },
  { key: 'supervised', flags: '--supervised <file>', help: 'supervised.jsonl ({"input", "target"} rows) for the mixture' },
  { key: 'mixtureRate', flags: '--mixture-rate <x>', help: 'fraction of rows that are supervised (default 0)', parse: floatArg },
  { key: 'inputLength', flags: '--input-length <n>', help: 'encoder tokens after corruption (default 512)', parse: intArg },
  { key: 'noiseDensity', flags: '--noise-density <x>', help: 'fraction of tokens masked (default 0.15)', parse: floatArg },
  { key: 'meanNoiseSpanLength', flags: '--mean-span-length <x>', help: 'mean masked span length (default 3)', parse: floatArg },
  { key: 'batchSize', flags: '--batch-size <n>', help: 'rows per step (default 8)', parse: intArg },
  { key: 'steps', flags: '--steps <n>', help: 'optimizer steps (default 1000)', parse: intArg },
  { key: 'stopAfter', flags: '--stop-after <n>', help: 'end after step n of the --steps schedule and save the model folder (a first stage; resumable with a larger value)', parse: intArg },
  { key: 'lr', flags: '--lr <x>', help: 'peak learning rate (default 1e-3)', parse: floatArg },
  { key: 'schedule', flags: '--schedule <kind>', help: 'linear | constant after warmup (default linear)', parse: choiceArg({ linear: 'linear', constant: 'constant' }, 'linear, constant') },
  { key: 'warmupSteps', flags: '--warmup-steps <n>', help: 'linear warmup steps (default 100)', parse: intArg },
  { key: 'optimizer', flags: '--optimizer <name>', help: 'adamw | adafactor (default adamw)', parse: choiceArg({ adamw: 'adamw', adafactor: 'adafactor' }, 'adamw, adafactor') },
  { key: 'weightDecay', flags: '--weight-decay <x>', help: 'weight decay (default 0)', parse: floatArg },
  { key: 'maxGradNorm', flags: '--max-grad-norm <x>', help: 'global gradient-norm clip, 0: none (default 1)', parse: floatArg },
  { key: 'dropout', flags: '--dropout <x>', help: 'dropout rate while pretraining (default: config.json\'s)', parse: floatArg },
  { key: 'seed', flags: '--seed <n>', help: 'seed of init, data order, noise masks and mixture (default 42)', parse: intArg },
  { key: 'output', flags: '--output <dir>', help: 'run folder: the model (config.json, bf16 shards, tokenizer), checkpoints, metrics' },
  { key: 'maxShardMb', flags: '--max-shard-mb <x>', help: 'largest weights file in MB (10^6 bytes) (default 8)', parse: floatArg },
  { key: 'saveEvery', flags: '--save-every <n>', help: 'checkpoint every n steps (default: the last step only)', parse: intArg },
  { key: 'saveEveryMinutes', flags: '--save-every-minutes <m>', help: 'also checkpoint when m minutes passed since the last one (default 5; 0: off)', parse: floatArg },
  { key: 'threads', flags: '--threads <n>', help: 'engine threads, 0 = one per core', parse: intArg },
  { key: 'precision', flags: '--precision <p>', help: 'fp32 | bf16: mixed precision, fp32 master weights and optimizer state, every GEMM (forward, input and weight gradients) on bf16 operands with fp32 accumulation (oneDNN; fp32 with a notice on CPUs without bf16) (default fp32)', parse: choiceArg({ fp32: 'fp32', bf16: 'bf16' } as const, 'fp32, bf16') },
  { key: 'resume', flags: '--resume', help: 'continue the run in --output' },
  { key: 'quiet', flags: '--quiet', help: 'no progress output' },
];


/** Flags over the --config file; keys the user did not give are left to the schema's defaults. */
export function resolvePretrainConfig(flags: Record<string, unknown>, configFile?: string): PretrainConfig {
  let fromFile: Record<string, unknown> = {};
  if (configFile !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(configFile, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new SoftpromptError('file_not_found', `Config file ${configFile} does not exist.`, { file: configFile });
      throw new SoftpromptError('malformed_file', `Config file ${configFile} is not valid JSON: ${(err as Error).message}.`, { file: configFile });
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new SoftpromptError('malformed_file', `Config file ${configFile} is not a JSON object.`, { file: configFile });
    fromFile = Object.fromEntries(Object.entries(json).filter(([k]) => !k.startsWith('//') && !k.startsWith('$')));
  }
  return parsePretrainConfig({ ...fromFile, ...flags }, configFile);
}

export function pretrainCommand(): Command {
  const cmd = new Command('pretrain')
    .summary('pretrain a T5 with span corruption (optionally mixed with supervised rows)')
    .description('T5 span-corruption pretraining (HF run_t5_mlm_flax.py objective), optionally mixed with supervised text-to-text rows,\nof a new model (--model-config) or an existing one (--model). Every option is also a key of the --config file.')
    .option('--config <file>', 'JSON file of pretraining options (flags override it)')
    .option('--dry-run', 'build and check the model config, tokenizer and data stream, print the plan, and stop')
    .option('--init-only', 'write the initialised model (config.json, bf16 shards, tokenizer) to --output and stop');
  for (const f of FLAGS) {
    const opt = new Option(f.flags, f.help);
    if (f.parse !== undefined) opt.argParser(f.parse as (v: string, p: unknown) => unknown);
    cmd.addOption(opt);
  }
  cmd.addHelpText('after', HELP_AFTER);
  cmd.action(async (opts: Record<string, unknown>) => {
    const flags: Record<string, unknown> = {};
    for (const f of FLAGS) if (opts[f.key] !== undefined) flags[f.key] = opts[f.key];
    const cfg = await resolveTrainHubIds(resolvePretrainConfig(flags, typeof opts['config'] === 'string' ? opts['config'] : undefined));
    runPretrainCommand(cfg, { dryRun: opts['dryRun'] === true, initOnly: opts['initOnly'] === true });
  });
  return cmd;
}

export function runPretrainCommand(cfg: PretrainConfig, mode: { dryRun: boolean; initOnly: boolean }, out: (line: string) => void = (l) => process.stdout.write(l + '\n')): void {
  const bundledTokenizer = path.join(packageRoot(), 'test', 'fixtures', 'tokenizers', 't5');
  if (mode.initOnly) {
    const model = prepareModel(cfg, bundledTokenizer);
    for (const line of describeModel(cfg, model)) out(line);
    const { files, oversized } = writeInitialModel(cfg, model);
    out(`wrote ${displayPath(cfg.output)}: ${files.join(', ')}`);
    if (oversized.length > 0) out(`note: ${oversized.join(', ')} exceed${oversized.length === 1 ? 's' : ''} --max-shard-mb on ${oversized.length === 1 ? 'its' : 'their'} own and got a shard each (a tensor cannot be split across shards)`);
    return;
  }
  // a dry run writes nothing; a training run keeps the tokenized corpus in <output>/cache for its resumes
  const prepared = preparePretraining(cfg, bundledTokenizer, mode.dryRun ? {} : { cacheDir: tokenCacheDir(cfg) });
  for (const line of describePretraining(cfg, prepared)) out(line);
  if (mode.dryRun) return;
  const resumeHint = [...selfCommand(), ...process.argv.slice(2).filter((a) => a !== '--resume'), '--resume'].map(shellQuote).join(' ');
  const r = runPretraining(cfg, prepared, cfg.quiet ? () => {} : (l) => process.stderr.write(l + '\n'), { resumeHint, ...(cfg.stopAfter !== undefined ? { stopAtStep: cfg.stopAfter } : {}) });
  if (r.interrupted && r.modelFiles.length === 0) {
    throw new SoftpromptError('interrupted', `Pretraining stopped after step ${r.steps} of ${cfg.steps}; the checkpoint is saved in ${displayPath(cfg.output)}.`, { hint: `continue with: ${resumeHint}` });
  }
  out(`Pretrained ${r.steps} steps in ${(r.seconds / 60).toFixed(1)} min (${Math.round(r.tokens / r.seconds)} input tokens/s): loss ${r.firstLoss.toFixed(3)} (step 1) → ${r.lastLoss.toFixed(3)} (last step).`);
  out(`Model folder ${displayPath(cfg.output)}/: ${r.modelFiles.join(', ')}; metrics.jsonl, loss.svg and report.html beside it.`);
}

