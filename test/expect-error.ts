/** Assert that fn throws a SoftpromptError with `code` whose message mentions every string given. */
import assert from 'node:assert/strict';
import { SoftpromptError } from '../src/errors.js';

export function expectError(fn: () => unknown, code: string, ...mustMention: string[]): SoftpromptError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof SoftpromptError, `expected a SoftpromptError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const s of mustMention) assert.ok(caught.message.includes(s), `message should mention ${JSON.stringify(s)}: ${caught.message}`);
  return caught;
}
