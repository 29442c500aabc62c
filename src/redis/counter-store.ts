import type { CounterStore, RunOverlaps } from '../middleware/exclusivity-counter/types.js';
import { integerOption, optionNames, optionsArgument } from '../internal/validate.js';
import { checkClient, integerReply, type RedisLike } from './client.js';
import { createEval } from './eval.js';
import { checkKey, keyName, prefixOption } from './keys.js';
import { DECREMENT_SCRIPT, INCREMENT_SCRIPT, RENEW_SCRIPT } from './scripts.generated.js';
import { TransportError } from '../errors/transport-error.js';

const OPTION_NAMES = optionNames<RedisCounterStoreOptions>({ prefix: true, ttlMs: true, retainMs: true });

/** Options of {@link redisCounterStore}. */
export interface RedisCounterStoreOptions {
  /**
   * Prepended to every Redis key: the runs of `key` are the sorted set `<prefix>{<key>}:runs` and
   * their overlaps the hash `<prefix>{<key>}:overlaps`. May not contain `{` or `}`.
   * @default 'ec:'
   */
  readonly prefix?: string;
  /**
   * How long a run stays counted as in progress without news from its process, in milliseconds
   * (Redis server clock): the session's heartbeat bound. The `exclusivityCounter` middleware renews
   * its runs in progress every third of this, so a run longer than that costs one round trip per
   * renewal. A process that crashed (or lost Redis) stops being counted at most this long after its
   * last renewal; it never causes a violation report either way.
   * @default 3_000
   */
  readonly ttlMs?: number;
  /**
   * How long a run that stopped renewing is still remembered after its `ttlMs` ran out, in
   * milliseconds: a process paused for up to `ttlMs + retainMs` still reports, on resuming, the
   * runs of its keys that started during the pause. A longer pause is reported as a `forgotten`
   * run (an `error` event, phase `exclusivity-counter:forgotten`). The record of a crashed run
   * lasts this long.
   * @default 600_000
   */
  readonly retainMs?: number;
}

type Keys = [runs: string, overlaps: string];
const increment = createEval<Keys, [holder: string, ttlMs: number, retainMs: number], unknown>(INCREMENT_SCRIPT);
const renew = createEval<Keys, [holder: string, ttlMs: number, retainMs: number], unknown>(RENEW_SCRIPT);
const decrement = createEval<Keys, [holder: string], unknown>(DECREMENT_SCRIPT);

/**
 * A fleet-wide {@link CounterStore} on Redis for the `exclusivityCounter` middleware: the runs of
 * each key are a sorted set `<prefix>{<key>}:runs` of holders (one per run) scored by expiry time,
 * and the overlaps recorded on them a hash `<prefix>{<key>}:overlaps` in the same Cluster slot.
 *
 * - `increment` is one script: forget runs expired more than `retainMs` ago, count the others still
 *   in progress, record this start as an overlap on every other run of the key (in progress,
 *   crashed or paused: that cannot be told yet), add this holder with an expiry of `ttlMs` on the
 *   server's clock.
 * - `renew` (the middleware's heartbeat) extends the holder's expiry and collects its overlaps;
 *   `decrement` removes the holder and collects them. Collected overlaps are cleared, so each is
 *   reported once, by the run that was in progress when the other started, and only if its
 *   process is alive to collect it: a crashed process never reports.
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
  /** How long an expired holder is remembered, in milliseconds. */
  readonly retainMs: number;
  readonly #client: RedisLike;

  /** Prefer {@link redisCounterStore}. Throws a `ConfigurationError` on a bad client or option. */
  constructor(client: RedisLike, options: RedisCounterStoreOptions = {}) {
    optionsArgument(options, OPTION_NAMES);
    checkClient(client);
    this.#client = client;
    this.prefix = prefixOption(options.prefix);
    this.ttlMs = integerOption('ttlMs', options.ttlMs, 3_000, 10);
    this.retainMs = integerOption('retainMs', options.retainMs, 600_000, 0);
  }

  /**
   * Count `holder`'s run of `key` as started and record it on the key's other runs. Resolves with
   * the number of other runs of the key in progress anywhere in the fleet; counting the same holder
   * again only renews it.
   */
  async increment(key: string, holder: string): Promise<number> {
    const others = integerReply(await increment(this.#client, this.#keys(key), [String(holder), this.ttlMs, this.retainMs]));
    if (!Number.isSafeInteger(others) || others < 0) throw unexpected('increment', key, others);
    return others;
  }

  /** Keep `holder`'s run counted for another `ttlMs` and collect its overlaps. */
  async renew(key: string, holder: string): Promise<RunOverlaps> {
    return overlapsReply('renew', key, await renew(this.#client, this.#keys(key), [String(holder), this.ttlMs, this.retainMs]));
  }

  /** Count `holder`'s run of `key` as finished and collect its overlaps. Idempotent. */
  async decrement(key: string, holder: string): Promise<RunOverlaps> {
    return overlapsReply('decrement', key, await decrement(this.#client, this.#keys(key), [String(holder)]));
  }

  #keys(key: string): Keys {
    checkKey(key);
    return [keyName(this.prefix, key, 'runs'), keyName(this.prefix, key, 'overlaps')];
  }
}

function overlapsReply(operation: string, key: string, reply: unknown): RunOverlaps {
  const [overlaps, concurrent] = Array.isArray(reply) ? reply.map(integerReply) : [];
  if (overlaps === undefined || concurrent === undefined || !Number.isSafeInteger(overlaps) || !Number.isSafeInteger(concurrent) || overlaps < -1) {
    throw unexpected(operation, key, reply);
  }
  if (overlaps === -1) return { overlaps: 0, concurrent: 0, forgotten: true };
  return { overlaps, concurrent, forgotten: false };
}

function unexpected(operation: string, key: string, reply: unknown): TransportError {
  return new TransportError(`Redis ${operation} gave an unexpected reply: ${JSON.stringify(reply)}`, {
    retriable: false,
    context: { store: 'redis', key },
  });
}

/**
 * A Redis {@link CounterStore}: the exclusivity counter's runs in progress, shared by every process
 * that uses the same Redis and prefix. A run whose process stopped renewing it (crashed, paused)
 * stops counting after `ttlMs`; a paused one still reports the overlaps it missed when it resumes.
 *
 * @example
 * ```ts
 * import { exclusivityCounter } from 'exclusive-consumer';
 * import { redisCounterStore } from 'exclusive-consumer/redis';
 *
 * const counter = exclusivityCounter({ store: redisCounterStore(redis) });
 * createExclusiveConsumer(topic, keyFn, handler, { middleware: [counter] });
 * ```
 */
export function redisCounterStore(client: RedisLike, options: RedisCounterStoreOptions = {}): RedisCounterStore {
  return new RedisCounterStore(client, options);
}
