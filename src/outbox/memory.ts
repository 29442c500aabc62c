import { MemoryRecords } from '../fencing/memory-records.js';
import type { Fence, FencedRecord, PutOptions } from '../fencing/types.js';
import { checkClaim, checkDelay, checkLimit, prepareCommit, resolveOutboxOptions, type ResolvedOutboxOptions } from './effects.js';
import type {
  ClaimedEffect,
  CommitOptions,
  CommitResult,
  EffectInput,
  EffectStatus,
  Outbox,
  OutboxCounts,
  OutboxEffect,
  OutboxOptions,
} from './types.js';
import { optionNames, optionsArgument } from '../internal/validate.js';

const OPTION_NAMES = optionNames<OutboxOptions>({ captureHeaders: true, retainDoneMs: true });

/** An effect as held here; due and finish times on the monotonic clock. */
interface Entry {
  readonly idempotencyKey: string;
  readonly key: string;
  /** JSON text, parsed afresh on every read, as a remote outbox would. */
  readonly payload: string;
  readonly token: number;
  readonly owner: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly createdAt: number;
  status: EffectStatus;
  attempts: number;
  lastError: string | undefined;
  dueAt: number;
  finishedAt: number;
}

/**
 * An {@link Outbox} in this process's memory, for tests, demos and the embedded default. A commit
 * is one synchronous step (nothing can come between the fence check, the state write and the
 * effects), so it is as atomic as the Redis and PostgreSQL ones; it does not survive the process.
 *
 * - State records behave as `MemoryFencedStore`'s (copied in and out with `structuredClone`).
 * - Payloads are JSON, like the remote outboxes', so that code tested here stores the same there.
 * - Claims expire on the monotonic clock (`performance.now()`).
 * - Memory: one record per key ever written (by design, as every fenced store), pending and dead
 *   effects, and sent ones until `purge` forgets them after `retainDoneMs`.
 *
 * @example
 * ```ts
 * const outbox = new MemoryOutbox<ShopperState, Sms>();
 * const dispatcher = createOutboxDispatcher(outbox, (effect) => gateway.send(effect.payload, effect.idempotencyKey));
 * ```
 */
export class MemoryOutbox<V = unknown, P = unknown> implements Outbox<V, P> {
  /** Adapter name for logs and telemetry. */
  readonly name = 'memory';
  readonly #records = new MemoryRecords<V>();
  readonly #effects = new Map<string, Entry>();
  readonly #options: ResolvedOutboxOptions;

  /** Throws a `ConfigurationError` on a bad option. */
  constructor(options: OutboxOptions = {}) {
    optionsArgument(options, OPTION_NAMES);
    this.#options = resolveOutboxOptions(options);
  }

  /** The record of `key` (a copy), or `undefined` if nothing was ever accepted for it. */
  async get(key: string): Promise<FencedRecord<V> | undefined> {
    return this.#records.get(key);
  }

  /** A commit without effects. */
  async put(key: string, value: V, fence: Fence, options: PutOptions = {}): Promise<FencedRecord<V>> {
    return (await this.commit(key, value, fence, [], options)).record;
  }

  /** See {@link Outbox.commit}. */
  async commit(
    key: string,
    value: V,
    fence: Fence,
    effects: readonly EffectInput<P>[],
    options: CommitOptions = {},
  ): Promise<CommitResult<V>> {
    const prepared = prepareCommit(key, fence, effects, options, this.#options.captureHeaders);
    const record = this.#records.write(key, value, fence, options.ifVersion);
    const now = performance.now();
    const createdAt = Date.now();
    const committed = prepared.effects.map(({ idempotencyKey, payload }) => {
      if (this.#effects.has(idempotencyKey)) return { idempotencyKey, created: false };
      this.#effects.set(idempotencyKey, {
        idempotencyKey,
        key,
        payload,
        token: fence.token,
        owner: fence.owner,
        headers: prepared.headers,
        createdAt,
        status: 'pending',
        attempts: 0,
        lastError: undefined,
        dueAt: now,
        finishedAt: 0,
      });
      return { idempotencyKey, created: true };
    });
    return { record, effects: committed };
  }

