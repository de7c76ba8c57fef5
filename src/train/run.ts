/**
 * One training run, end to end: model folder → task splits → tokenizer → method transform → model → loss →
 * AdamW, with evaluation, best-checkpoint selection, exact resume, and at the end the best adapter saved (with a
 * model card), test metrics and a summary in the run folder.
 *
 *   runs/<task>-<method>/
 *     run_config.json    the resolved configuration
 *     metrics.jsonl      one line per step / evaluation
 *     loss.svg eval.svg  training curves
 *     checkpoint-<step>/ params + AdamW state + trainer state + softprompt_task.json (atomic; newest and best kept)
 *     softprompt_task.json the task definition (src/tasks/saved-task.ts), also in adapter/
 *     adapter/           adapter_config.json + adapter_model.safetensors + README.md (the best step's)
 *     summary.json       best validation metrics, test metrics, timing
 *     report.html        all of the above on one page (curves, metrics, config, model card) for a browser
 */
import { mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { setThreads } from '../engine/index.js';
import { SoftpromptError } from '../errors.js';
import { atomicWriteFile } from '../io/atomic.js';
import { hubIdOfPath } from '../io/hub/index.js';
import { loadTokenizerSync, type Tokenizer } from '../io/tokenizer.js';
import type { AnyMethodEntry } from '../methods/entry.js';
import { withMethod, type InitContext, type MethodModel, type PeftMethod } from '../methods/method.js';
import { writeModelCard } from '../methods/model-card.js';
import { getMethod, loadAdapter, optimizerGroups, saveAdapter } from '../methods/registry.js';
import { checkVocabulary, loadAnyModel, type AnyModel } from '../models/registry.js';
import type { CausalLM, Seq2SeqLM, WeightTraining } from '../models/types.js';
import { lossAndGrad, predictAny } from '../predict/index.js';
import { evaluate as taskMetrics } from '../tasks/metrics.js';
import type { EncodedExample } from '../tasks/encode.js';
import { SAVED_TASK_FILE, savedTaskOf, writeSavedTask, type SavedTask } from '../tasks/saved-task.js';
import type { TrainConfig } from './config.js';
import { describeTruncation, loadRunData, type RunData, type Truncation } from './data.js';
import { trainLoop, type TrainLoopResult } from './loop.js';
import { Rng } from './rng.js';
import { writeTrainReport } from './run-report.js';

export interface TrainRunResult {
  runDir: string;
  adapterDir: string;
  task: string;
  method: string;
  trainableParams: number;
  loop: TrainLoopResult;
  firstLoss: number;
  lastLoss: number;
  bestValidation: Record<string, number> | null;
  test: Record<string, number> | null;
  seconds: number;
  /** rows --max-length cut, per split */
  truncation: Truncation;
  /** the trained method (best step's params); not written to summary.json */
  trained?: PeftMethod;
}

export function defaultRunDir(cfg: Pick<TrainConfig, 'output' | 'task' | 'method'>): string {
  return cfg.output ?? join('runs', `${cfg.task}-${cfg.method}`);
}

/** The method a config describes, initialised by its registry entry (or loaded from `initAdapter`). */
export function createMethod(cfg: TrainConfig, model: MethodModel, tok: Tokenizer | null): PeftMethod {
  const entry = getMethod(cfg.method);
  const d = model.info.dModel;
  const ctx: InitContext = {
    dModel: d, vocabSize: model.info.vocabSize, embed: (ids) => model.embed(ids),
    rng: new Rng(cfg.seed, 0x1417), model,
  };
  if (tok !== null) ctx.tokenize = (text) => tok.encode(text, { addSpecialTokens: true });
  if (cfg.initAdapter !== undefined) {
    const loaded = loadAdapter(cfg.initAdapter, { expectDModel: d });
    if (loaded.type !== entry.name) {
      throw new SoftpromptError('invalid_config', `--init-adapter ${cfg.initAdapter} holds a ${loaded.type} adapter, but --method is ${cfg.method}.`, { path: 'config.initAdapter' });
    }
    if (loaded.maxInputLength < cfg.maxLength) {
      throw new SoftpromptError('invalid_config', `--init-adapter ${cfg.initAdapter} was trained with max_length ${loaded.maxInputLength} (its A has one row per position), but --max-length is ${cfg.maxLength}.`, {
        path: 'config.maxLength', hint: `Pass --max-length ${loaded.maxInputLength}.`,
      });
    }
    return loaded;
  }
  return entry.create(cfg, ctx);
}

export interface RunHooks {
  /** human-readable progress lines (default: stderr) */
  log?: (line: string) => void;
  /** catch Ctrl-C / SIGTERM: checkpoint the current step and stop (the CLI sets it; see trainLoop) */
  interruptible?: boolean;
  /** the command that continues an interrupted run, printed with the checkpoint */
  resumeHint?: string;
  /** stop after this step as if interrupted (tests of resume) */
  stopAtStep?: number;
}

/** The model tagged with its family (from info.kind). */
export function tagModel(model: Seq2SeqLM | CausalLM): AnyModel {
  return model.info.kind === 'causal' ? { kind: 'causal', model: model as CausalLM } : { kind: 'seq2seq', model: model as Seq2SeqLM };
}

/** Predictions on a split; `data` must be encoded for the model's family (loadRunData's `kind`). Attaches the method. */
export function predict(cfg: TrainConfig, model: Seq2SeqLM | CausalLM, method: PeftMethod, tok: Tokenizer, data: RunData,
  split: 'validation' | 'test'): string[] {
  return withMethod(model, method, () => predictAttached(cfg, model, method, tok, data, split));
}

function predictAttached(cfg: TrainConfig, model: Seq2SeqLM | CausalLM, method: PeftMethod, tok: Tokenizer, data: RunData,
  split: 'validation' | 'test'): string[] {
  const examples = split === 'validation' ? data.validation : data.test;
  const opts = { batchSize: cfg.evalBatchSize, maxNewTokens: cfg.maxNewTokens, maxLength: cfg.maxLength, ...(cfg.padToMax ? { padTo: cfg.maxLength } : {}) };
  const labelWords = cfg.evalMode === 'rank' ? data.task.labelWords : null;
  return predictAny(tagModel(model), method, tok, examples, labelWords, opts);
}

export function trainRun(cfg: TrainConfig, hooks: RunHooks = {}): TrainRunResult {
  const t0 = performance.now();
  const log = hooks.log ?? ((line: string) => process.stderr.write(line + '\n'));
  if (cfg.threads > 0) setThreads(cfg.threads);
  const runDir = defaultRunDir(cfg);
  mkdirSync(runDir, { recursive: true });

  const entry = getMethod(cfg.method);
  const trained = cfg.precision === 'bf16' ? entry.trainedWeights?.(cfg) : undefined;
  const lm = loadAnyModel(cfg.model, { precision: cfg.precision, ...(trained !== undefined ? { keepFp32: trained } : {}) });
  const model = lm.model;
  if (cfg.savedActivations === 'bf16') {
    if (lm.kind !== 'seq2seq' || !('savedActivations' in lm.model)) {
      throw new SoftpromptError('invalid_config', `savedActivations 'bf16' is implemented for T5 models only (${cfg.model} is a ${lm.kind} model).`, { path: 'savedActivations' });
    }
    if (cfg.precision !== 'bf16') {
      throw new SoftpromptError('invalid_config', `savedActivations 'bf16' needs precision 'bf16' (got '${cfg.precision}').`, { path: 'savedActivations' });
    }
    lm.model.savedActivations = 'bf16';
  }
  const tokenizerPath = cfg.tokenizer ?? cfg.model;
  const tok = loadTokenizerSync(tokenizerPath);
  checkVocabulary(tok, tokenizerPath, model.info.vocabSize, cfg.model);
  const data = loadRunData(cfg, tok, lm.kind);
  const method = createMethod(cfg, model, tok);
  method.attach(model); // before params(): a weight method's tensors are the model's
  try {
    return runAttached(cfg, hooks, { t0, log, runDir, lm, tok, data, entry, method });
  } finally {
    method.detach(model);
  }
}

/** The run with the method attached to the model (trainRun detaches it afterwards, also on errors). */
function runAttached(cfg: TrainConfig, hooks: RunHooks, r: {
  t0: number; log: (line: string) => void; runDir: string; lm: AnyModel; tok: Tokenizer; data: RunData;
  entry: AnyMethodEntry; method: PeftMethod;
}): TrainRunResult {
  const { t0, log, runDir, lm, tok, data, entry, method } = r;
  const model = lm.model;
  const maxPos = model.info.maxPositions;
  if (lm.kind === 'causal' && maxPos !== undefined) {
    const need = method.numVirtualTokens + cfg.maxLength + (cfg.evalMode === 'generate' ? cfg.maxNewTokens : 0);
    if (need > maxPos) {
      throw new SoftpromptError('invalid_config', `${method.numVirtualTokens} virtual tokens + max_length ${cfg.maxLength}${cfg.evalMode === 'generate' ? ` + ${cfg.maxNewTokens} new tokens` : ''} = ${need} positions, but ${cfg.model} has only ${maxPos} (n_positions).`, {
        path: 'config.maxLength', hint: 'lower --max-length or --prompt-length.',
      });
    }
  }
  const params = method.params();
  const trainable = method.numParams();
  log(`softprompt: ${cfg.method} on ${data.task.name} (${data.train.length} train / ${data.validation.length} validation / ${data.test.length} test; splits: ${data.splits.splitProtocol}), model ${cfg.model}, ${trainable.toLocaleString('en-US')} trainable parameters`);
  log(`  ${entry.summary(method)}`);
  const t = data.truncation;
  const cut = t.train.truncated + t.validation.truncated + t.test.truncated;
  log(`  truncated to --max-length ${t.maxLength} tokens: ${describeTruncation(t)} rows${cut > 0 ? ' (raise --max-length to keep whole inputs)' : ''}`);
  atomicWriteFile(join(runDir, 'run_config.json'), JSON.stringify(cfg, null, 2) + '\n');
  const savedTask: SavedTask = savedTaskOf({
    task: data.task, taskName: cfg.task === 'local' ? 'local' : data.task.name, evalMode: cfg.evalMode, maxLength: cfg.maxLength,
    maxNewTokens: cfg.maxNewTokens, seed: cfg.seed, modelFamily: model.info.architecture,
  });
  writeSavedTask(runDir, savedTask);

  let firstLoss = NaN, lastLoss = NaN;
  let bestValidation: Record<string, number> | null = null;
  const padTo = cfg.padToMax ? cfg.maxLength : undefined;
  const evalFn = (split: 'validation' | 'test') => {
    const preds = predictAttached(cfg, model, method, tok, data, split);
    return taskMetrics(data.task, preds, split === 'validation' ? data.validationTargets : data.testTargets);
  };

  const groups = optimizerGroups(entry, cfg);
  const loop = trainLoop({
    params, groups: groups.map(({ name, lr, weightDecay }) => ({ name, lr, weightDecay })),
    steps: cfg.steps, warmupSteps: cfg.warmupSteps, maxGradNorm: cfg.maxGradNorm,
    numExamples: data.train.length, batchSize: cfg.batchSize,
    ...(cfg.groupByLength ? { lengths: data.train.map((x) => exampleLength(x, lm.kind)) } : {}),
    evalEvery: cfg.evalEvery, saveEvery: cfg.saveEvery, saveEveryMinutes: cfg.saveEveryMinutes, keep: cfg.keepCheckpoints,
    interruptible: hooks.interruptible === true, ...(hooks.resumeHint !== undefined ? { resumeHint: hooks.resumeHint } : {}),
    ...(cfg.patience !== undefined ? { patience: cfg.patience } : {}),
    runDir, seed: cfg.seed, resume: cfg.resume,
    primaryMetric: data.task.primaryMetric, loadBestAtEnd: true, quiet: cfg.quiet,
    onParamsRestored: () => (model as Partial<WeightTraining>).weightsChanged?.(),
    optimizer: { eps: 1e-6 },
    ...(hooks.stopAtStep !== undefined ? { stopAtStep: hooks.stopAtStep } : {}),
    extra: { method: cfg.method, task: data.task.name, model: cfg.model },
    checkpointFiles: { [SAVED_TASK_FILE]: JSON.stringify(savedTask, null, 2) + '\n' },
    computeLossAndGrads: (rng, batch) => {
      const out = lossAndGrad(lm, method, data.train, batch.indices, { padId: tok.padId, ...(padTo !== undefined ? { padTo } : {}), targetLength: data.targetLength },
        { train: cfg.dropout, seed: rng.nextU32() });
      if (Number.isNaN(firstLoss)) firstLoss = out.loss;
      lastLoss = out.loss;
      return out;
    },
    evaluate: () => evalFn('validation'),
    onBest: (_step, metrics) => { bestValidation = metrics; },
    ...(hooks.log !== undefined ? { log: hooks.log } : {}),
  });

  const adapterDir = join(runDir, 'adapter');
  let test: Record<string, number> | null = null;
  if (!loop.interrupted) {
    if (cfg.evalEvery === 0 || bestValidation === null) bestValidation = evalFn('validation');
    test = data.test.length > 0 ? evalFn('test') : null;
    const baseModel = hubIdOfPath(cfg.model) ?? cfg.model; // a Hub cache snapshot is recorded by its id, as PEFT does
    saveAdapter(adapterDir, method, {
      baseModel, tokenizer: cfg.tokenizer !== undefined ? hubIdOfPath(cfg.tokenizer) ?? cfg.tokenizer : baseModel, ...(cfg.adapterFormat !== undefined ? { format: cfg.adapterFormat } : {}),
      modelInfo: { dModel: model.info.dModel, numLayers: model.info.numLayers, numHeads: model.info.numHeads, kind: model.info.kind },
    });
    writeSavedTask(adapterDir, savedTask);
    writeModelCard(adapterDir, {
      method, baseModel,
      training: { task: data.task.name, steps: loop.step, batchSize: cfg.batchSize, ...Object.fromEntries(groups.map((g) => [g.lrKey, g.lr])), seed: cfg.seed, trainExamples: data.train.length, bestStep: loop.bestStep ?? loop.step, splitProtocol: data.splits.splitProtocol },
      metrics: { ...prefixKeys('validation', bestValidation ?? {}), ...prefixKeys('test', test ?? {}) },
    });
  }
  const result: TrainRunResult = {
    runDir, adapterDir: existsSync(adapterDir) ? adapterDir : '', task: data.task.name, method: cfg.method, trainableParams: trainable,
    loop, firstLoss, lastLoss, bestValidation, test, seconds: (performance.now() - t0) / 1000, truncation: data.truncation,
  };
  atomicWriteFile(join(runDir, 'summary.json'), JSON.stringify(result, null, 2) + '\n');
  writeTrainReport(cfg, result, data.task.primaryMetric);
  result.trained = method;
  return result;
}

/** what padding is driven by: the encoder input (seq2seq), the whole source + target sequence (causal) */
function exampleLength(x: EncodedExample, kind: AnyModel['kind']): number {
  return kind === 'causal' ? x.source.length + x.target.length : x.source.length;
}

function prefixKeys(prefix: string, rec: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(rec).map(([k, v]) => [`${prefix}_${k}`, v]));
}
