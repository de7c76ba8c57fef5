import { alloc, engine } from '../engine/index.js';

/**
 * Named activation buffers reused across steps (llm.c's ActivationTensors, grown on demand). `f32(name, n)`
 * returns a view of exactly n elements; contents persist until the next call with the same name and a larger n.
 * Capacity grows by 25 % so dynamic padding (a slightly longer batch) does not reallocate every step.
 */
export class Workspace {
  private readonly f32s = new Map<string, Float32Array>();
  private readonly u8s = new Map<string, Uint8Array>();
  private readonly u16s = new Map<string, Uint16Array>();

  f32(name: string, n: number): Float32Array {
    let buf = this.f32s.get(name);
    if (buf === undefined || buf.length < n) {
      buf = alloc(Math.ceil(n * 1.25));
      this.f32s.set(name, buf);
    }
    return buf.subarray(0, n);
  }

  /** Like f32 but zero-filled: for gradient buffers that kernels accumulate into. */
  zeros(name: string, n: number): Float32Array {
    const b = this.f32(name, n);
    if (n >= 1 << 16) engine().zero(b, n); // large: split across the pool (TypedArray.fill runs on one thread)
    else b.fill(0);
    return b;
  }

  u8(name: string, n: number): Uint8Array {
    let buf = this.u8s.get(name);
    if (buf === undefined || buf.length < n) {
      buf = new Uint8Array(Math.ceil(n * 1.25));
      this.u8s.set(name, buf);
    }
    return buf.subarray(0, n);
  }

  /** bf16 bits (activations saved for backward in bf16), engine memory like f32 */
  bf16(name: string, n: number): Uint16Array {
    let buf = this.u16s.get(name);
    if (buf === undefined || buf.length < n) {
      const f = alloc(Math.ceil(Math.ceil(n * 1.25) / 2));
      buf = new Uint16Array(f.buffer, f.byteOffset, 2 * f.length);
      this.u16s.set(name, buf);
    }
    return buf.subarray(0, n);
  }

  /** Bytes held, for memory reports. */
  bytes(): number {
    let total = 0;
    for (const b of this.f32s.values()) total += b.byteLength;
    for (const b of this.u8s.values()) total += b.byteLength;
    for (const b of this.u16s.values()) total += b.byteLength;
    return total;
  }

  clear(): void {
    this.f32s.clear();
    this.u8s.clear();
    this.u16s.clear();
  }
}
