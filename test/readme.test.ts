/**
 * The README's library example runs as written: the ```ts block of "## Library" is copied into a file inside this
 * package (so `from 'softprompt'` resolves to the package itself, as it does for a user who installed it),
 * type-checked with the project's compiler settings, and run with tsx from the repository root, as the README says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { repoRoot } from './paths.js';

const root = repoRoot();

/** The ```ts code blocks of one README section. */
function codeBlocks(section: string): string[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n## ${section}\n`);
  assert.ok(start >= 0, `README has a "## ${section}" section`);
  const end = readme.indexOf('\n## ', start + 1);
  const body = readme.slice(start, end < 0 ? undefined : end);
  return [...body.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

function typeErrors(file: string): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  assert.ok(config);
  const program = ts.createProgram([file], { ...config.options, noEmit: true });
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

test('README "Library": the example type-checks and runs as written against the bundled tiny T5', { timeout: 180_000 }, () => {
  const blocks = codeBlocks('Library');
  assert.equal(blocks.length, 1);
  const dir = join(root, 'dist', `.readme-example-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    const file = join(dir, 'step.ts');
    writeFileSync(file, blocks[0]!);
    assert.deepEqual(typeErrors(file), []);
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `exit ${r.status}\n${r.stderr}`);
    const m = /^loss (\d+\.\d+) → (\d+\.\d+) after one step\n$/.exec(r.stdout);
    assert.ok(m, `printed: ${r.stdout}`);
    // the random tiny T5 starts near ln(vocab) = ln(32128) ≈ 10.4 nats; one SGD step on the prompt lowers it
    assert.ok(Number(m[1]) > 8 && Number(m[1]) < 12, m[1]);
    assert.ok(Number(m[2]) < Number(m[1]), `loss ${m[1]} → ${m[2]}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
