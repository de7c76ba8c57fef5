/** report.html for a train run, from what the run wrote: summary, run_config.json, metrics.jsonl, the model card. */
import { join, resolve } from 'node:path';
import { MODEL_CARD_FILE } from '../methods/model-card.js';
import type { TrainConfig } from './config.js';
import { METRICS_FILE } from './loop.js';
import { readMetrics } from './metrics-log.js';
import { readIfExists, writeRunReport } from './report.js';
import type { TrainRunResult } from './run.js';

export function writeTrainReport(cfg: TrainConfig, r: TrainRunResult, primaryMetric: string): string {
  const { loop } = r;
  const status = loop.interrupted ? `interrupted at step ${loop.step}` : loop.stoppedEarly ? `stopped early at step ${loop.step}` : 'completed';
  const metrics: Record<string, Record<string, number>> = {};
  if (r.bestValidation !== null) metrics[`validation${loop.bestStep !== null ? ` (best, step ${loop.bestStep})` : ''}`] = r.bestValidation;
  if (r.test !== null) metrics.test = r.test;
  return writeRunReport(r.runDir, {
    title: `${r.method} on ${r.task}`,
    subtitle: `${resolve(r.runDir)} · ${new Date().toISOString()}`,
    facts: {
      status,
      model: cfg.model,
      task: r.task,
      method: r.method,
      steps: `${loop.step} of ${cfg.steps}${loop.resumedFrom > 0 ? ` (resumed from ${loop.resumedFrom})` : ''}`,
      'trainable parameters': r.trainableParams,
      'first loss': r.firstLoss,
      'last loss': r.lastLoss,
      'best step': loop.bestStep,
      [`best ${primaryMetric}`]: loop.bestMetric,
      'time (s)': Number(r.seconds.toFixed(1)),
      adapter: r.adapterDir === '' ? null : resolve(r.adapterDir),
    },
    metrics,
    config: cfg,
    ...(r.adapterDir !== '' ? { modelCard: readIfExists(join(r.adapterDir, MODEL_CARD_FILE)) } : {}),
    records: readMetrics(join(r.runDir, METRICS_FILE)),
    curves: { primaryMetric },
  });
}
