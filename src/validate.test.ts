/** Error messages never echo a whole hostile value, and never overflow on a deep one (issue 10, hardening). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { preview } from './errors.js';
import { parseJsonl } from './tasks/jsonl.js';
import { parseGPT2Config } from './models/gpt2-config.js';
import { parseWith } from './validate.js';
import { expectError } from '../test/expect-error.js';

/** [[[…1…]]] nested `depth` levels, built without recursion. */
function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

describe('preview of user values in error messages', () => {
  it('shows small values as JSON, cuts long ones, and survives 300k-deep nesting', () => {
    assert.equal(preview({ a: [1, 'x'] }), '{"a":[1,"x"]}');
    assert.ok(preview(Array.from({ length: 100_000 }, (_, i) => i)).length <= 120);
    assert.equal(preview(nested(300_000)), '[[[[…]]]]');
    assert.throws(() => JSON.stringify(nested(300_000)), RangeError); // what the messages used to call
  });

  it('parseWith names the field and shows at most a short preview of a deep or long value', () => {
    const schema = z.object({ rank: z.number() });
    const deep = expectError(() => parseWith(schema, { rank: nested(10_000) }, 'config'), 'invalid_config', 'config.rank');
    assert.ok(deep.message.length < 300, deep.message);
    const long = expectError(() => parseWith(schema, { rank: Array.from({ length: 100_000 }, () => 1) }, 'config'), 'invalid_config', 'config.rank');
    assert.ok(long.message.length < 300, long.message);
  });

  it('a JSONL line holding a 10k-deep array is invalid_data naming the line', () => {
    const line = `${'['.repeat(10_000)}1${']'.repeat(10_000)}`;
    const err = expectError(() => parseJsonl(`{"a": 1}\n${line}\n`, 'train.jsonl'), 'invalid_data', 'train.jsonl line 2');
    assert.ok(err.message.length < 300);
  });

  it('a GPT-2 config with a deeply nested n_embd is invalid_config, not a RangeError', () => {
    expectError(() => parseGPT2Config({ model_type: 'gpt2', n_embd: nested(10_000) }, 'config.json'), 'invalid_config', 'config.json');
  });
});
