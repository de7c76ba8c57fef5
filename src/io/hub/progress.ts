/**
 * Download progress on stderr: a cli-progress bar on a terminal (stream.isTTY === true), nothing anywhere else
 * (logs and CI stay clean; the files are named in errors if something fails).
 *
 *   google/flan-t5-small model.safetensors [████████░░░░░░░░] 52% | 160.2 MB / 308.0 MB | 11.3 MB/s
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

/** 812.0 kB, 8.9 MB, 1.2 GB (decimal units, as the Hub shows sizes) */
function bytesText(n: number): string {
  return n < MB ? `${(n / 1e3).toFixed(1)} kB` : n < 1e9 ? `${(n / MB).toFixed(1)} MB` : `${(n / 1e9).toFixed(2)} GB`;
}

export function createByteProgress(label: string, stream: ByteProgressStream | null): ByteProgress {
  if (stream === null || stream.isTTY !== true) return SILENT;
  let bar: cliProgress.SingleBar | null = null;
  let t0 = 0;
  let first = 0;
  let value = 0;
  const payload = (): Record<string, string> => {
    const s = (performance.now() - t0) / 1000;
    return { done: bytesText(value), speed: s > 0.2 ? `${((value - first) / MB / s).toFixed(1)} MB/s` : '' };
  };
  return {
    start(file, total, done) {
      bar?.stop();
      bar = new cliProgress.SingleBar({
        stream, format: `${label} ${file} [{bar}] {percentage}% | {done} / {size} | {speed}`,
        barsize: 24, hideCursor: false, clearOnComplete: false, noTTYOutput: false, fps: 10,
      }, cliProgress.Presets.shades_classic);
      t0 = performance.now();
      first = value = done;
      bar.start(Math.max(1, total), done, { ...payload(), size: bytesText(total) });
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
