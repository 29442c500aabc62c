import type { CounterStore } from './types.js';

/**
 * A {@link CounterStore} in this process's memory: sees violations between the consumers that share
 * the instance (the `exclusivityCounter` middleware's default), not across processes.
 *
 * Each key holds the set of runs in progress; a key whose last run finished is deleted, so memory is
 * bounded by the runs in flight, not by the keys ever seen.
 */
export class MemoryCounterStore implements CounterStore {
  /** Adapter name for logs and telemetry. */
  readonly name = 'memory';
  readonly #holders = new Map<string, Set<string>>();

  /**
   * Count `holder`'s run of `key` as started. Resolves with the number of other runs of the key
   * already in progress; counting the same holder twice counts it once.
   */
  async increment(key: string, holder: string): Promise<number> {
    let holders = this.#holders.get(key);
    if (holders === undefined) {
      holders = new Set();
      this.#holders.set(key, holders);
    }
    const others = holders.has(holder) ? holders.size - 1 : holders.size;
    holders.add(holder);
    return others;
  }

  /** Count `holder`'s run of `key` as finished. Idempotent: an unknown holder is ignored. */
  async decrement(key: string, holder: string): Promise<void> {
    const holders = this.#holders.get(key);
    if (holders === undefined) return;
    holders.delete(holder);
    if (holders.size === 0) this.#holders.delete(key);
  }

  /** For tests: number of keys with runs in progress. */
  get size(): number {
    return this.#holders.size;
  }
}
