/** `softprompt serve` as a child process on a free port, for tests of the CLI server (signals, logs). */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

export interface ServeChild {
  child: ChildProcessWithoutNullStreams;
  port: number;
  /** resolves with the exit code */
  exited: Promise<number | null>;
  stdout: () => string;
  stderr: () => string;
}

/** Starts `softprompt serve …args --port 0` and resolves once it prints the address it listens on. */
export async function startServe(args: readonly string[]): Promise<ServeChild> {
  const child = spawn(process.execPath, [join(repoRoot(), 'bin', 'softprompt.js'), 'serve', ...args, '--port', '0'], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end();
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      const m = /http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
      if (m !== null) resolve(Number(m[1]));
    });
    child.on('exit', () => reject(new Error(`serve exited: ${stderr}`)));
  });
  return { child, port, exited, stdout: () => stdout, stderr: () => stderr };
}
