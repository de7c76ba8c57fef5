/** Checks shared by the model unit tests (t5, gpt2, llama). */
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile, writeSafetensors } from '../src/io/safetensors.js';

/**
 * Central finite differences of `loss()` at `probes` coordinates of `x` (spread by a stride), against the
 * analytic gradient; returns max |analytic − FD| / max |analytic|.
 */
export function finiteDifferenceError(loss: () => number, x: Float32Array, grad: Float32Array, eps: number, probes = 40): number {
  let maxG = 0;
  for (const g of grad) maxG = Math.max(maxG, Math.abs(g));
  let worst = 0;
  for (let k = 0; k < probes; k++) {
    const i = (k * 977) % grad.length;
    const orig = x[i]!;
    x[i] = orig + eps; const lp = loss();
    x[i] = orig - eps; const lm = loss();
    x[i] = orig;
    worst = Math.max(worst, Math.abs((lp - lm) / (2 * eps) - grad[i]!) / maxG);
  }
  return worst;
}

export interface FolderEdit {
  /** keys merged into config.json */
  config?: Record<string, unknown>;
  /** tensor left out of model.safetensors */
  drop?: string;
  /** tensor renaming */
  rename?: (name: string) => string;
}

/** A copy of a model folder (config.json + model.safetensors) in a temp folder, with edits. */
export function editedCopy(fixtureDir: string, edit: FolderEdit): string {
  const dir = mkdtempSync(join(tmpdir(), 'sp-model-'));
  const cfg = { ...JSON.parse(readFileSync(join(fixtureDir, 'config.json'), 'utf8')), ...edit.config };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  if (edit.drop === undefined && edit.rename === undefined) {
    copyFileSync(join(fixtureDir, 'model.safetensors'), join(dir, 'model.safetensors'));
  } else {
    const st = SafetensorsFile.open(join(fixtureDir, 'model.safetensors'));
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const n of st.names()) if (n !== edit.drop) tensors[edit.rename?.(n) ?? n] = { shape: st.info(n).shape, data: st.getF32(n) };
    writeSafetensors(join(dir, 'model.safetensors'), tensors);
  }
  return dir;
}
