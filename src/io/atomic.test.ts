import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { SoftpromptError } from '../errors.js';
import { atomicWriteFile } from './atomic.js';

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-atomic-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));

describe('atomicWriteFile', () => {
  it('writes strings as UTF-8 and bytes verbatim, replacing the old file, leaving no temp file', () => {
    const file = path.join(ROOT, 'adapter_config.json');
    atomicWriteFile(file, '{"r": 15, "name": "Ünï"}\n');
    assert.deepEqual(fs.readFileSync(file), Buffer.from('{"r": 15, "name": "Ünï"}\n', 'utf8'));
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff);
    atomicWriteFile(file, bytes);
    assert.deepEqual(new Uint8Array(fs.readFileSync(file)), bytes);
    assert.deepEqual(fs.readdirSync(ROOT), ['adapter_config.json']);
  });

  it('a missing directory is file_not_found naming the path; nothing is created', () => {
    const file = path.join(ROOT, 'no-such-dir', 'x.bin');
    assert.throws(() => atomicWriteFile(file, 'x'), (e: unknown) => e instanceof SoftpromptError && e.code === 'file_not_found' && e.message.includes(file));
    assert.equal(fs.existsSync(path.dirname(file)), false);
  });

  it('when the rename fails the target is untouched and the temp file is removed', () => {
    const target = path.join(ROOT, 'occupied');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'keep'), 'keep');
    assert.throws(() => atomicWriteFile(target, 'new contents'));
    assert.equal(fs.readFileSync(path.join(target, 'keep'), 'utf8'), 'keep');
    assert.deepEqual(fs.readdirSync(ROOT).filter((f) => f.includes('.tmp-')), []);
  });
});
