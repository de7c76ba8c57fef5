/**
 * `softprompt serve`: one frozen model, many adapters, a small JSON HTTP API (src/serve/server.ts).
 */
import { Command } from 'commander';
import { setThreads } from '../engine/index.js';
import { loadTokenizerSync } from '../io/tokenizer.js';
import { loadAdapter } from '../methods/registry.js';
import type { PeftMethod } from '../methods/method.js';
import { loadAnyModel } from '../models/registry.js';
import { createServer } from '../serve/server.js';
import { usageError } from './errors.js';
import { intArg } from './options.js';

interface ServeOptions {
  model: string;
  tokenizer?: string;
  adapter: string[];
  host: string;
  port: number;
  threads?: number;
}

/** "name=dir" or "dir" (named after its folder). */
export function parseAdapterArg(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function adapterEntries(args: readonly string[]): [string, string][] {
  const seen = new Set<string>();
  return args.map((a) => {
    const eq = a.indexOf('=');
    const dir = eq > 0 ? a.slice(eq + 1) : a;
    const name = eq > 0 ? a.slice(0, eq) : (dir.replace(/\/+$/, '').split('/').pop() ?? dir);
    if (name === '' || dir === '') throw usageError(`--adapter ${JSON.stringify(a)}: expected NAME=DIR or DIR.`, { path: '--adapter' });
    if (seen.has(name)) throw usageError(`--adapter: the name "${name}" is used twice; give NAME=DIR.`, { path: '--adapter' });
    seen.add(name);
    return [name, dir];
  });
}

export function serveCommand(): Command {
  return new Command('serve')
    .summary('serve many adapters of one frozen model over HTTP')
    .description('Load one model and several adapters, then answer JSON requests:\n'
      + '  GET /health, GET /v1/adapters, POST /v1/predict {"adapter", "inputs", "task"?, "mode"?, "labels"?}')
    .requiredOption('--model <dir>', 'Hugging Face model folder')
    .option('--tokenizer <dir>', 'tokenizer folder (default: the model folder)')
    .requiredOption('--adapter <name=dir>', 'an adapter to serve (repeatable); NAME defaults to the folder name', parseAdapterArg, [])
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port (0: any free port)', intArg, 8080)
    .option('--threads <n>', 'compute threads (0: one per core)', intArg)
    .addHelpText('after', `
Examples:
  $ softprompt serve --model ./t5-base --adapter sst2=runs/sst2-dept/adapter --adapter rte=runs/rte-dept/adapter
  $ curl -s localhost:8080/v1/predict -d '{"adapter": "sst2", "task": "sst2", "inputs": ["a gorgeous film."]}'
`)
    .action((o: ServeOptions) => runServe(o));
}

export function runServe(o: ServeOptions): Promise<void> {
  if (o.threads !== undefined && o.threads > 0) setThreads(o.threads);
  const model = loadAnyModel(o.model);
  const tokenizer = loadTokenizerSync(o.tokenizer ?? o.model);
  const adapters = new Map<string, PeftMethod>();
  for (const [name, dir] of adapterEntries(o.adapter)) adapters.set(name, loadAdapter(dir, { expectDModel: model.model.info.dModel }));
  const server = createServer({ model, modelName: o.model, tokenizer, adapters });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(o.port, o.host, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : o.port;
      process.stdout.write(`softprompt serving ${adapters.size} adapter(s) of ${o.model} on http://${o.host}:${port}\n`);
      const stop = () => server.close(() => resolve());
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  });
}
