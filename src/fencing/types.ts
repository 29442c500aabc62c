/** The claim a writer presents to a fenced store: its fencing token and who it is. */
export interface Fence {
  readonly token: number;
  readonly owner: string;
}

/** A stored value with the fence that wrote it. */
export interface FencedRecord<V> {
  readonly value: V;
  /** Token of the write that produced this record (the highest accepted so far for the key). */
  readonly token: number;
  readonly owner: string;
  /** Incremented on each accepted write, starting at 1. */
  readonly version: number;
}

/** Conditions on a fenced write. */
export interface PutOptions {
  /**
   * Only write if the record's current version equals this (0: only if no record exists). A
   * mismatch rejects with `VersionConflictError`.
   */
  readonly ifVersion?: number;
}

/**
 * Per-key state whose writes carry a fencing token. A write with token `t` is accepted only if `t`
 * is at least the highest token accepted for the key, and an equal token only from the same owner;
 * acceptance and recording of `t` happen in one atomic step. Check yours with `fencedStoreContract`
 * from `exclusive-consumer/testing`.
 */
export interface FencedStore<V> {
  /** Short name for logs and telemetry. */
  readonly name: string;
  get(key: string): Promise<FencedRecord<V> | undefined>;
  /**
   * Write `value` for `key` under `fence`. Rejects with `StaleTokenError` (carrying both tokens)
   * when the fence is older than the store's, or `VersionConflictError` when `ifVersion` fails.
   */
  put(key: string, value: V, fence: Fence, options?: PutOptions): Promise<FencedRecord<V>>;
}

/**
 * A fence counter that a fenced store can raise: the per-key counter a lock or token source mints
 * tokens from. A store that keeps its records somewhere else than the counter (state in PostgreSQL,
 * tokens from Redis) raises the counter, after rejecting a stale write, to the highest token it holds
 * for the key, so that a counter that went back (lost in a restart without persistence, evicted)
 * cannot hand out tokens the store has already seen. `redisLock(client)` is one.
 */
export interface TokenCounter {
  /**
   * Raise `key`'s counter to at least `token`; never lowers it. Idempotent and commutative (a max),
   * so it is safe outside the write's atomic step.
   */
  raise(key: string, token: number): Promise<void>;
}
