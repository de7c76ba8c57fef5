/** Adapter folders from strangers: links and devices are refused before a byte is read (issue 10, hardening). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { readTorchBin } from '../io/torch-bin.js';
import { spawnSync } from 'node:child_process';
import { ADAPTER_BIN_FILE, ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, writeAdapterFolder } from './adapter-files.js';
import { readAdapter } from './registry.js';
import { fixture } from '../../test/paths.js';
import { expectError } from '../../test/expect-error.js';

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-hostile-'));
after(() => fs.rmSync(ROOT, { recursive: true, force: true }));
const SECRET = path.join(ROOT, 'secret.txt');
fs.writeFileSync(SECRET, 'root:x:0:0:the-secret-line\n');
let n = 0;

/** A copy of the dept-cola adapter folder with `link` replaced by a symlink to `target`. */
function folderWithLink(link: string, target: string): string {
  const dir = path.join(ROOT, `a${n++}`);
  fs.mkdirSync(dir);
  fs.copyFileSync(fixture('dept-cola', ADAPTER_CONFIG_FILE), path.join(dir, ADAPTER_CONFIG_FILE));
  fs.copyFileSync(fixture('dept-cola', ADAPTER_BIN_FILE), path.join(dir, ADAPTER_BIN_FILE));
  fs.rmSync(path.join(dir, link), { force: true });
  fs.symlinkSync(target, path.join(dir, link));
  return dir;
}

describe('hostile adapter folders', () => {
  it('refuses adapter_config.json linked to a file outside the folder, without showing its bytes', () => {
    const dir = folderWithLink(ADAPTER_CONFIG_FILE, SECRET);
    const err = expectError(() => readAdapter(dir), 'malformed_file', ADAPTER_CONFIG_FILE, 'symbolic link');
    assert.ok(!err.message.includes('root:x') && !err.message.includes('secret-line'), err.message);
    assert.ok(!err.message.includes('not valid JSON'), err.message); // refused before parsing, not as bad JSON
  });

  it('refuses adapter_model.bin linked to /dev/zero (no unbounded read)', () => {
    const dir = folderWithLink(ADAPTER_BIN_FILE, '/dev/zero');
    expectError(() => readAdapter(dir), 'malformed_file', ADAPTER_BIN_FILE, 'symbolic link');
  });

  it('refuses adapter_model.safetensors that is a symlink, even to a real adapter file', () => {
    const dir = folderWithLink(ADAPTER_WEIGHTS_FILE, fixture('dept-cola', ADAPTER_BIN_FILE));
    expectError(() => readAdapter(dir), 'malformed_file', ADAPTER_WEIGHTS_FILE, 'symbolic link');
  });

  it('a symlink inside the folder to a sibling file is refused too (only plain files are read)', () => {
    const dir = folderWithLink(ADAPTER_CONFIG_FILE, 'other.json');
    fs.copyFileSync(fixture('dept-cola', ADAPTER_CONFIG_FILE), path.join(dir, 'other.json'));
    expectError(() => readAdapter(dir), 'malformed_file', 'symbolic link');
  });

  it('a device named directly is refused as not a regular file', () => {
    expectError(() => readTorchBin('/dev/zero', { followSymlinks: true }), 'malformed_file', '/dev/zero', 'not a regular file');
  });

  it('the same folder with plain files still loads', () => {
    const dir = path.join(ROOT, 'plain');
    fs.mkdirSync(dir);
    for (const f of [ADAPTER_CONFIG_FILE, ADAPTER_BIN_FILE]) fs.copyFileSync(fixture('dept-cola', f), path.join(dir, f));
    assert.equal(readAdapter(dir).peftType, 'PROMPT_TUNING_LORA');
  });
});

describe('saving over a killed save', () => {
  it('removes the staged temp files of a dead writer, keeps a live writer\'s and the .old recovery files', () => {
    const dir = path.join(ROOT, 'stale');
    fs.mkdirSync(dir);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // exited: its pid names no running process
    const stale = [`.${ADAPTER_WEIGHTS_FILE}.tmp-${dead}-0badf00d`, `.${ADAPTER_CONFIG_FILE}.tmp-${dead}-0badf00d.tmp-${dead}`];
    const kept = [`.${ADAPTER_WEIGHTS_FILE}.tmp-${process.ppid}-1234abcd`, `.${ADAPTER_CONFIG_FILE}.old-${dead}-0badf00d`, 'notes.txt'];
    for (const f of [...stale, ...kept]) fs.writeFileSync(path.join(dir, f), 'x');
    writeAdapterFolder(dir, { peftType: 'PROMPT_TUNING', config: { peft_type: 'PROMPT_TUNING' }, tensors: { prompt_embeddings: { dtype: 'F32', shape: [1, 2], data: Float32Array.of(1, 2) } } });
    assert.deepEqual(fs.readdirSync(dir).sort(), [...kept, ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE].sort());
  });
});
