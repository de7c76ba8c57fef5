/**
 * A small seeded PRNG: xoshiro128** (Blackman & Vigna, https://prng.di.unimi.it/xoshiro128starstar.c), seeded
 * through splitmix32. Its whole state is four uint32 words, so getState()/setState() restore the data order and
 * dropout streams exactly on resume. Not cryptographic.
 */

import { SoftpromptError } from '../errors.js';

/** The four xoshiro128 state words, each an integer in [0, 2^32). JSON-safe. */
export type RngState = [number, number, number, number];

const TWO_POW_32 = 4294967296;

/** murmur3's 32-bit finaliser: a bijective avalanche on uint32. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /**
   * `seed` is any safe integer (negative ones included); `stream` selects an independent sequence for the same
   * seed, e.g. new Rng(seed, step) gives each step its own dropout stream.
   */
  constructor(seed: number, stream = 0) {
    if (!Number.isSafeInteger(seed)) throw badSeed('seed', seed);
    if (!Number.isSafeInteger(stream)) throw badSeed('stream', stream);
    const lo = seed >>> 0; // low 32 bits (two's complement for negatives)
    const hi = Math.floor(seed / TWO_POW_32) >>> 0;
    let h = mix32(lo ^ 0x9e3779b9);
    h = mix32(h ^ hi);
    h = mix32(h ^ (stream >>> 0));
    h = mix32(h ^ (Math.floor(stream / TWO_POW_32) >>> 0));
    // splitmix32 expands the 32-bit hash into the 128-bit state.
    let a = h;
    const next = (): number => {
      a = (a + 0x9e3779b9) | 0;
      let t = a ^ (a >>> 16);
      t = Math.imul(t, 0x21f0aaad);
      t ^= t >>> 15;
      t = Math.imul(t, 0x735a2d97);
      return (t ^ (t >>> 15)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /** A generator positioned at `state`. */
  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.setState(state);
    return r;
  }

  /** Uniform integer in [0, 2^32). */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1), 32 bits of resolution. */
  nextFloat(): number {
    return this.nextU32() / TWO_POW_32;
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling); 1 <= n <= 2^32. */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
      throw new SoftpromptError('invalid_config', `Rng.nextInt bound must be an integer in [1, 2^32], got ${n}`);
    }
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** Standard normal draw (Box–Muller, cosine branch only, so each call consumes exactly two uint32s). */
  normal(mean = 0, std = 1): number {
    const u1 = 1 - this.nextFloat(); // (0, 1]: log(u1) is finite
    const u2 = this.nextFloat();
    return mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Fisher–Yates shuffle in place; returns the same array. */
  shuffle<T>(array: T[]): T[] {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = array[i]!;
      array[i] = array[j]!;
      array[j] = tmp;
    }
    return array;
  }

  getState(): RngState {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  setState(state: RngState): void {
    const ok =
      Array.isArray(state) &&
      state.length === 4 &&
      state.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_POW_32) &&
      state.some((w) => w !== 0);
    if (!ok) {
      throw new SoftpromptError(
        'invalid_config',
        `Rng state must be four uint32 words, not all zero, got ${JSON.stringify(state)}`,
        { path: 'rngState' },
      );
    }
    [this.s0, this.s1, this.s2, this.s3] = state.map((w) => w | 0) as RngState;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function badSeed(what: string, value: number): SoftpromptError {
  return new SoftpromptError('invalid_config', `Rng ${what} must be a safe integer, got ${value}`, { path: what });
}
