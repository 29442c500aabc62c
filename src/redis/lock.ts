import type { TokenCounter } from '../fencing/types.js';
import { optionNames, optionsArgument } from '../internal/validate.js';
import { checkTtl } from '../locks/check.js';
import type { FencingTokenSource, Lease, Lock } from '../locks/types.js';
import { TransportError } from '../errors/transport-error.js';
import { checkClient, integerReply, type RedisLike } from './client.js';
import { createEval } from './eval.js';
import { checkKey, keyName, prefixOption } from './keys.js';
import { ACQUIRE_SCRIPT, EXTEND_SCRIPT, NEXT_TOKEN_SCRIPT, RAISE_SCRIPT, RELEASE_SCRIPT } from './scripts.generated.js';

const OPTION_NAMES = optionNames<RedisLockOptions>({ prefix: true });

/** Options of {@link redisLock} and {@link redisTokenSource}. */
export interface RedisLockOptions {
  /**
   * Prepended to every Redis key, e.g. `ec:{user-42}:lock`. Use one prefix per application (or
   * environment) sharing a Redis; give the fenced store the same prefix so that it can raise the
   * same fence counters. May not contain `{` or `}`.
   * @default 'ec:'
   */
  readonly prefix?: string;
}

const acquire = createEval<[lock: string, fence: string], [owner: string, ttlMs: number], unknown>(ACQUIRE_SCRIPT);
const extend = createEval<[lock: string], [held: string, ttlMs: number], unknown>(EXTEND_SCRIPT);
const release = createEval<[lock: string], [held: string], unknown>(RELEASE_SCRIPT);
const nextToken = createEval<[fence: string], [], unknown>(NEXT_TOKEN_SCRIPT);
const raise = createEval<[fence: string], [token: string], unknown>(RAISE_SCRIPT);

/**
 * A {@link Lock} and {@link FencingTokenSource} on Redis: a lease per key with fencing tokens, each
 * primitive one atomic Lua script (one round trip). Renewal, waiting with jitter, local expiry on a
 * monotonic clock and abort-on-loss are the library's (`holdLease`, the consumer's `lease` options).
 *
 * - `tryAcquire` checks the lock key, `INCR`s the key's fence counter and `SET`s the lock to
 *   `<token>:<owner>` with `PX ttl` in one script: the token is minted in the step that grants the
 *   lease. The counter never expires and is never deleted.
 * - `extend` and `release` act only if the lock still holds the same owner and token.
 * - Expiry is the server's (`PX`), so client clocks do not matter; the library presumes a lease lost
 *   a little before it, on this process's monotonic clock.
 * - `nextToken` increments the same counter, so tokens from leases and from broker-routed modes
 *   never collide or go backwards for a key.
 * - Key layout: `<prefix>{<key>}:lock` and `<prefix>{<key>}:fence` (see `docs/fencing.md`). The
 *   `{…}` hash tag keeps both in one Cluster slot.
 * - `raise` lifts the same counter to a token a fenced store elsewhere has seen (a
 *   {@link TokenCounter} for the PostgreSQL store and the outboxes).
 * - Failures reject with a `TransportError` (`retriable`, `cause` the client's error).
 *
 * Create it with {@link redisLock}.
 */
export class RedisLock implements Lock, FencingTokenSource, TokenCounter {
  /** Adapter name for logs and telemetry. */
  readonly name = 'redis';
  /** The key prefix in use. */
  readonly prefix: string;
  readonly #client: RedisLike;

  /** Prefer {@link redisLock}. Throws a `ConfigurationError` on a bad client or option. */
  constructor(client: RedisLike, options: RedisLockOptions = {}) {
    optionsArgument(options, OPTION_NAMES);
    checkClient(client);
    this.#client = client;
    this.prefix = prefixOption(options.prefix);
  }

