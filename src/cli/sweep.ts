/**
 * `softprompt sweep --config sweep.json [--queue redis://HOST:PORT]` and `softprompt sweep status`: plan the grid
 * (src/sweep/spec.ts, every job's config validated by the train config parser), then run it here or through
 * BullMQ workers, and write sweep.json + results.md + results.html into the sweep folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { SoftpromptError } from '../errors.js';
import { parseTrainConfig } from '../train/config.js';
import type { SweepQueue } from '../sweep/queue.js';
import type { SweepResults } from '../sweep/results.js';
import { fmt } from '../sweep/results.js';
import { DEFAULT_QUEUE_NAME, planSweep, type SweepPlan, type TrainConfigReader } from '../sweep/spec.js';
import { runLocalSweep } from '../sweep/local.js';
import { runQueuedSweep } from '../sweep/queued.js';
import { planFromResults, sweepStatus } from '../sweep/state.js';
import { floatArg, intArg } from './options.js';
import { displayPath } from './paths.js';
import { readTrainConfigFile, trainConfigValues } from './train-config.js';
import { usageError } from './errors.js';

const HELP_AFTER = `
Sweep file (JSON or YAML; keys are the train options in camelCase, as in softprompt train --config):
  {
    "output": "sweeps/sst2",
    "base": {"model": "/data/t5-base", "task": "sst2", "dataDir": "/data/glue", "steps": 30000},
    "grid": {"lr": [0.3, 0.4, 0.5], "lrLowrank": [5e-3, 3e-1, 5e-4], "seed": [1, 2, 3]},
    "select": {"split": "validation", "mode": "max", "groupBy": ["task"], "averageOver": ["seed"]}
  }
Any train option can be a grid axis (task, method, lr, promptLength, rank, budget, seed, …); "grid" may also be
a list of grids (their union). "baseConfig": "train.json" takes the base from a train config file.
Selection (the paper's protocol): per task, the configuration with the best validation metric (the task's
primary metric unless "metric" is given), averaged over "averageOver"; its test metric is the reported number.

Sweep folder: sweep.json (every job, its state and metrics, the best per group), results.md, results.html
(sortable), runs/<job>/ (each a normal train run folder: adapter/, summary.json, curves, checkpoints).

Without --queue the jobs run here, one after another. Rerunning the same command skips finished jobs, resumes
an interrupted one from its newest checkpoint and retries failed ones. With --queue the jobs go into BullMQ for
\`softprompt worker\` processes on any machines that see the same sweep folder (same path); the command follows
them until all are done (--detach: enqueue and exit). Every machine needs the same paths (e.g. an NFS mount).

Exit status: 0 all jobs done · 13 some jobs failed (results still written) · 12 Redis unreachable at start ·
2 usage · 3–11 as for train (a bad sweep file or job config).

Examples:
  $ softprompt sweep --config sweep.json                          # all jobs here, one after another
  $ softprompt sweep --config sweep.json --dry-run                # list the jobs
  $ softprompt sweep --config sweep.json --queue redis://10.0.0.5:6379
  $ softprompt sweep status --config sweep.json --queue redis://10.0.0.5:6379
  $ softprompt sweep status sweeps/sst2                           # from the sweep folder alone
`;

const STATUS_HELP = `
Shows done / running / failed / queued / interrupted / pending per job (with the worker and step of running ones)
and the best configuration per group so far. Reads the run folders, and the queue when --queue is given.

Examples:
  $ softprompt sweep status --config sweep.json
  $ softprompt sweep status sweeps/sst2 --queue redis://10.0.0.5:6379
  $ softprompt sweep status sweeps/sst2 --json
`;

export const reader: TrainConfigReader = {
  values: trainConfigValues,
  file: readTrainConfigFile,
  parse: (values, where) => parseTrainConfig(values, where),
};

function err(line: string): void {
  process.stderr.write(line + '\n');
}

function out(line = ''): void {
  process.stdout.write(line + '\n');
}

/** Paths every job needs, checked once before anything runs. */
function checkPaths(plan: SweepPlan): void {
  const keys = ['model', 'tokenizer', 'dataDir', 'trainFile', 'devFile', 'initAdapter'] as const;
  const seen = new Set<string>();
  for (const job of plan.jobs) {
    for (const k of keys) {
      const p = job.config[k];
      if (typeof p !== 'string' || seen.has(p)) continue;
      seen.add(p);
      if (!fs.existsSync(p)) throw new SoftpromptError('file_not_found', `${k} ${p} (job ${job.name}) does not exist.`, { path: `config.${k}`, file: plan.file });
    }
  }
}

