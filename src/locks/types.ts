/**
 * A lease on one key, as granted by a {@link Lock}. `token` is the fencing token minted in the same
 * atomic step that granted the lease: strictly greater than every token granted before for the key.
 */
export interface Lease {
  readonly key: string;
  /** Who holds it (the consumer name plus a per-process id). */
  readonly owner: string;
  /** Fencing token, a positive safe integer, strictly increasing per key. */
  readonly token: number;
  /** Lease time to live, in milliseconds, as requested. */
  readonly ttlMs: number;
}

/**
 * A lease lock: the primitive operations the engine needs. Renewal, waiting, local expiry on a
 * monotonic clock and abort-on-loss are built on top by the library (see `holdLease`), so an
 * adapter stays small. Check yours with `lockContract` from `exclusive-consumer/testing`.
 */
export interface Lock {
  /** Short name for logs and telemetry, e.g. `memory`, `redis`. */
  readonly name: string;
  /**
   * Grant a lease on `key` to `owner` for `ttlMs` if nobody holds it, minting a new fencing token in
   * the same atomic step. Resolves `undefined` when another owner holds it.
   */
  tryAcquire(key: string, owner: string, ttlMs: number): Promise<Lease | undefined>;
  /**
   * Extend `lease` to `ttlMs` from now if it is still held by the same owner with the same token.
   * Resolves `false` when it was lost.
   */
  extend(lease: Lease, ttlMs: number): Promise<boolean>;
  /** Release `lease` if still held by the same owner and token. Resolves `false` if it was not. */
  release(lease: Lease): Promise<boolean>;
}

/**
 * Mints per-key fencing tokens without a lock, for broker-routed modes (`key-shared`, `failover`)
 * where the broker, not a lock, decides who owns a key. Tokens must come from the same counter as
 * the lock's when both are used.
 */
export interface FencingTokenSource {
  /** A new token for `key`, strictly greater than every one minted before for it. */
  nextToken(key: string): Promise<number>;
}