  /**
   * Grant `key` to `owner` for `ttlMs` with a new fencing token, unless anyone (`owner` included)
   * holds it. Resolves `undefined` when held. Rejects with a `RangeError` for a bad `ttlMs`, a
   * `TransportError` when Redis fails.
   */
  async tryAcquire(key: string, owner: string, ttlMs: number): Promise<Lease | undefined> {
    checkKey(key);
    const px = pxOf(ttlMs);
    const keys: [string, string] = [keyName(this.prefix, key, 'lock'), keyName(this.prefix, key, 'fence')];
    const token = integerReply(await acquire(this.#client, keys, [String(owner), px]));
    if (token === 0) return undefined;
    return Object.freeze({ key, owner, token: checkToken(token, key), ttlMs });
  }

  /** Extend `lease` to `ttlMs` from now if Redis still holds it with the same owner and token. */
  async extend(lease: Lease, ttlMs: number): Promise<boolean> {
    const px = pxOf(ttlMs);
    const reply = await extend(this.#client, [keyName(this.prefix, lease.key, 'lock')], [held(lease), px]);
    return integerReply(reply) === 1;
  }

  /** Release `lease` if Redis still holds it with the same owner and token; any other lease stays. */
  async release(lease: Lease): Promise<boolean> {
    const reply = await release(this.#client, [keyName(this.prefix, lease.key, 'lock')], [held(lease)]);
    return integerReply(reply) === 1;
  }

  /** A new token for `key` from the lease counter (one round trip); touches no lease. */
  async nextToken(key: string): Promise<number> {
    checkKey(key);
    return checkToken(integerReply(await nextToken(this.#client, [keyName(this.prefix, key, 'fence')], [])), key);
  }

  /**
   * Raise `key`'s fence counter to at least `token` (one round trip); never lowers it. Rejects with
   * a `RangeError` when `token` is not a positive safe integer.
   */
  async raise(key: string, token: number): Promise<void> {
    checkKey(key);
    if (!Number.isSafeInteger(token) || token < 1) {
      throw new RangeError(`Expected \`token\` to be a positive safe integer, got ${String(token)}`);
    }
    await raise(this.#client, [keyName(this.prefix, key, 'fence')], [String(token)]);
  }
}

/**
 * A Redis lease lock with fencing tokens, for `shared-locked` mode. Pass it as the consumer's
 * `lock`; the same object is also a `tokenSource` for other modes.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { redisLock } from 'exclusive-consumer/redis';
 *
 * const lock = redisLock(new Redis(process.env.REDIS_URL!), { prefix: 'shop:' });
 * const consumer = createExclusiveConsumer(topic, (e) => e.shopperId, handler, {
 *   mode: 'shared-locked',
 *   lock,
 *   lease: { ttlMs: 10_000, lingerMs: 50 },
 * });
 * ```
 */
export function redisLock(client: RedisLike, options: RedisLockOptions = {}): RedisLock {
  return new RedisLock(client, options);
}

/**
 * A {@link FencingTokenSource} on Redis for broker-routed modes (`key-shared`, `failover`): one
 * `INCR` of the key's fence counter per call, the same counter {@link redisLock} mints from with the
 * same prefix. Handlers then get `ctx.fencingToken` in those modes too.
 *
 * @example
 * ```ts
 * const consumer = createExclusiveConsumer(topic, keyFn, handler, {
 *   mode: 'key-shared',
 *   tokenSource: redisTokenSource(redis),
 * });
 * ```
 */
export function redisTokenSource(
  client: RedisLike,
  options: RedisLockOptions = {},
): FencingTokenSource & TokenCounter & { readonly name: string } {
  const lock = new RedisLock(client, options);
  return Object.freeze({
    name: 'redis',
    nextToken: (key: string) => lock.nextToken(key),
    raise: (key: string, token: number) => lock.raise(key, token),
  });
}

/** The lock's value in Redis; extend and release compare it whole, so owner and token must both match. */
function held(lease: Lease): string {
  return `${lease.token}:${lease.owner}`;
}

/** `ttlMs` as a `PX` argument: an integer, rounded up (the library's own deadline stays earlier). */
function pxOf(ttlMs: number): number {
  checkTtl(ttlMs);
  return Math.ceil(ttlMs);
}

/** A token that is not an exact positive integer would break fencing; never hand one out. */
function checkToken(token: number, key: string): number {
  if (!Number.isSafeInteger(token) || token < 1) {
    throw new TransportError(`Redis fence counter of a key gave an unusable token: ${String(token)}`, {
      retriable: false,
      context: { store: 'redis', key },
    });
  }
  return token;
}
