/** Test helpers: temporary data folders and the shared data root (tests using it skip when it is absent). */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SoftpromptError, type ErrorCode } from '../errors.js';

/** The full GLUE / SuperGLUE / glue-samples data, when this machine has it. */
export const SHARED_DATA = process.env['SOFTPROMPT_DATA'] ?? '/work/shared/data';
export const HAVE_SHARED = fs.existsSync(path.join(SHARED_DATA, 'glue'));

/** A fresh temp folder holding `files` (relative path → content). */
export function tempData(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'softprompt-tasks-'));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

/** assert.throws predicate: a SoftpromptError with this code whose message matches. */
export function softError(code: ErrorCode, message?: RegExp): (e: unknown) => boolean {
  return (e) => e instanceof SoftpromptError && e.code === code && (message === undefined || message.test(e.message));
}
