import { performance } from 'node:perf_hooks';
import { LockAcquireTimeoutError } from '../errors/lock-acquire-timeout-error.js';
import { pollDelay } from '../internal/backoff.js';
import { holdLease, type HeldLease } from '../locks/hold-lease.js';
import type { Lock } from '../locks/types.js';
import type { Claim, ClaimHost, ClaimOwner, ObtainResult } from './claim.js';
import type { ResolvedOptions } from './options.js';

const BUSY_ELSEWHERE = 'key is locked by another consumer';
const HELD: ObtainResult = Object.freeze({ held: true });

/**
 * @internal The lease of a key in `shared-locked` mode: acquired before a run, renewed while held,
 * given up after `acquireTimeoutMs` of waiting (or at once with `whenBusy: 'release'`).
 */
export class LeaseClaim implements Claim {
  readonly #lock: Lock;
  readonly #options: ResolvedOptions<unknown>['lease'];
  readonly #host: ClaimHost;
  #held: HeldLease | undefined = undefined;
  /** Monotonic time the first attempt at the current lease started. */
  #waitStart: number | undefined = undefined;
  #waitMs = 0;

  constructor(lock: Lock, options: ResolvedOptions<unknown>['lease'], host: ClaimHost) {
    this.#lock = lock;
    this.#options = options;
    this.#host = host;
  }

  token(): number | undefined {
    const held = this.#held;
    // A run starts only on a lease that outlives the next scheduled renewal: on a busy event loop
    // the renewal and the deadline timers fire late, and a lease can be nearly over, or over, before
    // its signal says so.
    if (held === undefined || held.signal.aborted || held.remainingMs() < this.#options.ttlMs / 3) return undefined;
    return held.lease.token;
  }

  takeWaitMs(): number {
    const waited = this.#waitMs;
    this.#waitMs = 0;
    return waited;
  }

  arrived(): void {}

  async obtain(owner: ClaimOwner): Promise<ObtainResult> {
    const current = this.#held;
    if (current !== undefined && !current.signal.aborted && (await current.renew()) && this.#held === current) return HELD;
    this.#letGo();
    const o = this.#options;
    const waitStart = (this.#waitStart ??= performance.now());
    let failure: unknown;
    try {
      const held = await holdLease(this.#lock, owner.key, this.#host.consumerName, {
        ttlMs: o.ttlMs,
        onLost: (error) => this.#host.leaseLost(owner, error),
        onError: (error) => this.#host.reportError(error, 'lease'),
      });
      if (held !== undefined) {
        this.#held = held;
        this.#waitMs = performance.now() - waitStart;
        this.#waitStart = undefined;
        return { held: true, acquired: { token: held.lease.token, waitMs: this.#waitMs } };
      }
    } catch (error) {
      failure = error;
      this.#host.reportError(error, 'lease');
    }
    const waited = performance.now() - waitStart;
    if (o.whenBusy === 'release' || waited >= o.acquireTimeoutMs) {
      this.#waitStart = undefined;
      const giveUp =
        o.whenBusy === 'release' ? BUSY_ELSEWHERE : new LockAcquireTimeoutError(owner.key, o.acquireTimeoutMs, 0, failure).message;
      return { held: false, giveUp };
    }
    const delay = Math.min(pollDelay(o.retryDelayMs), o.acquireTimeoutMs - waited);
    return { held: false, retryInMs: Math.max(1, Math.round(delay)) };
  }

  canLinger(): boolean {
    return this.#held !== undefined && !this.#held.signal.aborted;
  }

  connectionLost(): void {
    // The lease, not the connection, is what makes the key this consumer's: it stays held.
  }

  reset(): void {
    this.#letGo();
    this.#waitStart = undefined;
    this.#waitMs = 0;
  }

  #letGo(): void {
    const held = this.#held;
    this.#held = undefined;
    if (held !== undefined) void held.release();
  }
}
