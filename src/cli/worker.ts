/** `softprompt worker --queue redis://HOST:PORT`: train sweep jobs from BullMQ (src/sweep/worker.ts). */
import { Command } from 'commander';
import { DEFAULT_QUEUE_NAME } from '../sweep/spec.js';
import { usageError } from './errors.js';
import { floatArg, intArg } from './options.js';

const HELP_AFTER = `
Start one worker per machine (each uses all its cores; --threads to share a machine). Every machine must see
the sweep folder and the model / data at the same paths as the machine that ran \`softprompt sweep\` (e.g. the
same NFS mount), and reach the same Redis.

A worker that dies mid-job (kill -9, power loss) stops renewing its BullMQ lock; after --lock-seconds another
worker's stalled check puts the job back and it resumes from its newest checkpoint. A finished job is never
trained again: its summary.json in the run folder is returned as it is. Ctrl-C / SIGTERM stops at once and puts
the current job back in the queue.

Exit status: 0 (idle exit) · 12 Redis unreachable at start · 130 Ctrl-C or SIGTERM (the job back in the queue) · 2 usage.

Examples:
  $ softprompt worker --queue redis://10.0.0.5:6379
  $ softprompt worker --queue redis://10.0.0.5:6379 --threads 8 --idle-exit 600
`;

interface WorkerOpts {
  queue?: string; queueName: string; threads?: number; lockSeconds: number; stalledSeconds: number; maxStalls: number;
  staleSeconds: number; busyRetrySeconds: number; idleExit?: number;
}

export function workerCommand(): Command {
  return new Command('worker')
    .summary('take sweep jobs from a BullMQ queue and train them')
    .description('Take sweep jobs from BullMQ (Redis) one at a time and train each with the normal trainer, resuming from its checkpoint.')
    .option('--queue <url>', 'Redis of the queue: redis://HOST:PORT (required)')
    .option('--queue-name <name>', 'BullMQ queue name (as given to softprompt sweep)', DEFAULT_QUEUE_NAME)
    .option('--threads <n>', 'engine threads for every job on this machine (0: one per core)', intArg)
    .option('--lock-seconds <s>', 'a job whose worker is silent this long is presumed dead and requeued', floatArg, 30)
    .option('--stalled-seconds <s>', 'how often this worker looks for such stalled jobs', floatArg, 30)
    .option('--max-stalls <n>', 'a job stalled more often than this fails', intArg, 5)
    .option('--stale-seconds <s>', 'a run folder lock without a heartbeat this long is taken over', floatArg, 60)
    .option('--busy-retry-seconds <s>', 'when another live trainer holds a job\'s run folder, retry after this long', floatArg, 15)
    .option('--idle-exit <s>', 'exit (status 0) after this many seconds without a job', floatArg)
    .addHelpText('after', HELP_AFTER)
    .action(async (opts: WorkerOpts) => {
      if (opts.queue === undefined) throw usageError('softprompt worker needs --queue redis://HOST:PORT.', { path: 'queue' });
      for (const [k, v] of [['--lock-seconds', opts.lockSeconds], ['--stalled-seconds', opts.stalledSeconds], ['--stale-seconds', opts.staleSeconds], ['--busy-retry-seconds', opts.busyRetrySeconds]] as const) {
        if (!(v > 0)) throw usageError(`${k} must be positive, got ${v}.`, { path: k.slice(2) });
      }
      if (opts.maxStalls < 1) throw usageError(`--max-stalls must be at least 1, got ${opts.maxStalls}.`, { path: 'max-stalls' });
      const { runWorker } = await import('../sweep/worker.js'); // BullMQ loads only for this command
      const status = await runWorker({
        url: opts.queue, queueName: opts.queueName, log: (line) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`),
        ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
        lockDurationMs: opts.lockSeconds * 1000, stalledIntervalMs: opts.stalledSeconds * 1000, maxStalledCount: opts.maxStalls,
        staleMs: opts.staleSeconds * 1000, busyRetryMs: opts.busyRetrySeconds * 1000,
        ...(opts.idleExit !== undefined ? { idleExitMs: opts.idleExit * 1000 } : {}),
      });
      if (status !== 0) process.exit(status); // 130: stopped by a signal, the job back in the queue
    });
}
