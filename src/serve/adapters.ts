/**
 * The adapters a server holds: the ones given at startup (pinned), and the ones loaded at run time through the
 * admin routes (admin.ts), at most `maxResident` in all. Loading past the bound evicts the least recently used
 * unpinned adapter. Every `get` (what each request does to resolve its adapter) counts as a use.
 *
 * A request that already resolved its adapter keeps computing with it after an unload or eviction: its batches
 * hold the method itself, not the name.
 */
import type { PeftMethod } from '../methods/method.js';

export class AdapterCapacityError extends Error {}

export class AdapterRegistry implements ReadonlyMap<string, PeftMethod> {
  private readonly methods = new Map<string, PeftMethod>();
  private readonly pinned = new Set<string>();
  /** name → tick of its last use; the smallest unpinned tick is evicted first */
  private readonly lastUse = new Map<string, number>();
  private tick = 0;

  /** @param maxResident adapters held at most (startup ones included) */
  constructor(pinned: ReadonlyMap<string, PeftMethod>, readonly maxResident = Infinity) {
    for (const [name, m] of pinned) {
      this.methods.set(name, m);
      this.pinned.add(name);
      this.lastUse.set(name, this.tick++);
    }
  }

  get size(): number {
    return this.methods.size;
  }

  get(name: string): PeftMethod | undefined {
    const m = this.methods.get(name);
    if (m !== undefined) this.lastUse.set(name, this.tick++);
    return m;
  }

  has(name: string): boolean {
    return this.methods.has(name);
  }

  isPinned(name: string): boolean {
    return this.pinned.has(name);
  }

  /**
   * Add an unpinned adapter, evicting least recently used unpinned ones to stay within maxResident; returns the
   * names evicted. Throws AdapterCapacityError when every resident adapter is pinned. The name must be new.
   */
  add(name: string, method: PeftMethod): string[] {
    if (this.methods.has(name)) throw new Error(`adapter ${name} is already loaded`);
    const evicted: string[] = [];
    while (this.methods.size >= this.maxResident) {
      let victim: string | undefined;
      for (const [n, t] of this.lastUse) if (!this.pinned.has(n) && (victim === undefined || t < this.lastUse.get(victim)!)) victim = n;
      if (victim === undefined) {
        throw new AdapterCapacityError(`All ${this.methods.size} resident adapters are pinned (given at startup) and --max-adapters is ${this.maxResident}.`);
      }
      this.remove(victim);
      evicted.push(victim);
    }
    this.methods.set(name, method);
    this.lastUse.set(name, this.tick++);
    return evicted;
  }

  /** Drop an adapter (pinned ones too; the admin route refuses those itself). */
  remove(name: string): boolean {
    this.lastUse.delete(name);
    this.pinned.delete(name);
    return this.methods.delete(name);
  }

  forEach(fn: (value: PeftMethod, key: string, map: ReadonlyMap<string, PeftMethod>) => void): void {
    this.methods.forEach((v, k) => fn(v, k, this));
  }

  entries(): MapIterator<[string, PeftMethod]> {
    return this.methods.entries();
  }

  keys(): MapIterator<string> {
    return this.methods.keys();
  }

  values(): MapIterator<PeftMethod> {
    return this.methods.values();
  }

  [Symbol.iterator](): MapIterator<[string, PeftMethod]> {
    return this.methods.entries();
  }
}
