/**
 * Import boundaries, read from the TypeScript sources:
 *  - nothing outside src/methods/ imports a method folder (src/methods/<method>/) or names a concrete method
 *    class: training, eval, predict, serve, inspect and the model card go through src/methods/registry.ts
 *    (src/index.ts, the public surface, may re-export the classes for library users);
 *  - serve (and the prediction seam it uses) never reaches src/train/, directly or through another module.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { repoRoot } from '../test/paths.js';

const SRC = path.join(repoRoot(), 'src');

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Relative import / export-from specifiers of a file, resolved to .ts paths. */
function imports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"](\.[^'"]+)['"]/g)) {
    out.push(path.resolve(path.dirname(file), m[1]!).replace(/\.js$/, '.ts'));
  }
  for (const m of text.matchAll(/import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) out.push(path.resolve(path.dirname(file), m[1]!).replace(/\.js$/, '.ts'));
  return out;
}

const METHODS = path.join(SRC, 'methods');
const methodFolders = fs.readdirSync(METHODS, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(METHODS, e.name));
/** `export class X` in a method folder: the concrete classes. */
const concreteClasses = methodFolders.flatMap((d) => tsFiles(d).flatMap((f) => [...fs.readFileSync(f, 'utf8').matchAll(/export class (\w+)/g)].map((m) => m[1]!)));
const outside = tsFiles(SRC).filter((f) => !f.startsWith(METHODS + path.sep) && f !== path.join(SRC, 'index.ts') && f !== path.join(SRC, 'imports.test.ts'));

describe('the method seam', () => {
  test('the scan sees the method folders and their classes', () => {
    assert.ok(methodFolders.length >= 2, methodFolders.join(', '));
    for (const c of ['Dept', 'PromptTuning']) assert.ok(concreteClasses.includes(c), `${c} in ${concreteClasses.join(', ')}`);
    assert.ok(outside.some((f) => f.endsWith(path.join('train', 'run.ts'))) && outside.some((f) => f.endsWith(path.join('serve', 'server.ts'))));
  });

  test('no file outside src/methods/ imports a method folder', () => {
    const bad = outside.flatMap((f) => imports(f).filter((i) => methodFolders.some((d) => i.startsWith(d + path.sep))).map((i) => `${path.relative(SRC, f)} → ${path.relative(SRC, i)}`));
    assert.deepEqual(bad, []);
  });

  test('no file outside src/methods/ names a concrete method class', () => {
    const named = new RegExp(`\\b(${concreteClasses.join('|')})\\b`);
    const bad = outside.filter((f) => named.test(fs.readFileSync(f, 'utf8'))).map((f) => `${path.relative(SRC, f)}: ${named.exec(fs.readFileSync(f, 'utf8'))![1]}`);
    assert.deepEqual(bad, []);
  });
});

describe('serve never imports train', () => {
  /** Every .ts file reachable from `entry` by relative imports. */
  function reachable(entry: string): Set<string> {
    const seen = new Set<string>();
    const stack = [entry];
    while (stack.length > 0) {
      const f = stack.pop()!;
      if (seen.has(f) || !fs.existsSync(f)) continue;
      seen.add(f);
      stack.push(...imports(f));
    }
    return seen;
  }

  for (const entry of ['serve/server.ts', 'cli/serve.ts', 'predict/index.ts']) {
    test(`${entry} reaches no module in src/train/`, () => {
      const all = reachable(path.join(SRC, entry));
      assert.ok(all.size > 5, `the walk found ${all.size} modules`);
      const train = [...all].filter((f) => f.startsWith(path.join(SRC, 'train') + path.sep)).map((f) => path.relative(SRC, f));
      assert.deepEqual(train, []);
    });
  }

  test('the walk does see train/ where it is imported (train/run.ts from cli/train.ts)', () => {
    const all = reachable(path.join(SRC, 'cli', 'train.ts'));
    assert.ok([...all].some((f) => f.endsWith(path.join('train', 'run.ts'))));
  });
});
