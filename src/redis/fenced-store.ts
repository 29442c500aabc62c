import { StaleTokenError } from '../errors/stale-token-error.js';
import { TransportError } from '../errors/transport-error.js';
import { VersionConflictError } from '../errors/version-conflict-error.js';
import { checkFenceToken, checkIfVersion } from '../fencing/check.js';
import type { Fence, FencedRecord, FencedStore, PutOptions } from '../fencing/types.js';
import { serializedText, valueCodec } from '../internal/json.js';
import { checkClient, counterOption, integerReply, type RedisLike } from './client.js';
import { createEval } from './eval.js';
import { checkKey, keyName, prefixOption } from './keys.js';
import { GET_SCRIPT, PUT_SCRIPT, RAISE_SCRIPT } from './scripts.generated.js';
import { optionNames, optionsArgument } from '../internal/validate.js';

const OPTION_NAMES = optionNames<RedisFencedStoreOptions<unknown>>({
  prefix: true,
  serialize: true,
  deserialize: true,
  tokenCounter: true,
});

/** Options of {@link redisFencedStore}. */
export interface RedisFencedStoreOptions<V> {
  /**
   * Prepended to every Redis key: the record of `key` is the hash `<prefix>{<key>}:state`. Use the
   * prefix of the lock or token source whose tokens the writes carry, so that the store raises that
   * lock's fence counters (`<prefix>{<key>}:fence`). May not contain `{` or `}`.
   * @default 'ec:'
   */
  readonly prefix?: string;
  /**
   * Turns a value into the string stored in Redis.
   * @default JSON.stringify (a value it cannot encode, such as `undefined`, rejects with a `TypeError`)
   */
  readonly serialize?: (value: V) => string;
  /** Turns a stored string back into a value. @default JSON.parse */
  readonly deserialize?: (text: string) => V;
  /**
   * Where the fence counters of the tokens live, which the store raises to the highest token it has
   * seen for a key, so that a counter that went back (lost in a restart without persistence,
   * evicted, a replica promoted before it caught up) cannot hand out tokens the store has already
   * seen:
   *
   * - `'same'`: in this store's Redis (the lock and the store share a Redis and a prefix). The
   *   counter is raised inside the write's atomic step, after a rejection and after an accepted
   *   write.
   * - a client: the Redis of the lock or token source, when the state lives elsewhere (for example
   *   leases on a cache without persistence, state on a persistent Redis). The counter is raised
   *   there after each rejection, one extra round trip; a failure to raise is swallowed (the write
   *   was still rejected, and the next rejection tries again).
   * - `'none'`: never raise (tokens come from another source, e.g. a SQL sequence).
   * @default 'same'
   */
  readonly tokenCounter?: 'same' | 'none' | RedisLike;
}

const get = createEval<[state: string], [], unknown>(GET_SCRIPT);
const put = createEval<
  [state: string, fence: string],
  [token: string, owner: string, value: string, ifVersion: string, raise: '0' | '1'],
  unknown
>(PUT_SCRIPT);
const raise = createEval<[fence: string], [token: string], unknown>(RAISE_SCRIPT);

/**
 * A {@link FencedStore} on Redis: each key's record is a hash `<prefix>{<key>}:state` holding the
 * serialized value, the token and owner of the write that produced it, and a version. A write is
 * one Lua script (one round trip) that checks the token, then `ifVersion`, then records value and
 * token together, so no other write can come between the check and the record:
 *
 * - token below the record's, or equal to it from another owner: `StaleTokenError` carrying both
 *   tokens, nothing written;
 * - `ifVersion` given and not the record's version (0: no record): `VersionConflictError`;
 * - otherwise the record is replaced and its version incremented (1 for the first write).
 *
 * Records never expire: forgetting one would forget its highest token and let a stale writer in.
 * `updateFenced(store, key, fence, fn)` gives read-modify-write with optimistic concurrency on top.
 * Failures of Redis reject with a `TransportError`. Create it with {@link redisFencedStore}.
 */
export class RedisFencedStore<V = unknown> implements FencedStore<V> {
  /** Adapter name for logs and telemetry. */
  readonly name = 'redis';
  /** The key prefix in use. */
  readonly prefix: string;
  readonly #client: RedisLike;
  readonly #serialize: (value: V) => string;
  readonly #deserialize: (text: string) => V;
  readonly #raiseHere: boolean;
  readonly #counterClient: RedisLike | undefined;
  #rejected = 0;

