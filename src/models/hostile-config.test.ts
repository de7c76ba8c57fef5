/** Hostile config.json values fail fast with a typed error before any config-sized allocation (issue 10). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadAnyModel } from './registry.js';
import { fixture } from '../../test/paths.js';
import { expectError } from '../../test/expect-error.js';

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-hostile-config-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));
let n = 0;

/** A model folder: the fixture's weights (linked) with its config.json patched. */
function patched(fx: string, patch: Record<string, unknown>): string {
  const dir = path.join(ROOT, `m${n++}`);
  fs.mkdirSync(dir);
  const cfg = { ...JSON.parse(fs.readFileSync(fixture(fx, 'config.json'), 'utf8')) as Record<string, unknown>, ...patch };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  fs.symlinkSync(fixture(fx, 'model.safetensors'), path.join(dir, 'model.safetensors'));
  return dir;
}

describe('hostile config.json', () => {
  const cases: [fixture: string, patch: Record<string, unknown>, code: string, mention: string][] = [
    ['t5-tiny', { num_heads: 2 ** 32 }, 'invalid_config', 'num_heads'],
    ['t5-tiny', { d_kv: 2 ** 31 }, 'invalid_config', 'd_kv'],
    ['t5-tiny', { num_heads: 2 ** 20, d_kv: 2 ** 20 }, 'shape_mismatch', 'SelfAttention.q.weight'], // each in range, product huge
    ['t5-tiny', { num_decoder_layers: 0 }, 'invalid_config', 'num_decoder_layers'],
    ['t5-tiny', { num_layers: 1_000_000 }, 'invalid_config', 'num_layers = 1000000'],
    ['llama-tiny', { num_attention_heads: 1e308 }, 'invalid_config', 'num_attention_heads'],
    ['llama-tiny', { num_attention_heads: 2 ** 32 }, 'invalid_config', 'num_attention_heads'],
    ['llama-tiny', { num_attention_heads: 2 ** 30, head_dim: 2 ** 30 }, 'shape_mismatch', 'q_proj.weight'],
    ['llama-tiny', { num_hidden_layers: 1_000_000 }, 'invalid_config', 'num_hidden_layers = 1000000'],
    ['gpt2-tiny', { n_layer: 1_000_000 }, 'invalid_config', 'n_layer = 1000000'],
  ];
  for (const [fx, patch, code, mention] of cases) {
    it(`${fx} with ${JSON.stringify(patch)}: ${code} within 2 s`, () => {
      const dir = patched(fx, patch);
      const t0 = performance.now();
      expectError(() => loadAnyModel(dir), code, mention);
      assert.ok(performance.now() - t0 < 2000);
    });
  }

  it('config.json linked to /dev/zero is refused as not a regular file (no unbounded read)', () => {
    const dir = path.join(ROOT, 'devzero');
    fs.mkdirSync(dir);
    fs.symlinkSync('/dev/zero', path.join(dir, 'config.json'));
    fs.symlinkSync(fixture('gpt2-tiny', 'model.safetensors'), path.join(dir, 'model.safetensors'));
    expectError(() => loadAnyModel(dir), 'malformed_file', 'config.json', 'not a regular file');
  });
});