function printResults(r: SweepResults): void {
  const c = r.counts;
  out(`Sweep ${r.name}: ${r.jobs.length} jobs — ${c.done} done, ${c.running} running, ${c.queued} queued, ${c.failed} failed, ${c.interrupted} interrupted, ${c.pending} pending.`);
  for (const g of r.groups) {
    const b = g.best;
    out(`  ${g.label}: ${b === null ? 'no finished run yet' : `best ${b.label} — validation ${g.metric} ${fmt(b.validation, b.validationStd)}, test ${fmt(b.test, b.testStd)} (${b.n} run${b.n === 1 ? '' : 's'})`}`);
  }
}

function printFiles(r: SweepResults): void {
  const at = (f: string): string => displayPath(path.join(r.output, f));
  out(`Results: ${at('results.md')}, ${at('results.html')}, ${at('sweep.json')}; runs in ${at('runs')}/`);
}

function checkOutputIsNotConfig(plan: SweepPlan): void {
  if (path.resolve(plan.output, 'sweep.json') === plan.file) {
    throw new SoftpromptError('invalid_config', `The sweep file ${plan.file} is where the sweep writes its results (${plan.output}/sweep.json).`, { path: 'sweep.output', hint: 'set "output" to another folder, or rename the sweep file.' });
  }
}

interface SweepOpts { config?: string; queue?: string; queueName: string; detach?: boolean; dryRun?: boolean; threads?: number; staleSeconds: number; pollSeconds: number }

