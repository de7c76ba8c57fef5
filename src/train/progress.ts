/**
 * Training progress on stderr. On a terminal (stream.isTTY === true) a cli-progress bar shows step/total, the
 * loss, throughput and ETA. Anywhere else (a log file, CI) it prints one plain line every `every` steps and on the
 * last step:
 *
 *   step 200/1000 | loss 0.6931 | 5120 tok/s | elapsed 0:01:02 | ETA 0:04:08
 *
 * `quiet` prints nothing at all. The loss shown is the mean over the steps since the previous line (or, on a
 * terminal, over the last `every` steps).
 */

import cliProgress from 'cli-progress';

export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

export interface ProgressOptions {
  /** Last step of the run. */
  total: number;
  /** Step already reached when this run starts (resume); ETA counts only steps run here. */
  startStep?: number;
  /** Default process.stderr. */
  stream?: ProgressStream;
  /** Plain mode: one line every `every` steps; default 50. */
  every?: number;
  quiet?: boolean;
  /** Clock in ms; default performance.now. */
  now?: () => number;
}

export interface ProgressUpdate {
  step: number;
  loss: number;
  /** Shown when given; otherwise examplesPerSec, if given. */
  tokensPerSec?: number;
  examplesPerSec?: number;
}

export interface ProgressReporter {
  update(u: ProgressUpdate): void;
  /** A line of text (eval results, "saved checkpoint-1000") that does not garble the bar. */
  message(line: string): void;
  stop(): void;
}

export function createProgress(options: ProgressOptions): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  if (options.quiet === true) return { update() {}, message() {}, stop() {} };
  return stream.isTTY === true ? new BarProgress(options, stream) : new LineProgress(options, stream);
}

function rateText(u: ProgressUpdate): string {
  if (u.tokensPerSec !== undefined) return `${Math.round(u.tokensPerSec)} tok/s`;
  if (u.examplesPerSec !== undefined) return `${u.examplesPerSec.toFixed(1)} ex/s`;
  return '';
}

/** h:mm:ss */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h}:${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

class LineProgress implements ProgressReporter {
  private readonly total: number;
  private readonly startStep: number;
  private readonly every: number;
  private readonly now: () => number;
  private readonly t0: number;
  private losses: number[] = [];

  constructor(options: ProgressOptions, private readonly stream: ProgressStream) {
    this.total = options.total;
    this.startStep = options.startStep ?? 0;
    this.every = Math.max(1, options.every ?? 50);
    this.now = options.now ?? (() => performance.now());
    this.t0 = this.now();
  }

  update(u: ProgressUpdate): void {
    this.losses.push(u.loss);
    if (u.step % this.every !== 0 && u.step !== this.total) return;
    const mean = this.losses.reduce((a, b) => a + b, 0) / this.losses.length;
    this.losses = [];
    const elapsed = this.now() - this.t0;
    const done = u.step - this.startStep;
    const eta = done > 0 ? (elapsed / done) * (this.total - u.step) : NaN;
    const parts = [`step ${u.step}/${this.total}`, `loss ${mean.toFixed(4)}`, rateText(u)];
    parts.push(`elapsed ${formatDuration(elapsed)}`, `ETA ${formatDuration(eta)}`);
    this.stream.write(parts.filter((p) => p !== '').join(' | ') + '\n');
  }

  message(line: string): void {
    this.stream.write(line + '\n');
  }

  stop(): void {}
}

class BarProgress implements ProgressReporter {
  private readonly bar: cliProgress.SingleBar;
  private readonly window: number;
  private losses: number[] = [];
  private active = true;

  constructor(options: ProgressOptions, private readonly stream: ProgressStream) {
    this.window = Math.max(1, options.every ?? 50);
    this.bar = new cliProgress.SingleBar(
      {
        stream,
        format: 'train {bar} {value}/{total} | loss {loss} | {rate} | ETA {eta_formatted}',
        barsize: 30,
        hideCursor: null,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(options.total, options.startStep ?? 0, { loss: '-', rate: '' });
  }

  update(u: ProgressUpdate): void {
    this.losses.push(u.loss);
    if (this.losses.length > this.window) this.losses.shift();
    const mean = this.losses.reduce((a, b) => a + b, 0) / this.losses.length;
    this.bar.update(u.step, { loss: mean.toFixed(4), rate: rateText(u) });
  }

  message(line: string): void {
    // Clear the bar's line and print; the next update redraws the bar below.
    this.stream.write('\r\x1b[2K' + line + '\n');
  }

  stop(): void {
    if (!this.active) return;
    this.active = false;
    this.bar.stop();
  }
}
