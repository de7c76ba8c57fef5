import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { readText } from './read-text.js';
import { expectError } from '../../test/expect-error.js';

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-read-text-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));

test('invalid UTF-8 in a data file is invalid_data naming the line, not silently replaced (issue 10)', () => {
  const file = path.join(ROOT, 'latin1.csv');
  // line 3 holds "café" in Latin-1 (0xe9 alone is not UTF-8); line 2 holds valid multi-byte UTF-8
  fs.writeFileSync(file, Buffer.concat([Buffer.from('sentence,label\n"naïve €",1\n"caf'), Buffer.from([0xe9]), Buffer.from('",0\n')]));
  const err = expectError(() => readText(file), 'invalid_data', file, 'line 3', 'UTF-8');
  assert.equal(err.path, 'line 3');
  const ok = path.join(ROOT, 'bom.tsv');
  fs.writeFileSync(ok, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('a\té\n')]));
  assert.equal(readText(ok), 'a\té\n');
});
