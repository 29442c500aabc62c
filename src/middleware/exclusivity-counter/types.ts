/**
 * Shared counters of handler runs in progress per key, for the exclusivity counter. Fleet-wide
 * stores (Redis) make a violation between two processes visible. Check yours with
 * `counterStoreContract` from `exclusive-consumer/testing`.
 */
export interface CounterStore {
  /** Short name for logs and telemetry. */
  readonly name: string;
  /**
   * Count one run of `key` by `holder` (unique per run) as started. Resolves with the number of runs
   * of the key that were already in progress, the article's "counter value before increment".
   */
  increment(key: string, holder: string): Promise<number>;
  /** Count `holder`'s run of `key` as finished. Idempotent per holder. */
  decrement(key: string, holder: string): Promise<void>;
}