export function sweepCommand(): Command {
  const cmd = new Command('sweep')
    .enablePositionalOptions()
    .summary('run a grid of training jobs here or on BullMQ workers, and pick the best per task')
    .description('Run a hyperparameter / task grid: every job is a normal train run; the best configuration per task is chosen on validation and its test metric reported.')
    .option('--config <file>', 'sweep file (JSON or YAML): base, grid, select')
    .option('--queue <url>', 'enqueue in BullMQ on this Redis (redis://HOST:PORT) instead of running here')
    .option('--queue-name <name>', 'BullMQ queue name (workers must use the same)', DEFAULT_QUEUE_NAME)
    .option('--detach', 'with --queue: enqueue and exit; follow with `softprompt sweep status`')
    .option('--dry-run', 'list the jobs and exit')
    .option('--threads <n>', 'local runs: engine threads (overrides the sweep file)', intArg)
    .option('--stale-seconds <s>', 'a run folder lock without a heartbeat this long is taken over', floatArg, 60)
    .option('--poll-seconds <s>', 'with --queue: how often job states are read', floatArg, 1)
    .addHelpText('after', HELP_AFTER)
    .action(async (opts: SweepOpts) => {
      if (opts.config === undefined) throw usageError('softprompt sweep needs --config <sweep file> (see softprompt sweep --help).', { path: 'config' });
      const plan = planSweep(opts.config, reader);
      checkOutputIsNotConfig(plan);
      if (opts.dryRun === true) {
        out(`Sweep ${plan.name}: ${plan.jobs.length} jobs into ${displayPath(plan.output)}/runs/`);
        for (const j of plan.jobs) out(`  ${j.name}`);
        return;
      }
      checkPaths(plan);
      let res: SweepResults;
      if (opts.queue === undefined) {
        err(`softprompt sweep: ${plan.jobs.length} jobs from ${opts.config}, here one after another, into ${displayPath(plan.output)}/`);
        // Ctrl-C / SIGTERM: end the training thread (its checkpoints stay) and say how to continue; twice: at once
        const stop = new AbortController();
        const onSignal = (): void => {
          if (stop.signal.aborted) process.exit(130);
          err('softprompt sweep: stopping…');
          stop.abort();
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        try {
          res = await runLocalSweep(plan, { log: err, staleMs: opts.staleSeconds * 1000, signal: stop.signal, ...(opts.threads !== undefined ? { threads: opts.threads } : {}) });
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      } else {
        const { SweepQueue } = await import('../sweep/queue.js'); // BullMQ loads only when a queue is used
        const q = new SweepQueue(opts.queue, opts.queueName);
        try {
          await q.ping();
          res = await runQueuedSweep(plan, q, { log: err, pollMs: opts.pollSeconds * 1000, detach: opts.detach === true });
        } finally {
          await q.close();
        }
        if (opts.detach === true) {
          const name = opts.queueName !== DEFAULT_QUEUE_NAME ? ` --queue-name ${opts.queueName}` : '';
          out(`Enqueued. Follow with: softprompt sweep status ${displayPath(plan.output)} --queue ${opts.queue}${name}`);
          return;
        }
      }
      out();
      printResults(res);
      printFiles(res);
      const failed = res.jobs.filter((j) => j.state === 'failed');
      if (failed.length > 0) {
        throw new SoftpromptError('sweep_failed', `${failed.length} of ${res.jobs.length} jobs failed (${failed.slice(0, 3).map((j) => j.name).join(', ')}${failed.length > 3 ? ', …' : ''}).`, {
          file: path.join(res.output, 'results.md'), hint: 'each failure is in results.md and in its run folder (sweep_error.json); rerun the same command to retry them.',
        });
      }
    });

  cmd.addCommand(new Command('status')
    .summary('show a sweep\'s jobs and the best configuration so far')
    .argument('[dir]', 'the sweep folder (its sweep.json); or give --config')
    .option('--config <file>', 'the sweep file')
    .option('--queue <url>', 'also ask BullMQ on this Redis for queued / running / failed jobs')
    .option('--queue-name <name>', 'BullMQ queue name', DEFAULT_QUEUE_NAME)
    .option('--json', 'print the status as JSON (the sweep.json format)')
    .helpOption('-h, --help', 'show help')
    .addHelpText('after', STATUS_HELP)
    .action(async (dir: string | undefined, opts: { config?: string; queue?: string; queueName: string; json?: boolean }) => {
      if (dir === undefined && opts.config === undefined) throw usageError('softprompt sweep status needs the sweep folder or --config <sweep file>.', { path: 'dir' });
      const plan = dir !== undefined ? planFromResults(dir) : planSweep(opts.config!, reader);
      let q: SweepQueue | null = null;
      try {
        if (opts.queue !== undefined) {
          const { SweepQueue } = await import('../sweep/queue.js');
          q = new SweepQueue(opts.queue, opts.queueName);
          try {
            await q.ping();
          } catch (e) {
            err(`warning: ${e instanceof Error ? e.message : String(e)} Showing what the run folders say.`);
            await q.close();
            q = null;
          }
        }
        const res = await sweepStatus(plan, q);
        if (opts.json === true) {
          out(JSON.stringify(res, null, 2));
          return;
        }
        printResults(res);
        for (const j of res.jobs) {
          const extra = j.state === 'running' ? `${j.worker !== undefined ? ` on ${j.worker}` : ''}${j.progress !== undefined ? `, step ${j.progress.step}/${j.progress.steps}` : ''}`
            : j.state === 'failed' ? `: ${j.error ?? ''}` : '';
          out(`  ${j.state.padEnd(11)} ${j.name}${extra}`);
        }
      } finally {
        await q?.close();
      }
    }));
  return cmd;
}
