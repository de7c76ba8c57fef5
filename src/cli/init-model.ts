/**
 * `softprompt init-model`: a small random GPT-2 or LLaMA sized to a real tokenizer (by default the bundled one),
 * so decoder-only training can be tried with no download. See src/pretrain/causal-init.ts.
 */
import path from 'node:path';
import { Command, Option } from 'commander';
import { initCausalModel, type CausalFamily } from '../pretrain/causal-init.js';
import { choiceArg, intArg } from './options.js';
import { displayPath, packageRoot, selfCommand, shellQuote } from './paths.js';

/** The tokenizers shipped in test/fixtures/tokenizers, one per family. */
export function bundledTokenizer(family: CausalFamily): string {
  return path.join(packageRoot(), 'test', 'fixtures', 'tokenizers', family === 'gpt2' ? 'gpt2' : 'llama2');
}

interface InitModelOptions {
  family: CausalFamily;
  tokenizer?: string;
  output: string;
  seed: number;
  hidden?: number;
  layers?: number;
  heads?: number;
  positions?: number;
}

export function initModelCommand(): Command {
  return new Command('init-model')
    .summary('write a small random GPT-2 or LLaMA for a real tokenizer (to try decoder-only training)')
    .description('Write a Hugging Face model folder (config.json, model.safetensors, the tokenizer files) holding a small\n'
      + 'GPT-2 or LLaMA with seeded RANDOM weights and the vocabulary of a real tokenizer (default: the bundled GPT-2\n'
      + '50,257-token / LLaMA-2 32,000-token tokenizer). Training on it shows the loop runs; its accuracy means nothing.')
    .addOption(new Option('--family <name>', 'gpt2 | llama').makeOptionMandatory().argParser(choiceArg({ gpt2: 'gpt2', llama: 'llama' } as const, 'gpt2, llama')))
    .requiredOption('--output <dir>', 'new model folder (must not exist, or be empty)')
    .option('--tokenizer <path>', 'tokenizer folder or file whose vocabulary sizes the model (default: the bundled one of the family)')
    .option('--seed <n>', 'seed of the random weights', intArg, 1234)
    .option('--hidden <n>', 'width C (n_embd / hidden_size)', intArg, 32)
    .option('--layers <n>', 'blocks', intArg, 2)
    .option('--heads <n>', 'attention heads', intArg, 4)
    .option('--positions <n>', 'longest input (GPT-2 default 128, LLaMA 256)', intArg)
    .addHelpText('after', `
Examples:
  $ softprompt init-model --family gpt2 --output models/gpt2-random
  $ softprompt train --model models/gpt2-random --task sst2 --method pt --steps 50 --max-length 64
  $ softprompt init-model --family llama --output models/llama-random --hidden 64 --layers 2
`)
    .action((o: InitModelOptions) => { runInitModel(o); });
}

export function runInitModel(o: InitModelOptions, out: (line: string) => void = (l) => process.stdout.write(l + '\n')): void {
  const tokenizer = o.tokenizer ?? bundledTokenizer(o.family);
  const r = initCausalModel({
    family: o.family, tokenizer, output: o.output, seed: o.seed,
    ...(o.hidden !== undefined ? { hidden: o.hidden } : {}), ...(o.layers !== undefined ? { layers: o.layers } : {}),
    ...(o.heads !== undefined ? { heads: o.heads } : {}), ...(o.positions !== undefined ? { positions: o.positions } : {}),
  });
  out(`Wrote a random ${o.family} (${r.params.toLocaleString('en-US')} parameters, vocabulary ${r.vocabSize.toLocaleString('en-US')} from ${displayPath(path.resolve(tokenizer))}) to ${displayPath(path.resolve(r.output))}/: ${r.files.join(', ')}.`);
  out('Its weights are random: training on it shows the loop runs; its accuracy means nothing. Try:');
  out(`  ${[...selfCommand(), 'train', '--model', displayPath(path.resolve(r.output)), '--task', 'sst2', '--method', 'pt', '--steps', '20', '--max-length', '64', '--output', displayPath(path.resolve(r.output)) + '-run'].map(shellQuote).join(' ')}`);
}
