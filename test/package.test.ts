/**
 * What `npm publish` would ship (npm pack --dry-run): the library, CLI, addon sources and the bundled quickstart
 * files, a LICENSE with the full Apache-2.0 text package.json names, and none of the compiled tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from './paths.js';

const root = repoRoot();

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? listFiles(join(dir, n)) : [join(dir, n)]));
}

test('npm pack: no test files, a full Apache-2.0 LICENSE, every compiled library file', { timeout: 120_000 }, () => {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', timeout: 110_000 });
  assert.equal(r.status, 0, r.stderr);
  const packed = new Set((JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
  const isTest = (f: string): boolean => /\.(i)?test\.|test-helpers\./.test(f);
  assert.deepEqual([...packed].filter(isTest), []);

  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { license: string };
  assert.equal(pkg.license, 'Apache-2.0');
  assert.ok(packed.has('LICENSE'));
  const license = readFileSync(join(root, 'LICENSE'), 'utf8');
  assert.match(license, /Apache License\s+Version 2\.0, January 2004/);
  for (const section of ['1. Definitions.', '4. Redistribution.', '9. Accepting Warranty or Additional Liability.', 'END OF TERMS AND CONDITIONS']) {
    assert.ok(license.includes(section), `LICENSE has "${section}"`);
  }

  for (const f of ['bin/softprompt.js', 'README.md', 'binding.gyp', 'examples/quickstart.json', 'models/t5-mini/model.safetensors.index.json', 'models/t5-mini/README.md', 'test/fixtures/t5-tiny/model.safetensors']) assert.ok(packed.has(f), f);
  const library = listFiles(join(root, 'dist', 'src')).map((f) => relative(root, f)).filter((f) => !isTest(f));
  assert.ok(library.length > 100);
  assert.deepEqual(library.filter((f) => !packed.has(f)), [], 'every compiled library file is packed');
});