  /** See {@link Outbox.claim}. */
  async claim(limit: number, visibilityMs: number): Promise<ClaimedEffect<P>[]> {
    checkClaim(limit, visibilityMs);
    const now = performance.now();
    const due: Entry[] = [];
    for (const entry of this.#effects.values()) if (entry.status === 'pending' && entry.dueAt <= now) due.push(entry);
    due.sort((a, b) => a.dueAt - b.dueAt);
    return due.slice(0, limit).map((entry) => {
      entry.attempts += 1;
      entry.dueAt = now + visibilityMs;
      const { status: _status, attempts, ...effect } = this.#view(entry);
      return Object.freeze({ ...effect, attempt: attempts });
    });
  }

  /** See {@link Outbox.complete}. */
  async complete(effect: ClaimedEffect<P>): Promise<boolean> {
    const entry = this.#effects.get(effect.idempotencyKey);
    if (entry === undefined || entry.status === 'done') return false;
    entry.status = 'done';
    entry.finishedAt = performance.now();
    return true;
  }

  /** See {@link Outbox.retry}. */
  async retry(effect: ClaimedEffect<P>, delayMs: number, error: string): Promise<boolean> {
    checkDelay(delayMs);
    const entry = this.#latestClaim(effect);
    if (entry === undefined) return false;
    entry.dueAt = performance.now() + delayMs;
    entry.lastError = String(error);
    return true;
  }

  /** See {@link Outbox.deadLetter}. */
  async deadLetter(effect: ClaimedEffect<P>, error: string): Promise<boolean> {
    const entry = this.#latestClaim(effect);
    if (entry === undefined) return false;
    entry.status = 'dead';
    entry.lastError = String(error);
    entry.finishedAt = performance.now();
    return true;
  }

  /** See {@link Outbox.effect}. */
  async effect(idempotencyKey: string): Promise<OutboxEffect<P> | undefined> {
    const entry = this.#effects.get(idempotencyKey);
    return entry === undefined ? undefined : this.#view(entry);
  }

  /** See {@link Outbox.deadLetters}. */
  async deadLetters(limit = 100): Promise<OutboxEffect<P>[]> {
    checkLimit(limit);
    const dead = [...this.#effects.values()].filter((e) => e.status === 'dead').sort((a, b) => a.finishedAt - b.finishedAt);
    return dead.slice(0, limit).map((entry) => this.#view(entry));
  }

  /** See {@link Outbox.requeue}. */
  async requeue(idempotencyKey: string): Promise<boolean> {
    const entry = this.#effects.get(idempotencyKey);
    if (entry === undefined || entry.status !== 'dead') return false;
    entry.status = 'pending';
    entry.attempts = 0;
    entry.dueAt = performance.now();
    entry.finishedAt = 0;
    return true;
  }

  /** See {@link Outbox.purge}. */
  async purge(): Promise<number> {
    const before = performance.now() - this.#options.retainDoneMs;
    let purged = 0;
    for (const [id, entry] of this.#effects) {
      if (entry.status === 'done' && entry.finishedAt <= before) {
        this.#effects.delete(id);
        purged += 1;
      }
    }
    return purged;
  }

  /** See {@link Outbox.counts}. */
  async counts(): Promise<OutboxCounts> {
    const counts = { pending: 0, done: 0, dead: 0 };
    for (const entry of this.#effects.values()) counts[entry.status] += 1;
    return counts;
  }

  /** Number of commits rejected as stale since the outbox was created (for demos and metrics). */
  get rejected(): number {
    return this.#records.rejected;
  }

  /** The entry of `effect` if that claim is still its latest and it is still pending. */
  #latestClaim(effect: ClaimedEffect<P>): Entry | undefined {
    const entry = this.#effects.get(effect.idempotencyKey);
    return entry !== undefined && entry.status === 'pending' && entry.attempts === effect.attempt ? entry : undefined;
  }

  #view(entry: Entry): OutboxEffect<P> {
    return Object.freeze({
      idempotencyKey: entry.idempotencyKey,
      key: entry.key,
      payload: JSON.parse(entry.payload) as P,
      token: entry.token,
      owner: entry.owner,
      headers: { ...entry.headers },
      createdAt: entry.createdAt,
      status: entry.status,
      attempts: entry.attempts,
      lastError: entry.lastError,
    });
  }
}
