/** Fuzzing the native binding in child processes: no call may crash the process (issue 10). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 150);
const CHILD = fileURLToPath(new URL('./binding-child.js', import.meta.url));

describe('fuzz: native binding', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`${RUNS} hostile calls (seed ${seed}) end in a return or a throw, never a crash`, () => {
      const r = spawnSync(process.execPath, [CHILD, String(RUNS), String(seed)], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, SOFTPROMPT_THREADS: '1' } });
      assert.equal(r.signal, null, `child killed by ${r.signal}: ${r.stderr.slice(-2000)}`);
      assert.equal(r.status, 0, r.stderr.slice(-2000));
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { calls: number; threw: number; returned: number };
      assert.equal(out.threw + out.returned, RUNS);
      if (RUNS >= 1000) console.log(JSON.stringify({ seed, ...out }));
    });
  }
});
