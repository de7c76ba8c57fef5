/**
 * Paths of the bundled files the CLI uses, from the package root (io/package-root.ts): the quickstart
 * (examples/quickstart.json) and its model, whatever the current directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../io/package-root.js';

export { packageRoot };

export function packageVersion(): string {
  const json = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown };
  return typeof json.version === 'string' ? json.version : '0.0.0';
}

/** The config `softprompt train` uses when neither --model nor --config is given. */
export function quickstartConfigPath(): string {
  return path.join(packageRoot(), 'examples', 'quickstart.json');
}

/** The bundled random-weight test model (its training numbers mean nothing). */
export function bundledTinyModel(): string {
  return path.join(packageRoot(), 'test', 'fixtures', 't5-tiny');
}

/** The bundled default model, pretrained by `softprompt pretrain` (models/t5-mini/README.md). */
export function bundledDefaultModel(): string {
  return path.join(packageRoot(), 'models', 't5-mini');
}

export function samePath(a: string, b: string): boolean {
  const real = (p: string): string => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  return real(a) === real(b);
}

/** `p` relative to the current directory when that is shorter (for printing). */
/**
 * How to invoke this CLI in printed advice: `softprompt` when it was started through the installed bin (npm link,
 * npm install -g), otherwise `node <path to bin/softprompt.js>` so the printed line works as is.
 */
export function selfCommand(): string[] {
  const script = process.argv[1] ?? '';
  if (path.basename(script) === 'softprompt') return ['softprompt'];
  return ['node', displayPath(path.resolve(script))];
}

/** One shell word: as is when it needs no quoting, else single-quoted (for the command lines the CLI prints). */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) && rel.length < p.length ? rel : p;
}
