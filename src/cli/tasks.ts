/** `softprompt tasks`: the task names, their metrics (primary first) and how their splits are made. */
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { bundledDataDir, getTask, TASK_NAMES } from '../tasks/registry.js';
import type { SplitKind } from '../tasks/types.js';

export const SPLIT_PROTOCOLS: Readonly<Record<SplitKind, string>> = {
  small: 'train = train; dev shuffled, halved into validation / test',
  large: 'validation = 1,000 rows held out of shuffled train (n/10 under 2,000 rows); test = dev',
  mnli: 'validation = dev_mismatched; test = dev_matched',
};

export interface TaskRow {
  name: string;
  metrics: string[];
  primaryMetric: string;
  labels: string[] | null;
  /** what the decoder produces: a label word, a similarity score (STS-B) or free text (QA) */
  target: 'label' | 'score' | 'text';
  splitKind: SplitKind;
  splitProtocol: string;
  bundledData: boolean;
}

export function taskRows(): TaskRow[] {
  let bundled: string | null = null;
  try {
    bundled = bundledDataDir();
  } catch {
    bundled = null;
  }
  return TASK_NAMES.map((name) => {
    const t = getTask(name);
    return {
      name, metrics: t.metricNames, primaryMetric: t.primaryMetric, labels: t.labelWords, target: t.labelWords !== null ? 'label' : t.labelList !== undefined ? 'score' : 'text', splitKind: t.splitKind,
      splitProtocol: SPLIT_PROTOCOLS[t.splitKind],
      bundledData: bundled !== null && fs.existsSync(path.join(bundled, name)),
    };
  });
}

export function tasksCommand(): Command {
  return new Command('tasks')
    .summary('list the tasks with their metrics and split protocol')
    .description('List the task names `train --task` accepts, with their metrics (the primary one selects the best\n'
      + 'checkpoint), label words, and how DePT cuts train / validation / test from the original splits (spec §2.1).\n'
      + 'Splits use the reference\'s torch.randperm(seed 42) permutations, so they match DePT\'s exactly.')
    .option('--json', 'print a JSON array')
    .addHelpText('after', `
Besides these, --task local trains on your own files (--train-file, --dev-file, --text-column, --label-column,
--template). Aliases such as "SST-2", "glue-sst2" and "superglue-cb" are accepted.

Examples:
  $ softprompt tasks
  $ softprompt tasks --json
`)
    .action((o: { json?: boolean }) => {
      const rows = taskRows();
      if (o.json === true) {
        process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        return;
      }
      const w = (s: string) => process.stdout.write(s + '\n');
      const metrics = (r: TaskRow) => r.metrics.map((m) => (m === r.primaryMetric ? `${m}*` : m)).join(', ');
      const nameW = Math.max(4, ...rows.map((r) => r.name.length));
      const metW = Math.max(7, ...rows.map((r) => metrics(r).length));
      const labW = Math.max(6, ...rows.map((r) => (r.labels?.join(' ') ?? `(${r.target})`).length));
      w(`${'task'.padEnd(nameW)}  ${'metrics'.padEnd(metW)}  ${'labels'.padEnd(labW)}  splits`);
      for (const r of rows) {
        w(`${r.name.padEnd(nameW)}  ${metrics(r).padEnd(metW)}  ${(r.labels?.join(' ') ?? `(${r.target})`).padEnd(labW)}  ${r.splitKind}${r.bundledData ? ' (bundled slice in data/)' : ''}`);
      }
      w('');
      w('* primary metric (model selection)');
      for (const [kind, text] of Object.entries(SPLIT_PROTOCOLS)) w(`${kind.padEnd(6)} ${text}`);
    });
}
