import type { CounterStore } from '../middleware/exclusivity-counter/types.js';
import { integerOption } from '../internal/validate.js';
import { checkClient, integerReply, type RedisLike } from './client.js';
import { createEval } from './eval.js';
import { checkKey, keyName, prefixOption } from './keys.js';
import { DECREMENT_SCRIPT, INCREMENT_SCRIPT } from './scripts.generated.js';
import { TransportError } from '../errors/transport-error.js';

/** Options of {@link redisCounterStore}. */
export interface RedisCounterStoreOptions {
  /**
   * Prepended to every Redis key: the runs of `key` are the sorted set `<prefix>{<key>}:runs`.
   * May not contain `{` or `}`.
   * @default 'ec:'
   */
  readonly prefix?: string;
  /**
   * How long a run stays counted without news from its process, in milliseconds (Redis server
   * clock). While a run is in progress this store renews it every third of this, so a long run
   * stays counted; a process that crashed (or lost Redis) mid-run stops being counted at most this
   * long after its last renewal. Shorter forgets crashed runs sooner; each renewal of a long run is
   * one round trip.
   * @default 30_000
   */
  readonly ttlMs?: number;
}

const increment = createEval<[runs: string], [holder: string, ttlMs: number], unknown>(INCREMENT_SCRIPT);
const decrement = createEval<[runs: string], [holder: string], unknown>(DECREMENT_SCRIPT);

/**
 * A fleet-wide {@link CounterStore} on Redis for the `exclusivityCounter` middleware: the runs in
 * progress of each key are a sorted set `<prefix>{<key>}:runs` of holders (one per run) scored by
 * expiry time.
 *
 * - `increment` is one script: drop expired holders, count the others (the article's "counter
 *   value before increment"), add this holder with an expiry of `ttlMs` on the server's clock. Every
 *   process of the fleet shares the count, so two processes running one key at once see a
 *   violation.
 * - `decrement` removes the holder (idempotent); the set vanishes with its last holder.
 * - A process that crashes mid-run never decrements: its holder expires after `ttlMs` (and the whole
 *   key once its last holder has), so a key is never counted forever. Runs longer than a third of
 *   `ttlMs` are renewed by a timer of this instance (unref'd, stopped by `decrement`).
 *
 * Create it with {@link redisCounterStore}.
 */
export class RedisCounterStore implements CounterStore {
  /** Adapter name for logs and telemetry. */
  readonly name = 'redis';
  /** The key prefix in use. */
  readonly prefix: string;
  /** Time to live of a holder without renewal, in milliseconds. */
  readonly ttlMs: number;
  readonly #client: RedisLike;
  /** Renewal timers of the runs this instance counted and has not yet decremented. */
  readonly #renewals = new Map<string, NodeJS.Timeout>();

  /** Prefer {@link redisCounterStore}. Throws a `ConfigurationError` on a bad client or option. */
  constructor(client: RedisLike, options: RedisCounterStoreOptions = {}) {
    checkClient(client);
    this.#client = client;
    this.prefix = prefixOption(options.prefix);
    this.ttlMs = integerOption('ttlMs', options.ttlMs, 30_000, 10);
  }

  /**
   * Count `holder`'s run of `key` as started. Resolves with the number of other runs of the key in
   * progress anywhere in the fleet; counting the same holder again counts it once.
   */
  async increment(key: string, holder: string): Promise<number> {
    checkKey(key);
    const runs = keyName(this.prefix, key, 'runs');
    const others = integerReply(await increment(this.#client, [runs], [String(holder), this.ttlMs]));
    if (!Number.isSafeInteger(others) || others < 0) {
      throw new TransportError(`Redis increment gave an unexpected reply: ${String(others)}`, {
        retriable: false,
        context: { store: 'redis', key },
      });
    }
    this.#renewWhileCounted(runs, `${runs}\n${holder}`, String(holder));
    return others;
  }

  /** Count `holder`'s run of `key` as finished. Idempotent: an unknown holder is ignored. */
  async decrement(key: string, holder: string): Promise<void> {
    checkKey(key);
    const runs = keyName(this.prefix, key, 'runs');
    const id = `${runs}\n${holder}`;
    const timer = this.#renewals.get(id);
    if (timer !== undefined) {
      clearInterval(timer);
      this.#renewals.delete(id);
    }
    await decrement(this.#client, [runs], [String(holder)]);
  }

  /** Runs this instance is renewing (counted, not yet decremented). For tests. */
  get renewing(): number {
    return this.#renewals.size;
  }

  /**
   * Stop renewing every run this instance counted, without decrementing them: they expire after
   * `ttlMs`. For shutdown paths that cannot wait; normally `decrement` stops each renewal.
   */
  stopRenewals(): void {
    for (const timer of this.#renewals.values()) clearInterval(timer);
    this.#renewals.clear();
  }

  #renewWhileCounted(runs: string, id: string, holder: string): void {
    if (this.#renewals.has(id)) return;
    const timer = setInterval(() => {
      // The increment script re-adds the holder with a fresh expiry; its count is not needed here.
      // A failed renewal is not fatal: the next one (or the run's end) catches up.
      increment(this.#client, [runs], [holder, this.ttlMs]).catch(() => undefined);
    }, Math.max(1, Math.floor(this.ttlMs / 3)));
    timer.unref();
    this.#renewals.set(id, timer);
  }
}

/**
 * A Redis {@link CounterStore}: the exclusivity counter's runs in progress, shared by every process
 * that uses the same Redis and prefix, and forgetting a crashed process's runs after `ttlMs`.
 *
 * @example
 * ```ts
 * import { exclusivityCounter } from 'exclusive-consumer';
 * import { redisCounterStore } from 'exclusive-consumer/redis';
 *
 * const counter = exclusivityCounter({ store: redisCounterStore(redis, { ttlMs: 60_000 }) });
 * createExclusiveConsumer(topic, keyFn, handler, { middleware: [counter] });
 * ```
 */
export function redisCounterStore(client: RedisLike, options: RedisCounterStoreOptions = {}): RedisCounterStore {
  return new RedisCounterStore(client, options);
}
