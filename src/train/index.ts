/** Model-agnostic training machinery: optimizer, schedule, clipping, data order, checkpoints, logs, the loop. */

export { makeParam, numel, zeroGrads, type Param, type ParamGroup } from './params.js';
export { AdamW, type AdamWOptions, type AdamWState } from './optimizer.js';
export { lrFactor, validateSchedule, type ScheduleKind, type ScheduleOptions } from './schedule.js';
export { assertFinite, clipGradNorm, gradNorm } from './clip.js';
export { Rng, type RngState } from './rng.js';
export { DataOrder, type DataBatch, type DataCursor } from './data-order.js';
export {
  checkpointName,
  cleanInterruptedSaves,
  defaultCheckpointIO,
  latestCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  restoreParams,
  rotateCheckpoints,
  saveCheckpoint,
  type CheckpointContent,
  type CheckpointIO,
  type JsonValue,
  type LoadedCheckpoint,
  type SaveOptions,
  type SavedTensor,
  type TrainerState,
} from './checkpoint.js';
export { MetricsLog, readMetrics, truncateMetrics, type MetricsRecord } from './metrics-log.js';
export {
  createProgress,
  formatDuration,
  type ProgressOptions,
  type ProgressReporter,
  type ProgressStream,
  type ProgressUpdate,
} from './progress.js';
export {
  evalChart,
  lossChart,
  renderLineChart,
  smooth,
  writeCurves,
  type ChartOptions,
  type CurvesOptions,
  type Point,
  type Series,
} from './curves.js';
export {
  EarlyStopping,
  type EarlyStoppingOptions,
  type EarlyStoppingState,
  type EarlyStoppingUpdate,
} from './early-stopping.js';
export {
  METRICS_FILE,
  trainLoop,
  type StepOutput,
  type TrainBatch,
  type TrainLoopOptions,
  type TrainLoopResult,
} from './loop.js';