  /** Prefer {@link redisFencedStore}. Throws a `ConfigurationError` on a bad client or option. */
  constructor(client: RedisLike, options: RedisFencedStoreOptions<V> = {}) {
    optionsArgument(options, OPTION_NAMES);
    checkClient(client);
    this.#client = client;
    this.prefix = prefixOption(options.prefix);
    const codec = valueCodec(options);
    this.#serialize = codec.serialize;
    this.#deserialize = codec.deserialize;
    const counter = counterOption(options.tokenCounter);
    this.#raiseHere = counter === 'same';
    this.#counterClient = typeof counter === 'object' ? counter : undefined;
  }

  /** The record of `key` (deserialized afresh), or `undefined` if no write was ever accepted for it. */
  async get(key: string): Promise<FencedRecord<V> | undefined> {
    checkKey(key);
    const reply = await get(this.#client, [keyName(this.prefix, key, 'state')], []);
    if (!Array.isArray(reply) || reply.length !== 4) throw badReply('get', key, reply);
    const [text, token, owner, version] = reply as unknown[];
    if (text === null || text === undefined) return undefined;
    if (typeof text !== 'string' || typeof owner !== 'string') throw badReply('get', key, reply);
    return Object.freeze({
      value: this.#deserialize(text),
      token: integerReply(token),
      owner,
      version: integerReply(version),
    });
  }

  /**
   * Write `value` for `key` under `fence`, atomically checking the token, then `ifVersion`.
   * Resolves with the new record. Rejects with `StaleTokenError` (`token`, `currentToken`) for an
   * older fence, `VersionConflictError` when `ifVersion` does not match, a `RangeError` when
   * `fence.token` is not a positive safe integer, a `TypeError` when the value cannot be serialized,
   * or a `TransportError` when Redis fails (the write may or may not have been applied then).
   */
  async put(key: string, value: V, fence: Fence, options: PutOptions = {}): Promise<FencedRecord<V>> {
    checkKey(key);
    checkFenceToken(fence);
    const { ifVersion } = options;
    checkIfVersion(ifVersion);
    const text = serializedText(this.#serialize, value, 'fenced store');
    const owner = String(fence.owner);
    const reply = await put(
      this.#client,
      [keyName(this.prefix, key, 'state'), keyName(this.prefix, key, 'fence')],
      [String(fence.token), owner, text, ifVersion === undefined ? '' : String(ifVersion), this.#raiseHere ? '1' : '0'],
    );
    if (!Array.isArray(reply) || reply.length !== 2) throw badReply('put', key, reply);
    const outcome = integerReply(reply[0]);
    const figure = integerReply(reply[1]);
    if (outcome === 1) {
      // Deserialized from what was stored, so the caller gets a copy, as from `get`.
      return Object.freeze({ value: this.#deserialize(text), token: fence.token, owner, version: figure });
    }
    if (outcome === 0) {
      this.#rejected += 1;
      if (this.#counterClient !== undefined) await this.#raiseElsewhere(key, figure);
      throw new StaleTokenError(key, fence.token, figure, owner);
    }
    if (outcome === -1) throw new VersionConflictError(key, ifVersion ?? 0, figure);
    throw badReply('put', key, reply);
  }

  /** Number of writes this instance saw rejected as stale (for demos and metrics). */
  get rejected(): number {
    return this.#rejected;
  }

  async #raiseElsewhere(key: string, token: number): Promise<void> {
    try {
      await raise(this.#counterClient as RedisLike, [keyName(this.prefix, key, 'fence')], [String(token)]);
    } catch {
      // Best effort: the write is rejected either way, and the next rejection raises it again.
    }
  }
}

/**
 * A Redis {@link FencedStore}: per-key state whose writes carry a fencing token, rejected with a
 * `StaleTokenError` when older than the newest accepted. Values are JSON by default.
 *
 * @example
 * ```ts
 * import { redisFencedStore } from 'exclusive-consumer/redis';
 * import { updateFenced } from 'exclusive-consumer';
 *
 * const decisions = redisFencedStore<Decision>(redis);
 * // in the handler of a consumer with a `lock` or a `tokenSource` (`ctx.fence` is then a `Fence`):
 * await decisions.put(ctx.key, decision, ctx.fence);
 * await updateFenced(decisions, ctx.key, ctx.fence, (d) => ({ ...d, sent: (d?.sent ?? 0) + 1 }));
 * ```
 */
export function redisFencedStore<V = unknown>(client: RedisLike, options: RedisFencedStoreOptions<V> = {}): RedisFencedStore<V> {
  return new RedisFencedStore<V>(client, options);
}

function badReply(operation: string, key: string, reply: unknown): TransportError {
  return new TransportError(`Redis ${operation} gave an unexpected reply: ${JSON.stringify(reply)}`, {
    retriable: false,
    context: { store: 'redis', operation, key },
  });
}
