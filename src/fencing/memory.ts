import { checkFenceToken } from './check.js';
import { MemoryRecords } from './memory-records.js';
import type { Fence, FencedRecord, FencedStore, PutOptions } from './types.js';

/**
 * A {@link FencedStore} in this process's memory, for tests and demos. Each key holds one record:
 * the value, the fence (token and owner) of the write that produced it, and a version.
 *
 * - A write is rejected with `StaleTokenError` when its token is below the record's, or equal to it
 *   from another owner. The staleness check comes before `ifVersion`, so a stale writer always learns
 *   it is stale rather than being told to retry.
 * - Only accepted writes record a token: a rejected write changes nothing.
 * - Values are copied with `structuredClone` on the way in and on every read, as a remote store
 *   would serialize them: mutating an argument after `put`, or a value read back, never changes the
 *   store. Values must therefore be structured-cloneable (no functions or symbols), and class
 *   instances come back as plain objects.
 * - A record is kept for as long as the instance lives: deleting it would forget the highest token
 *   and let a stale writer in again. Memory grows with the number of keys written.
 *
 * @example
 * ```ts
 * const store = new MemoryFencedStore<Decision>();
 * await store.put(ctx.key, decision, ctx.fence);
 * ```
 */
export class MemoryFencedStore<V = unknown> implements FencedStore<V> {
  /** Adapter name for logs and telemetry. */
  readonly name = 'memory';
  readonly #records = new MemoryRecords<V>();

  /** The record of `key` (a copy), or `undefined` if nothing was ever accepted for it. */
  async get(key: string): Promise<FencedRecord<V> | undefined> {
    return this.#records.get(key);
  }

  /**
   * Write `value` for `key` under `fence`, atomically checking the token and then `ifVersion`.
   * Resolves with the new record (version incremented). Rejects with `StaleTokenError` for an older
   * fence, `VersionConflictError` when `ifVersion` (0: must not exist) does not match, or a
   * `RangeError` when `fence.token` is not a positive safe integer.
   */
  async put(key: string, value: V, fence: Fence, options: PutOptions = {}): Promise<FencedRecord<V>> {
    checkFenceToken(fence);
    return this.#records.write(key, value, fence, options.ifVersion);
  }

  /** Number of writes rejected as stale since the store was created (for demos and metrics). */
  get rejected(): number {
    return this.#records.rejected;
  }
}
