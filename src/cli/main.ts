/**
 * The `softprompt` command: parse → call the library → print. One file per subcommand; errors.ts maps failures
 * to exit statuses (0 ok, 2 usage, 3–11 SoftpromptError codes, 1 bugs, 130 Ctrl-C).
 *
 *   softprompt train [--config file.json] [flags]     train an adapter (no flags: the bundled quickstart)
 *   softprompt eval --adapter DIR --model DIR --task NAME
 *   softprompt predict --adapter DIR --model DIR [--task NAME] --text "…"
 *   softprompt inspect PATH
 *   softprompt tasks
 *   softprompt serve --model DIR --adapter NAME=DIR …
 *   softprompt sweep --config sweep.json [--queue redis://HOST:PORT]   (and sweep status)
 *   softprompt worker --queue redis://HOST:PORT
 *   softprompt pretrain --model-config cfg.json --corpus span.txt --output DIR   (draft)
 *   softprompt init-model --family gpt2|llama --output DIR   (a small random model for a real tokenizer)
 */
import { Command } from 'commander';
import { reportError } from './errors.js';
import { exportCommand } from './export.js';
import { evalCommand } from './eval.js';
import { initModelCommand } from './init-model.js';
import { inspectCommand } from './inspect.js';
import { packageVersion } from './paths.js';
import { predictCommand } from './predict.js';
import { pretrainCommand } from './pretrain.js';
import { serveCommand } from './serve.js';
import { sweepCommand } from './sweep.js';
import { tasksCommand } from './tasks.js';
import { trainCommand } from './train.js';
import { workerCommand } from './worker.js';

const HELP_AFTER = `
Exit status: 0 ok · 2 usage · 3 invalid config · 4 file not found · 5 malformed file · 6 missing tensor / shape
mismatch · 7 unsupported · 8 invalid data · 9 unsafe pickle · 10 non-finite loss · 11 engine · 12 queue (Redis)
unreachable · 13 sweep finished with failed jobs · 14 Hugging Face Hub id not fetched · 1 bug · 130 Ctrl-C.
Set SOFTPROMPT_DEBUG=1 to see stack traces.

Examples:
  $ softprompt train                      # quickstart: random-weight t5-tiny on a 400-row SST-2 slice (~1 min)
  $ softprompt train --model ./t5-base --task rte --data-dir ~/glue --steps 30000
  $ softprompt eval --adapter runs/rte-dept/adapter --model ./t5-base --task rte --data-dir ~/glue
  $ softprompt predict --adapter runs/rte-dept/adapter --model ./t5-base --task rte --text $'A man sleeps.\\tA person rests.'
  $ softprompt inspect runs/rte-dept/adapter
  $ softprompt tasks
  $ softprompt serve --model ./t5-base --adapter sst2=runs/sst2-dept/adapter --port 8080
  $ softprompt sweep --config sweep.json [--queue redis://10.0.0.5:6379]
  $ softprompt worker --queue redis://10.0.0.5:6379
  $ softprompt init-model --family gpt2 --output models/gpt2-random   # then train --model models/gpt2-random
`;

/** Settings every command needs: throw instead of exiting (main maps the status), suggestions on typos. */
function configure(cmd: Command): Command {
  return cmd
    .exitOverride()
    .showSuggestionAfterError(true)
    .showHelpAfterError('(add --help for usage)');
}

export function buildProgram(): Command {
  const program = configure(new Command('softprompt'))
    .description('DePT (decomposed prompt tuning), prompt tuning, LoRA and full fine-tuning of T5, GPT-2 and LLaMA models on the CPU.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .enablePositionalOptions() // `sweep status --config f`: options after a subcommand are that subcommand's
    .addHelpText('after', HELP_AFTER);
  for (const cmd of [trainCommand(), evalCommand(), predictCommand(), inspectCommand(), exportCommand(), tasksCommand(), serveCommand(), sweepCommand(), workerCommand(), pretrainCommand(), initModelCommand()]) {
    program.addCommand(configure(cmd.helpOption('-h, --help', 'show help')));
  }
  return program;
}

/** `softprompt tasks | head`: a closed stdout ends the command quietly, as for other Unix tools. */
function exitOnClosedStdout(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

/** Run the CLI on `argv` (process.argv form); returns the exit status. */
export async function main(argv: readonly string[] = process.argv): Promise<number> {
  exitOnClosedStdout();
  try {
    await buildProgram().parseAsync([...argv]);
    return 0;
  } catch (err) {
    return reportError(err);
  }
}
