/**
 * The pretraining loop around one step function. Data, model and output are ready (prepare.ts); the step itself
 * trains every weight (fp32 master weights and AdamW moments) through the model's WeightTraining interface.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import { bf16Available, setThreads } from '../engine/index.js';
import { openWeights } from '../io/hf-folder.js';
import { getMethod, optimizerGroups } from '../methods/registry.js';
import { loadT5Weights, T5Model } from '../models/t5.js';
import type { Seq2SeqBatch, WeightSource } from '../models/types.js';
import { METRICS_FILE, trainLoop } from '../train/loop.js';
import { readMetrics } from '../train/metrics-log.js';
import { writeRunReport } from '../train/report.js';
import type { Param, ParamGroup } from '../train/params.js';
import { Rng } from '../train/rng.js';
import { initializerFactor, initT5Weights } from './t5-init.js';
import { saveT5Folder } from './t5-save.js';
import type { PretrainConfig } from './config.js';
import { TOKENIZER_FILES, type PreparedModel, type PreparedPretraining } from './prepare.js';
import type { PretrainBatch } from './stream.js';
import { writeNewT5Folder } from './t5-init.js';

/**
 * The full fine-tuning method of the registry (every weight trainable, fp32 master weights, HF Trainer's
 * no-decay rule for biases and norms) attached to the model, with its optimizer groups at the run's lr and
 * weight decay: the same method `softprompt train --method full` uses.
 */
export function pretrainParams(model: T5Model, cfg: Pick<PretrainConfig, 'lr' | 'weightDecay' | 'inputLength'>): { params: Param[]; groups: ParamGroup[] } {
  const entry = getMethod('full');
  const settings = { maxLength: cfg.inputLength, lr: cfg.lr, weightDecay: cfg.weightDecay };
  const rng = new Rng(0, 0);
  const method = entry.create(settings, { dModel: model.info.dModel, vocabSize: model.info.vocabSize, embed: (ids) => model.embed(ids), rng, model });
  method.attach(model);
  return { params: method.params(), groups: optimizerGroups(entry, settings).map(({ name, lr, weightDecay }) => ({ name, lr, weightDecay })) };
}

/** The model to pretrain: freshly initialised as HF _init_weights (new) or read from the folder (continue). */
export function pretrainModel(cfg: PretrainConfig, p: PreparedModel): T5Model {
  const config = cfg.dropout === undefined ? p.config : { ...p.config, dropout_rate: cfg.dropout };
  // precision bf16: every weight is trained, so all stay fp32 masters and compute through bf16 copies
  const precision = cfg.precision === 'bf16' && bf16Available() ? 'bf16' : 'fp32';
  if (p.start === 'continue') return T5Model.load({ ...p.configJson, ...(cfg.dropout === undefined ? {} : { dropout_rate: cfg.dropout }) }, openWeights(cfg.model!), path.join(cfg.model!, 'config.json'), precision, () => true);
  const init = initT5Weights(config, cfg.seed, initializerFactor(p.configJson));
  const src: WeightSource = {
    has: (name) => name in init,
    getF32Checked: (name) => init[name]!.data,
  };
  return new T5Model(config, loadT5Weights(config, src), precision);
}

/** The model's batch: input ids embedded with its `shared` table (decoder inputs are the labels shifted right). */
export function toSeq2SeqBatch(model: T5Model, b: PretrainBatch): Seq2SeqBatch {
  return { B: b.B, Te: b.Te, inputsEmbeds: model.embed(b.inputIds), encoderMask: b.encoderMask, S: b.S, labels: b.labels };
}

/** Copy the tokenizer files next to the model, so the folder loads on its own (softprompt and transformers). */
export function copyTokenizerFiles(fromDir: string, toDir: string): string[] {
  const copied: string[] = [];
  for (const f of TOKENIZER_FILES) {
    const src = path.join(fromDir, f);
    if (fs.existsSync(src)) {
      fs.copyFileSync(src, path.join(toDir, f));
      copied.push(f);
    }
  }
  return copied;
}

/** --init-only: the new model as an HF folder (config.json, bf16 shards ≤ maxShardMb, tokenizer). */
export function writeInitialModel(cfg: PretrainConfig, p: PreparedModel): { files: string[]; oversized: string[] } {
  if (p.start !== 'new') throw new SoftpromptError('invalid_config', '--init-only needs --model-config (a new model), not --model.', { path: 'config.modelConfig' });
  const written = writeNewT5Folder(cfg.output, p.configJson, { seed: cfg.seed, dtype: 'BF16', maxShardBytes: shardBudget(cfg.maxShardMb) });
  const tok = copyTokenizerFiles(p.tokenizerDir, cfg.output);
  return { files: [...written.files.map((f) => path.basename(f)), 'config.json', ...tok], oversized: written.oversized };
}

