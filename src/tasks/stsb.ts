/**
 * STS-B targets: a similarity score in [0, 5] rendered as a short decimal string.
 *
 * 'compat' reproduces DePT (`round_stsb_target`): `str(np.round((label * 5) / 5, decimals=1))`, which is just
 * "round to one decimal" (spec §2.6 quirk 1), applied to HF's float32 label. So 3.8 → "3.8", 3.75 → "3.8",
 * 0.25 → "0.2" (numpy rounds half to even), 0.85 → "0.9" (float32 0.85 is 0.8500000238…), 5 → "5.0".
 * 'fixed' is T5's recipe: `tf.round(label * 5) / 5` in float32 printed with one decimal, i.e. the nearest multiple
 * of 0.2, ties to even: 3.75 → "3.8", 3.7 → "3.6", 2.5 → "2.4", 0.1 → "0.0" (float32 0.1 × 5 rounds to 0.5).
 */

export type StsbRounding = 'compat' | 'fixed';

/** DePT's STS-B `labels_list`: [str(np.round(x, 1)) for x in np.arange(0, 5.2, 0.2)] = "0.0", "0.2", …, "5.0". */
export const STSB_LABEL_LIST: readonly string[] = Array.from({ length: 26 }, (_, i) => (i / 5).toFixed(1));

/** numpy's `rint`: round to the nearest integer, ties to even. */
export function rintHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f; // exact for finite doubles
  const r = d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
  return r === 0 && x < 0 ? -0 : r; // rint(-0.3) is -0.0
}

/** Python's `str(float)` for values in numpy's fixed-notation range: "3.8", "5.0", "-0.0". */
export function pythonFloatString(x: number): string {
  if (Object.is(x, -0)) return '-0.0';
  const s = String(x);
  return /^-?\d+$/.test(s) ? `${s}.0` : s;
}

export function stsbTarget(label: number, mode: StsbRounding = 'compat'): string {
  const v = Math.fround(label); // HF's glue/stsb stores the label as float32
  if (mode === 'fixed') return Math.fround(rintHalfEven(Math.fround(v * 5)) / 5).toFixed(1); // float32, as TF computes it
  const y = (v * 5) / 5;
  return pythonFloatString(rintHalfEven(y * 10) / 10); // np.round(y, 1) = rint(y * 10) / 10
}
