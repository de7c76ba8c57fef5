/**
 * Errors → exit status, as the CLI reports them:
 *
 *   0    success (and --help, --version)
 *   2    usage: unknown command or flag, a flag value that is not a number, … (commander's errors and ours)
 *   3–11 a SoftpromptError: its exitCode (EXIT_CODES in src/errors.ts), printed with formatError
 *   1    anything else: a bug. The stack is printed only with SOFTPROMPT_DEBUG=1.
 *   130  Ctrl-C (the default SIGINT death; no handler is installed, see train.ts)
 */
import { CommanderError } from 'commander';
import { formatError, SoftpromptError, EXIT_CODES } from '../errors.js';

export const EXIT_USAGE = EXIT_CODES.usage;

/** A usage error (exit 2) in the library's error shape. */
export function usageError(message: string, opts: { path?: string; hint?: string } = {}): SoftpromptError {
  return new SoftpromptError('usage', message, opts);
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE;
  if (err instanceof SoftpromptError) return err.exitCode;
  return 1;
}

function debugEnabled(): boolean {
  return process.env['SOFTPROMPT_DEBUG'] === '1';
}

/**
 * Print `err` on stderr and return its exit status. Commander has already printed its own messages (and help),
 * so those are not printed again.
 */
export function reportError(err: unknown, write: (text: string) => void = (t) => process.stderr.write(t)): number {
  const code = exitCodeFor(err);
  if (err instanceof CommanderError) return code;
  if (err instanceof SoftpromptError) {
    write(formatError(err) + '\n');
    if (err.code === 'usage') write('  (see softprompt --help)\n');
    if (debugEnabled() && err.stack !== undefined) write(err.stack + '\n');
    return code;
  }
  write(formatError(err) + '\n');
  if (debugEnabled()) {
    if (err instanceof Error && err.stack !== undefined) write(err.stack + '\n');
  } else {
    write('  this is a bug in softprompt; run again with SOFTPROMPT_DEBUG=1 for the stack trace.\n');
  }
  return code;
}
