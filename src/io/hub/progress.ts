/**
 * Download progress on stderr: a cli-progress bar on a terminal (stream.isTTY === true), nothing anywhere else
 * (logs and CI stay clean; the files are named in errors if something fails).
 *
 *   google/flan-t5-small model.safetensors [████████░░░░░░░░] 52% | 160.2/308.0 MB | 11.3 MB/s
 */
import cliProgress from 'cli-progress';

export type ByteProgressStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

export interface ByteProgress {
  /** a new file: `done` bytes already on disk (a resumed download), `total` its size */
  start(file: string, total: number, done: number): void;
  add(bytes: number): void;
  stop(): void;
}

export const SILENT: ByteProgress = { start() {}, add() {}, stop() {} };

const MB = 1e6;

export function createByteProgress(label: string, stream: ByteProgressStream | null): ByteProgress {
  if (stream === null || stream.isTTY !== true) return SILENT;
  let bar: cliProgress.SingleBar | null = null;
  let t0 = 0;
  let first = 0;
  let value = 0;
  const payload = (): Record<string, string> => {
    const s = (performance.now() - t0) / 1000;
    return { done: (value / MB).toFixed(1), speed: s > 0.2 ? `${((value - first) / MB / s).toFixed(1)} MB/s` : '' };
  };
  return {
    start(file, total, done) {
      bar?.stop();
      bar = new cliProgress.SingleBar({
        stream, format: `${label} ${file} [{bar}] {percentage}% | {done}/{size} MB | {speed}`,
        barsize: 24, hideCursor: false, clearOnComplete: false, noTTYOutput: false, fps: 10,
      }, cliProgress.Presets.shades_classic);
      t0 = performance.now();
      first = value = done;
      bar.start(Math.max(1, total), done, { ...payload(), size: (total / MB).toFixed(1) });
    },
    add(bytes) {
      value += bytes;
      bar?.update(value, payload());
    },
    stop() {
      bar?.update(value, payload());
      bar?.stop();
      bar = null;
    },
  };
}
