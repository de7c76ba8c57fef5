/**
 * Shuffles for the split protocol. DePT shuffles a split of n rows with
 *   torch.randperm(n, generator=torch.Generator().manual_seed(42)).tolist()
 * Those permutations were exported once by scripts/export-splits.py into split-indices/<n>.json; when one exists
 * for (n, seed 42) it is used as is ('torch-randperm-42').
 *
 * Otherwise (another seed, another n) the TS generator below is used ('softprompt-seeded'). It follows the
 * algorithm of PyTorch's CPU randperm for n < 2^32/20 (aten/src/ATen/native/TensorFactories.cpp, randperm_cpu):
 * an MT19937 seeded with init_genrand(seed), then for i = 0 … n−2: z = next32() mod (n−i), swap(r[i], r[i+z]).
 * The tests check it against every exported permutation, but only the exports count as the reference.
 */

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SoftpromptError } from '../errors.js';

/** MT19937 (Matsumoto & Nishimura), seeded like std::mt19937(seed) / torch's CPU generator. */
export class Mt19937 {
  private readonly mt = new Uint32Array(624);
  private index = 624;

  constructor(seed: number) {
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = this.mt[i - 1] as number;
      this.mt[i] = (Math.imul(1812433253, prev ^ (prev >>> 30)) + i) >>> 0;
    }
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < 624; i++) {
      const y = ((mt[i] as number) & 0x80000000) | ((mt[(i + 1) % 624] as number) & 0x7fffffff);
      let v = (mt[(i + 397) % 624] as number) ^ (y >>> 1);
      if (y & 1) v ^= 0x9908b0df;
      mt[i] = v >>> 0;
    }
    this.index = 0;
  }

  /** Next uint32. */
  next32(): number {
    if (this.index >= 624) this.twist();
    let y = this.mt[this.index++] as number;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }
}

/** The TS re-creation of torch.randperm(n, generator=manual_seed(seed)) on the CPU (see the file header). */
export function seededPermutation(n: number, seed: number): number[] {
  if (!Number.isSafeInteger(n) || n < 0 || n >= 2 ** 32 / 20) throw new RangeError(`seededPermutation: bad n ${n}`);
  const rng = new Mt19937(seed);
  const r = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < n - 1; i++) {
    const z = rng.next32() % (n - i);
    const t = r[i] as number;
    r[i] = r[i + z] as number;
    r[i + z] = t;
  }
  return r;
}

export const EXPORT_SEED = 42;

/** split-indices/ beside this file (tsx, src/) or, from a build in dist/src/tasks/, back in src/tasks/. */
export function splitIndicesDir(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'split-indices'), path.join(here, '..', '..', '..', 'src', 'tasks', 'split-indices')];
  return candidates.find((d) => fs.statSync(d, { throwIfNoEntry: false })?.isDirectory());
}

const cache = new Map<number, readonly number[] | null>();

/** The exported torch permutation of n (seed 42), or null when none was exported. */
export function exportedPermutation(n: number): readonly number[] | null {
  const hit = cache.get(n);
  if (hit !== undefined) return hit;
  const dir = splitIndicesDir();
  const file = dir === undefined ? undefined : path.join(dir, `${n}.json`);
  let perm: readonly number[] | null = null;
  if (file !== undefined && fs.existsSync(file)) perm = parseExport(fs.readFileSync(file, 'utf8'), file, n);
  cache.set(n, perm);
  return perm;
}

function parseExport(text: string, file: string, n: number): number[] {
  const bad = (why: string): SoftpromptError =>
    new SoftpromptError('malformed_file', `${file}: ${why}`, { file, hint: 'regenerate it with scripts/export-splits.py.' });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw bad(`not valid JSON (${(err as Error).message})`);
  }
  const d = doc as { n?: unknown; seed?: unknown; perm?: unknown };
  if (d.n !== n || d.seed !== EXPORT_SEED || !Array.isArray(d.perm)) throw bad(`expected {"n": ${n}, "seed": 42, "perm": [...]}`);
  const perm = d.perm as unknown[];
  const seen = new Uint8Array(n);
  if (perm.length !== n) throw bad(`perm has ${perm.length} entries, expected ${n}`);
  for (const v of perm) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= n || seen[v] === 1) throw bad(`perm is not a permutation of 0..${n - 1}`);
    seen[v] = 1;
  }
  return perm as number[];
}

/**
 * Hands out permutations and remembers whether every one of them was an exported torch permutation.
 *   const p = new Permuter(42); p.perm(277); p.protocol  // 'torch-randperm-42'
 */
export class Permuter {
  private fallbackSizes: number[] = [];

  constructor(readonly seed: number = EXPORT_SEED) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new SoftpromptError('invalid_config', `seed must be a non-negative integer, got ${seed}.`, { path: 'seed' });
    }
  }

  perm(n: number): readonly number[] {
    const exported = this.seed === EXPORT_SEED ? exportedPermutation(n) : null;
    if (exported !== null) return exported;
    this.fallbackSizes.push(n);
    return seededPermutation(n, this.seed);
  }

  get protocol(): 'torch-randperm-42' | 'softprompt-seeded' {
    return this.fallbackSizes.length === 0 ? 'torch-randperm-42' : 'softprompt-seeded';
  }

  /** Sizes that had no exported permutation (or all sizes, for a seed other than 42). */
  get fallbacks(): readonly number[] {
    return this.fallbackSizes;
  }
}
