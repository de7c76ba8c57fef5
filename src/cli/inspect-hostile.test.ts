/** `softprompt inspect` on hostile folders: a typed exit status at once, never a crash or a leak (issue 10). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fixture, repoRoot } from '../../test/paths.js';

const BIN = path.join(repoRoot(), 'bin', 'softprompt.js');
const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-inspect-hostile-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));
let n = 0;

function inspect(dir: string): { status: number | null; out: string; ms: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, 'inspect', dir], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}`, ms: performance.now() - t0 };
}

function modelWith(patch: Record<string, unknown>): string {
  const dir = path.join(ROOT, `m${n++}`);
  fs.mkdirSync(dir);
  const cfg = { ...JSON.parse(fs.readFileSync(fixture('t5-tiny', 'config.json'), 'utf8')) as object, ...patch };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  fs.symlinkSync(fixture('t5-tiny', 'model.safetensors'), path.join(dir, 'model.safetensors'));
  return dir;
}

describe('inspect: hostile folders', () => {
  it('a model config that load refuses is refused by inspect too (exit 3): num_decoder_layers 0, num_layers 1e6', () => {
    for (const [patch, mention] of [[{ num_decoder_layers: 0 }, 'num_decoder_layers'], [{ num_layers: 1_000_000 }, 'num_layers = 1000000']] as const) {
      const r = inspect(modelWith(patch));
      assert.equal(r.status, 3, r.out);
      assert.ok(r.out.includes(mention) && r.ms < 10_000, r.out);
    }
    assert.equal(inspect(modelWith({})).status, 0);
  });

  it('an adapter whose config links to a secret file, or whose weights link to /dev/zero: exit 5, nothing leaked', () => {
    const secret = path.join(ROOT, 'secret');
    fs.writeFileSync(secret, 'root:x:0:0:the-secret-line\n');
    const a = path.join(ROOT, 'a-config');
    fs.mkdirSync(a);
    fs.symlinkSync(secret, path.join(a, 'adapter_config.json'));
    fs.copyFileSync(fixture('dept-cola', 'adapter_model.bin'), path.join(a, 'adapter_model.bin'));
    const r1 = inspect(a);
    assert.equal(r1.status, 5, r1.out);
    assert.ok(r1.out.includes('symbolic link') && !r1.out.includes('secret-line'), r1.out);
    const b = path.join(ROOT, 'b-zero');
    fs.mkdirSync(b);
    fs.copyFileSync(fixture('dept-cola', 'adapter_config.json'), path.join(b, 'adapter_config.json'));
    fs.symlinkSync('/dev/zero', path.join(b, 'adapter_model.bin'));
    const r2 = inspect(b);
    assert.equal(r2.status, 5, r2.out);
    assert.ok(r2.out.includes('symbolic link'), r2.out);
  });
});
