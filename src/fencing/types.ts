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
