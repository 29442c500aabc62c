import { performance } from 'node:perf_hooks';
import { LockAcquireTimeoutError } from '../errors/lock-acquire-timeout-error.js';
import { LockLostError } from '../errors/lock-lost-error.js';
import { pollDelay } from '../internal/backoff.js';
import type { Lease, Lock } from './types.js';

/** A lease being held: renewed in the background until released or lost. */
export interface HeldLease {
  readonly lease: Lease;
  /** Aborted with a `LockLostError` as soon as the lease is known or presumed lost. */
  readonly signal: AbortSignal;
  /**
   * Milliseconds until the lease is presumed lost, on the monotonic clock, measured now (0 once
   * lost or released). Timers fire late on a busy event loop, so this can reach 0 before `signal`
   * aborts: check it before starting work that needs the lease.
   */
  remainingMs(): number;
  /** Renew now, without waiting for the next scheduled renewal. Resolves whether the lease is still held. */
  renew(): Promise<boolean>;
  /** Stop renewing and release the lease. Never rejects; a failed release lets the lease expire. */
  release(): Promise<void>;
}

/** Options of {@link holdLease} and {@link acquireLease}. */
export interface HoldLeaseOptions {
  /** Lease time to live in milliseconds; renewed every third of it. */
  readonly ttlMs: number;
  /** Called once when the lease is lost, with the same error that aborts `signal`. */
  readonly onLost?: (error: LockLostError) => void;
  /** Called when a renewal or release call fails (the lease may still be valid). */
  readonly onError?: (error: unknown) => void;
}

/** Options of {@link acquireLease}. */
export interface AcquireLeaseOptions extends HoldLeaseOptions {
  /** Give up after this long with `LockAcquireTimeoutError`. */
  readonly timeoutMs: number;
  /** Delay between attempts while the key is busy, jittered between 50% and 150%. */
  readonly retryDelayMs: number;
  /** Abort waiting; rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/**
 * Clock drift allowance, as in Redlock: the lease is presumed lost a little before the store would
 * expire it, so this process stops believing it holds the key before anyone else can acquire it.
 */
function validityMs(ttlMs: number): number {
  return ttlMs - Math.floor(ttlMs * 0.01) - 2;
}

/**
 * Try once to acquire `key`; when granted, keep the lease renewed until released. Local expiry uses
 * the monotonic clock measured from before the request was sent, so a slow answer shortens the
 * lease rather than extending it.
 */
export async function holdLease(
  lock: Lock,
  key: string,
  owner: string,
  options: HoldLeaseOptions,
): Promise<HeldLease | undefined> {
  const sentAt = performance.now();
  const lease = await lock.tryAcquire(key, owner, options.ttlMs);
  if (lease === undefined) return undefined;
  return new LeaseKeeper(lock, lease, sentAt, options);
}

/**
 * Acquire `key`, retrying with jitter while another owner holds it (or the lock errors), for up to
 * `timeoutMs`. Rejects with `LockAcquireTimeoutError`, or with `signal.reason` when aborted.
 */
export async function acquireLease(
  lock: Lock,
  key: string,
  owner: string,
  options: AcquireLeaseOptions,
): Promise<HeldLease> {
  const started = performance.now();
  let attempts = 0;
  let lastError: unknown;
  for (;;) {
    options.signal?.throwIfAborted();
    attempts += 1;
    try {
      const held = await holdLease(lock, key, owner, options);
      if (held !== undefined) return held;
    } catch (error) {
      lastError = error;
      options.onError?.(error);
    }
    const elapsed = performance.now() - started;
    if (elapsed >= options.timeoutMs) {
      throw new LockAcquireTimeoutError(key, options.timeoutMs, attempts, lastError);
    }
    const delay = Math.min(pollDelay(options.retryDelayMs), options.timeoutMs - elapsed);
    await sleep(delay, options.signal);
  }
}

class LeaseKeeper implements HeldLease {
  readonly lease: Lease;
  readonly #lock: Lock;
  readonly #options: HoldLeaseOptions;
  readonly #controller = new AbortController();
  #validUntil: number;
  #renewTimer: NodeJS.Timeout | undefined;
  #deadlineTimer: NodeJS.Timeout | undefined;
  /** The renewal in flight, if any. */
  #renewal: Promise<void> | undefined;
  #done = false;
  #released = false;

  constructor(lock: Lock, lease: Lease, sentAt: number, options: HoldLeaseOptions) {
    this.lease = lease;
    this.#lock = lock;
    this.#options = options;
    this.#validUntil = sentAt + validityMs(lease.ttlMs);
    this.#armDeadline();
    this.#renewTimer = setInterval(() => void this.#renewOnce(), Math.max(1, Math.floor(lease.ttlMs / 3)));
    this.#renewTimer.unref();
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  remainingMs(): number {
    return this.#done ? 0 : Math.max(0, this.#validUntil - performance.now());
  }

  renew(): Promise<boolean> {
    if (this.#done) return Promise.resolve(false);
    // A renewal whose reply never comes must not hold the caller past the lease's deadline.
    return new Promise((resolve) => {
      const onLost = (): void => resolve(false);
      this.signal.addEventListener('abort', onLost, { once: true });
      void this.#renewOnce().then(() => {
        this.signal.removeEventListener('abort', onLost);
        resolve(!this.#done);
      });
    });
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    // Released even when presumed lost: the store checks owner and token, and freeing it early
    // spares the next owner the rest of the TTL.
    this.#stop();
    try {
      await this.#lock.release(this.lease);
    } catch (error) {
      this.#options.onError?.(error);
    }
  }

  /** One renewal at a time: a caller arriving while one is in flight shares it. */
  #renewOnce(): Promise<void> {
    if (this.#done) return Promise.resolve();
    this.#renewal ??= this.#renew().finally(() => {
      this.#renewal = undefined;
    });
    return this.#renewal;
  }

  async #renew(): Promise<void> {
    const sentAt = performance.now();
    try {
      const extended = await this.#lock.extend(this.lease, this.lease.ttlMs);
      if (this.#done) return;
      if (extended) {
        this.#validUntil = sentAt + validityMs(this.lease.ttlMs);
        this.#armDeadline();
      } else {
        this.#lose('another owner holds it or it expired');
      }
    } catch (error) {
      // The store may be briefly unreachable; the deadline timer decides when the lease is presumed lost.
      this.#options.onError?.(error);
    }
  }

  #armDeadline(): void {
    if (this.#deadlineTimer !== undefined) clearTimeout(this.#deadlineTimer);
    const remaining = Math.max(0, this.#validUntil - performance.now());
    this.#deadlineTimer = setTimeout(() => {
      if (performance.now() >= this.#validUntil) this.#lose('not renewed before its local deadline');
      else this.#armDeadline();
    }, remaining);
    this.#deadlineTimer.unref();
  }

  #lose(why: string): void {
    if (this.#done) return;
    this.#stop();
    const error = new LockLostError(this.lease.key, this.lease.token, why);
    this.#controller.abort(error);
    this.#options.onLost?.(error);
  }

  #stop(): void {
    this.#done = true;
    if (this.#renewTimer !== undefined) clearInterval(this.#renewTimer);
    if (this.#deadlineTimer !== undefined) clearTimeout(this.#deadlineTimer);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
