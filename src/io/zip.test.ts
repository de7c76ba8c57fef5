import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SoftpromptError } from '../errors.js';
import { crc32, ZipArchive } from './zip.js';
import { fixture } from '../../test/paths.js';

const FIX = fixture();
const MIXED = path.join(FIX, 'zip/mixed.zip');
const COLA = path.join(FIX, 'dept-cola/adapter_model.bin');

describe('zip', () => {
  it('crc32 gives the standard check value', () => {
    assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
    assert.equal(crc32(new Uint8Array(0)), 0);
  });

  it('reads stored and deflated entries of a Python-written archive (with a comment)', () => {
    const zip = new ZipArchive(fs.readFileSync(MIXED), MIXED);
    assert.deepEqual([...zip.entries.keys()], ['arch/stored.txt', 'arch/deflated.bin']);
    assert.deepEqual({ ...zip.entries.get('arch/deflated.bin')!, localHeaderOffset: 0 }, { name: 'arch/deflated.bin', method: 8, crc32: 0xbbce3b9d, compressedSize: 366, size: 10240, localHeaderOffset: 0 });
    assert.equal(new TextDecoder().decode(zip.read('arch/stored.txt')), 'hello stored\n');
    const inflated = zip.read('arch/deflated.bin');
    assert.equal(inflated.byteLength, 10240);
    assert.ok(inflated.every((b, i) => b === i % 256));
  });

  it('reads the torch.save archive of the DePT CoLA checkpoint (entries as listed by Python zipfile)', () => {
    const zip = new ZipArchive(fs.readFileSync(COLA), COLA);
    const sizes = Object.fromEntries([...zip.entries.values()].map((e) => [e.name, e.size]));
    assert.deepEqual(sizes, { 'adapter_model/data.pkl': 395, 'adapter_model/data/0': 245760, 'adapter_model/data/1': 15360, 'adapter_model/data/2': 46080, 'adapter_model/version': 2 });
    assert.equal(new TextDecoder().decode(zip.read('adapter_model/version')), '3\n');
  });

  it('refuses truncated archives and corrupted data with malformed_file naming the file', () => {
    const good = fs.readFileSync(MIXED);
    const cases: [string, Buffer][] = [
      ['truncated', good.subarray(0, good.byteLength - 40)],
      ['not a zip', Buffer.from('definitely not a zip archive, just some text padding it out')],
    ];
    for (const [what, bytes] of cases) {
      assert.throws(() => new ZipArchive(bytes, `${what}.zip`), (err: unknown) => err instanceof SoftpromptError && err.code === 'malformed_file' && err.message.includes(`${what}.zip`), what);
    }
    const flipped = Buffer.from(good);
    const zip = new ZipArchive(flipped, 'flipped.zip');
    const e = zip.entries.get('arch/stored.txt')!;
    flipped[e.localHeaderOffset + 30 + 'arch/stored.txt'.length] ^= 0xff; // first data byte
    assert.throws(() => zip.read('arch/stored.txt'), (err: unknown) => err instanceof SoftpromptError && err.code === 'malformed_file' && /CRC-32/.test(err.message) && err.message.includes('flipped.zip'));
  });
});
