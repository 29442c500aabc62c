import { checkTtl } from './check.js';
import type { FencingTokenSource, Lease, Lock } from './types.js';

/** A lease as stored: who holds the key, with which token, until when (monotonic milliseconds). */
interface Held {
  readonly owner: string;
  readonly token: number;
  expiresAt: number;
}

/** Below this many stored leases no bulk sweep is worth its cost. */
const SWEEP_FLOOR = 1024;

/**
 * A {@link Lock} and {@link FencingTokenSource} in this process's memory: exclusivity between the
 * consumers of one process (tests, demos, several consumers sharing one lock instance). It does not
 * reach other processes; use a Redis lock for a fleet.
 *
 * - One fence counter per key serves both {@link MemoryLock.tryAcquire} and
 *   {@link MemoryLock.nextToken}, so tokens from either are strictly increasing per key. A token is
 *   minted in the same synchronous step that grants the lease.
 * - Fence counters are never reset or deleted: forgetting one would let a later lease reuse a token
 *   a stale writer still holds. That costs one number per key ever locked, for the lifetime of the
 *   instance, which is the price of correctness (see {@link MemoryLock.fenceCount}).
 * - Lease entries are kept only while they may be live: release deletes at once, an expired entry is
 *   deleted when its key is next touched, and the whole map is swept of expired entries whenever it
 *   has doubled since the last sweep. Lease memory is therefore bounded by about twice the peak of
 *   leases in flight (at least 1024 entries), not by the number of keys ever seen.
 * - Expiry is measured on the monotonic clock (`performance.now()`), so wall-clock jumps neither
 *   extend nor cut leases.
 * - No re-entrance: {@link MemoryLock.tryAcquire} by the owner that already holds a live lease on the
 *   key resolves `undefined`, like for any other owner. A caller that wants a fresh lease must release
 *   the one it holds first (or let it expire).
 *
 * @example
 * ```ts
 * const lock = new MemoryLock();
 * const consumer = createExclusiveConsumer(topic, keyFn, handler, { mode: 'shared-locked', lock });
 * ```
 */
export class MemoryLock implements Lock, FencingTokenSource {
  /** Adapter name for logs and telemetry. */
  readonly name = 'memory';
  readonly #fences = new Map<string, number>();
  readonly #leases = new Map<string, Held>();
  #sweepAt = SWEEP_FLOOR;

  /**
   * Grant `key` to `owner` for `ttlMs` milliseconds, with a new fencing token, unless a live lease
   * exists on it. Resolves `undefined` when the key is held, including when it is held by `owner`
   * itself (no re-entrance). Rejects with a `RangeError` if `ttlMs` is not a positive finite number.
   */
  async tryAcquire(key: string, owner: string, ttlMs: number): Promise<Lease | undefined> {
    checkTtl(ttlMs);
    const now = performance.now();
    if (this.#live(key, now) !== undefined) return undefined;
    // Minting and granting happen in one synchronous step: no other call can interleave.
    const token = this.#mint(key);
    this.#leases.set(key, { owner, token, expiresAt: now + ttlMs });
    this.#maybeSweep(now);
    return Object.freeze({ key, owner, token, ttlMs });
  }

  /**
   * Extend `lease` to `ttlMs` from now if it is still live and held with the same owner and token.
   * Resolves `false` when it expired, was released, or the key is held by another lease.
   */
  async extend(lease: Lease, ttlMs: number): Promise<boolean> {
    checkTtl(ttlMs);
    const now = performance.now();
    const held = this.#live(lease.key, now);
    if (held === undefined || held.owner !== lease.owner || held.token !== lease.token) return false;
    held.expiresAt = now + ttlMs;
    return true;
  }

  /**
   * Release `lease` if it is still live and held with the same owner and token. Resolves `false`
   * otherwise and leaves any other lease on the key untouched.
   */
  async release(lease: Lease): Promise<boolean> {
    const held = this.#live(lease.key, performance.now());
    if (held === undefined || held.owner !== lease.owner || held.token !== lease.token) return false;
    this.#leases.delete(lease.key);
    return true;
  }

  /**
   * A new fencing token for `key` from the same counter as the leases, for broker-routed modes.
   * Does not touch any lease: a lease holder's later writes are fenced off by the newer token.
   */
  async nextToken(key: string): Promise<number> {
    return this.#mint(key);
  }

  /**
   * For tests: expire the lease on `key` now, as if its holder had paused past the TTL. The holder
   * keeps its `Lease` object, but `extend` and `release` with it resolve `false` and another owner
   * can acquire the key (with a higher token). Returns whether a live lease was expired.
   */
  expire(key: string): boolean {
    if (this.#live(key, performance.now()) === undefined) return false;
    this.#leases.delete(key);
    return true;
  }

  /** For tests: number of keys with a fence counter. Only grows: counters are kept for good. */
  get fenceCount(): number {
    return this.#fences.size;
  }

  /** For tests: number of lease entries stored, including expired ones not yet swept. */
  get leaseCount(): number {
    return this.#leases.size;
  }

  #mint(key: string): number {
    const token = (this.#fences.get(key) ?? 0) + 1;
    // Unreachable in practice (2^53 tokens), but a token that is not exact would break fencing.
    if (!Number.isSafeInteger(token)) throw new RangeError(`Fence counter of key ${JSON.stringify(key)} is exhausted`);
    this.#fences.set(key, token);
    return token;
  }

  /** The live lease on `key`, deleting it if it expired. */
  #live(key: string, now: number): Held | undefined {
    const held = this.#leases.get(key);
    if (held === undefined) return undefined;
    if (now >= held.expiresAt) {
      this.#leases.delete(key);
      return undefined;
    }
    return held;
  }

  /** Amortized O(1): a full sweep happens only after the map has doubled since the last one. */
  #maybeSweep(now: number): void {
    if (this.#leases.size < this.#sweepAt) return;
    for (const [key, held] of this.#leases) {
      if (now >= held.expiresAt) this.#leases.delete(key);
    }
    this.#sweepAt = Math.max(SWEEP_FLOOR, this.#leases.size * 2);
  }
}
