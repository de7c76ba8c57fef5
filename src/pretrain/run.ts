/**
 * The pretraining loop around one step function. Data, model and output are ready (prepare.ts); the step itself
 * is the full fine-tuning method's, which is not in this build yet.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SoftpromptError } from '../errors.js';
import type { Seq2SeqBatch } from '../models/types.js';
import type { T5Model } from '../models/t5.js';
import type { PretrainConfig } from './config.js';
import { TOKENIZER_FILES, type PreparedModel, type PreparedPretraining } from './prepare.js';
import type { PretrainBatch } from './stream.js';
import { writeNewT5Folder } from './t5-init.js';

/**
 * ───────────────────────────── PLUG POINT: the full fine-tuning method ─────────────────────────────
 * One optimizer step of pretraining on `batch`: embed batch.inputIds with the model's `shared` table, T5 forward
 * on (inputsEmbeds, encoderMask, labels) with dropout, backward with WEIGHT gradients (all tensors trainable),
 * clip to cfg.maxGradNorm, AdamW / Adafactor step at lr·schedule(step). Returns the mean token loss.
 * With main's WeightTraining (t5-grads) that is, once per run: grads = model.setTrainable(all weight names),
 * Params over model.weights() (decay per methods/full/select.ts), and per step: zero the grads,
 * out = model.lossAndGrad(toSeq2SeqBatch(model, batch), { train: true, seed }), model.embedBackward(batch.inputIds,
 * out.dInputsEmbeds, B, Te, 0), clipGradNorm, optimizer.step(lrFactor(step)).
 * The checkpoint of step `step` must store the optimizer state, `stream.state` (three counters) and
 * `stream.fingerprint`, so that a resumed run draws exactly the batches an uninterrupted one would. The trained
 * model is saved with saveT5Folder (t5-save.ts) + copyTokenizerFiles, in bf16 shards of shardBudget(maxShardMb).
 */
export function pretrainStep(_batch: PretrainBatch, _step: number, _cfg: PretrainConfig): number {
  throw new SoftpromptError('unsupported',
    'softprompt pretrain needs the full fine-tuning method (weight gradients), which is not in this build yet; the data stream and the model are ready (--dry-run shows them, --init-only writes the initialised model).',
    { path: 'pretrainStep' });
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

/** The loop: batches from the stream, one pretrainStep each. */
export function runPretraining(cfg: PretrainConfig, p: PreparedPretraining, log: (line: string) => void): void {
  for (let step = 1; step <= cfg.steps; step++) {
    const batch = p.stream.nextBatch(cfg.batchSize);
    const loss = pretrainStep(batch, step, cfg);
    log(`step ${step}/${cfg.steps} loss ${loss.toFixed(4)}`);
  }
}

/** Tensor bytes per shard so that each whole file (header included) stays within maxShardMb · 10^6 bytes. */
export function shardBudget(maxShardMb: number): number {
  return Math.max(1, Math.floor(maxShardMb * 1e6) - 64 * 1024);
}