export interface PretrainResult {
  steps: number;
  interrupted: boolean;
  firstLoss: number;
  lastLoss: number;
  tokens: number;
  seconds: number;
  modelFiles: string[];
}

/**
 * The loop: the project's trainer (src/train/loop.ts: warmup + decay, clipping, AdamW, atomic checkpoints with
 * exact resume, Ctrl-C safe, metrics.jsonl, curves, progress) over batches from the stream. The stream needs no
 * checkpoint of its own: after step k it has drawn k·B rows, and stateAt(k·B) recomputes its counters.
 */
export function runPretraining(cfg: PretrainConfig, p: PreparedPretraining, log: (line: string) => void, hooks: { resumeHint?: string; stopAtStep?: number } = {}): PretrainResult {
  if (cfg.optimizer !== 'adamw') {
    throw new SoftpromptError('unsupported', `optimizer ${cfg.optimizer} is not implemented yet; use adamw.`, { path: 'config.optimizer' });
  }
  if (cfg.threads > 0) setThreads(cfg.threads);
  const t0 = performance.now();
  const model = pretrainModel(cfg, p);
  const { params, groups } = pretrainParams(model, cfg);
  let firstLoss = NaN, lastLoss = NaN, tokens = 0;
  const loop = trainLoop({
    params,
    groups,
    steps: cfg.steps, warmupSteps: cfg.warmupSteps, schedule: cfg.schedule, maxGradNorm: cfg.maxGradNorm,
    evalEvery: 0, saveEvery: cfg.saveEvery, saveEveryMinutes: cfg.saveEveryMinutes, keep: 1,
    runDir: cfg.output, seed: cfg.seed, resume: cfg.resume, quiet: cfg.quiet, interruptible: true,
    ...(hooks.resumeHint !== undefined ? { resumeHint: hooks.resumeHint } : {}),
    ...(hooks.stopAtStep !== undefined ? { stopAtStep: hooks.stopAtStep } : {}),
    extra: { pretrain: true, stream: p.stream.fingerprint },
    onParamsRestored: () => model.weightsChanged(),
    log,
    computeLossAndGrads: (rng, step) => {
      const want = (step.step - 1) * cfg.batchSize;
      if (p.stream.state.drawn !== want) p.stream.restore(p.stream.stateAt(want));
      const batch = p.stream.nextBatch(cfg.batchSize);
      const out = model.lossAndGrad(toSeq2SeqBatch(model, batch), { train: true, seed: rng.nextU32() });
      model.embedBackward(batch.inputIds, out.dInputsEmbeds, batch.B, batch.Te, 0);
      if (Number.isNaN(firstLoss)) firstLoss = out.loss;
      lastLoss = out.loss;
      const n = batch.B * batch.Te;
      tokens += n;
      return { loss: out.loss, tokens: n };
    },
  });
  let modelFiles: string[] = [];
  // a planned stop (stopAtStep) saves the model folder as the end of a run does; a signal leaves only the checkpoint
  const plannedStop = hooks.stopAtStep !== undefined && loop.step === hooks.stopAtStep;
  if (!loop.interrupted || plannedStop) {
    const written = saveT5Folder(cfg.output, p.configJson, model.config, model.tensors, { dtype: 'BF16', maxShardBytes: shardBudget(cfg.maxShardMb) });
    modelFiles = [...written.files.map((f) => path.basename(f)), 'config.json', ...copyTokenizerFiles(p.tokenizerDir, cfg.output)];
  }
  const result = { steps: loop.step, interrupted: loop.interrupted, firstLoss, lastLoss, tokens, seconds: (performance.now() - t0) / 1000, modelFiles };
  writeRunReport(cfg.output, {
    title: `pretrain ${path.basename(path.resolve(cfg.output))}`,
    subtitle: `${path.resolve(cfg.output)} · ${new Date().toISOString()}`,
    facts: {
      status: loop.interrupted ? `interrupted at step ${loop.step}` : 'completed',
      steps: `${loop.step} of ${cfg.steps}${loop.resumedFrom > 0 ? ` (resumed from ${loop.resumedFrom})` : ''}`,
      'tokens (this session)': tokens, 'first loss': firstLoss, 'last loss': lastLoss, 'time (s)': Number(result.seconds.toFixed(1)),
      'model files': modelFiles.length > 0 ? modelFiles.join(', ') : null,
    },
    config: cfg, records: readMetrics(path.join(cfg.output, METRICS_FILE)),
  });
  return result;
}

/** Tensor bytes per shard so that each whole file (header included) stays within maxShardMb · 10^6 bytes. */
export function shardBudget(maxShardMb: number): number {
  return Math.max(1, Math.floor(maxShardMb * 1e6) - 64 * 1024);
}
