import { ConfigurationError } from '../errors/configuration-error.js';
import { StaleTokenError } from '../errors/stale-token-error.js';
import { TransportError } from '../errors/transport-error.js';
import { VersionConflictError } from '../errors/version-conflict-error.js';
import { checkKey } from '../fencing/check.js';
import type { Fence, FencedRecord, PutOptions } from '../fencing/types.js';
import { serializedText, valueCodec } from '../internal/json.js';
import { integerOption, optionNames, optionsArgument } from '../internal/validate.js';
import { checkClaim, checkDelay, checkLimit, prepareCommit, resolveOutboxOptions, type ResolvedOutboxOptions } from '../outbox/effects.js';
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
} from '../outbox/types.js';
import { checkClient, counterOption, integerReply, type RedisLike } from './client.js';
import { createEval } from './eval.js';
import { keyName, outboxShardKeys, prefixOption, shardOf, type OutboxShardKeys } from './keys.js';
import {
  GET_SCRIPT,
  OUTBOX_CLAIM_SCRIPT,
  OUTBOX_COMMIT_SCRIPT,
  OUTBOX_COMPLETE_SCRIPT,
  OUTBOX_COUNTS_SCRIPT,
  OUTBOX_DEAD_LETTERS_SCRIPT,
  OUTBOX_DEAD_LETTER_SCRIPT,
  OUTBOX_EFFECT_SCRIPT,
  OUTBOX_PURGE_SCRIPT,
  OUTBOX_REQUEUE_SCRIPT,
  OUTBOX_RETRY_SCRIPT,
  RAISE_SCRIPT,
} from './scripts.generated.js';

const OPTION_NAMES = optionNames<RedisOutboxOptions<unknown>>({
  prefix: true,
  shards: true,
  serialize: true,
  deserialize: true,
  tokenCounter: true,
  captureHeaders: true,
  retainDoneMs: true,
});

/** Options of {@link redisOutbox}. */
export interface RedisOutboxOptions<V> extends OutboxOptions {
  /**
   * Prepended to every Redis key: `<prefix>{outbox:<shard>}:ob-…`. Use the prefix of the lock or
   * token source whose tokens the commits carry, so that a rejection raises that lock's fence
   * counters (`<prefix>{<key>}:fence`). May not contain `{` or `}`.
   * @default 'ec:'
   */
  readonly prefix?: string;
  /**
   * Number of shards, each one hash tag (one Cluster slot) holding the state, the effects and the
   * due queue of its keys, so that a commit is one script on one node. One is right for a
   * standalone Redis; on a Cluster, use a few per master to spread the load. **Never change it** for
   * an outbox in use: a key would move to another shard, away from its record and its highest token.
   * @default 1
   */
  readonly shards?: number;
  /** Turns a state value into the string stored in Redis. @default JSON.stringify */
  readonly serialize?: (value: V) => string;
  /** Turns a stored string back into a state value. @default JSON.parse */
  readonly deserialize?: (text: string) => V;
  /**
   * Where the fence counters of the tokens live, raised after each rejected commit to the highest
   * token the outbox holds for the key (one extra round trip on rejections only; a failure to raise
   * is swallowed): `'same'` this client, a client (the leases' Redis), or `'none'`.
   * @default 'same'
   */
  readonly tokenCounter?: 'same' | 'none' | RedisLike;
}

const get = createEval<[state: string], [], unknown>(GET_SCRIPT);
const commit = createEval<[state: string, effects: string, due: string], string[], unknown>(OUTBOX_COMMIT_SCRIPT);
const claim = createEval<[due: string, effects: string, attempts: string, errors: string], [limit: string, visibilityMs: string], unknown>(
  OUTBOX_CLAIM_SCRIPT,
);
const complete = createEval<[due: string, dead: string, done: string, effects: string], string[], unknown>(OUTBOX_COMPLETE_SCRIPT);
const retry = createEval<[due: string, attempts: string, errors: string], [id: string, attempt: string, delayMs: string, error: string], unknown>(
  OUTBOX_RETRY_SCRIPT,
);
const deadLetter = createEval<[due: string, dead: string, attempts: string, errors: string], [id: string, attempt: string, error: string], unknown>(
  OUTBOX_DEAD_LETTER_SCRIPT,
);
const requeue = createEval<[due: string, dead: string, attempts: string], [id: string], unknown>(OUTBOX_REQUEUE_SCRIPT);
const effect = createEval<[effects: string, attempts: string, errors: string, due: string, dead: string, done: string], [id: string], unknown>(
  OUTBOX_EFFECT_SCRIPT,
);
const deadLetters = createEval<[dead: string, effects: string, attempts: string, errors: string], [limit: string], unknown>(
  OUTBOX_DEAD_LETTERS_SCRIPT,
);
const purge = createEval<[done: string, effects: string, attempts: string, errors: string], [retainMs: string, limit: string], unknown>(
  OUTBOX_PURGE_SCRIPT,
);
const counts = createEval<[due: string, done: string, dead: string], [], unknown>(OUTBOX_COUNTS_SCRIPT);
const raise = createEval<[fence: string], [token: string], unknown>(RAISE_SCRIPT);

/** Effects forgotten per purge call: bounds how long one call keeps Redis busy. */
const PURGE_BATCH = 500;

/** A completion waiting to be sent with the others of its turn. */
interface Completion {
  readonly shard: number;
  readonly idempotencyKey: string;
  resolve(done: boolean): void;
  reject(error: unknown): void;
}

/** An effect record as stored in the effects hash. */
interface StoredEffect {
  readonly c: number;
  readonly k: string;
  readonly p: unknown;
  readonly h: Record<string, string>;
  readonly t: number;
  readonly o: string;
}

/**
 * An {@link Outbox} on Redis. Keys are split into `shards` (one by default); everything of a shard
 * lives under one hash tag, so each operation is one Lua script on one node, standalone or Cluster:
 *
 * - `commit` (`outbox-commit-3.lua`) checks the fence and `ifVersion` as the fenced store does,
 *   then writes the state and adds each effect whose idempotency key the shard does not hold, with
 *   its due time, in one atomic step. A rejected commit writes nothing.
 * - `claim` takes due effects oldest first and pushes their due time `visibilityMs` ahead; the
 *   server's clock (`TIME`) decides, not a client's.
 * - Sent effects stay (for deduplication) until `purge` forgets them after `retainDoneMs`; dead
 *   letters stay until requeued.
 *
 * Its state records are its own (`<prefix>{outbox:<shard>}:ob-state:<key>`), not the fenced
 * store's: read them with `get`, write them without effects with `put`. Create it with
 * {@link redisOutbox}.
 */
export class RedisOutbox<V = unknown, P = unknown> implements Outbox<V, P> {
  /** Adapter name for logs and telemetry. */
  readonly name = 'redis';
  /** The key prefix in use. */
  readonly prefix: string;
  /** The number of shards. */
  readonly shards: number;
  readonly #client: RedisLike;
  readonly #keys: readonly OutboxShardKeys[];
  readonly #serialize: (value: V) => string;
  readonly #deserialize: (text: string) => V;
  readonly #counterClient: RedisLike | undefined;
  readonly #options: ResolvedOutboxOptions;
  /** Where the next claim starts, so that every shard gets its turn first. */
  #nextShard = 0;
  /** Completions waiting for the end of the turn. */
  #completions: Completion[] = [];
  #rejected = 0;

  /** Prefer {@link redisOutbox}. Throws a `ConfigurationError` on a bad client or option. */
  constructor(client: RedisLike, options: RedisOutboxOptions<V> = {}) {
    optionsArgument(options, OPTION_NAMES);
    checkClient(client);
    this.#client = client;
    this.prefix = prefixOption(options.prefix);
    this.shards = integerOption('shards', options.shards, 1, 1);
    if (this.shards > 1024) throw new ConfigurationError('shards', 'an integer between 1 and 1024', this.shards);
    this.#keys = Array.from({ length: this.shards }, (_, s) => outboxShardKeys(this.prefix, s));
    const codec = valueCodec(options);
    this.#serialize = codec.serialize;
    this.#deserialize = codec.deserialize;
    const counter = counterOption(options.tokenCounter);
    this.#counterClient = counter === 'same' ? client : counter === 'none' ? undefined : counter;
    this.#options = resolveOutboxOptions(options);
  }

  /** The state record of `key`, or `undefined` if no commit was ever accepted for it. */
  async get(key: string): Promise<FencedRecord<V> | undefined> {
    checkKey(key);
    const reply = await get(this.#client, [this.#shard(key).state(key)], []);
    if (!Array.isArray(reply) || reply.length !== 4) throw badReply('get', reply);
    const [text, token, owner, version] = reply as unknown[];
    if (text === null || text === undefined) return undefined;
    if (typeof text !== 'string' || typeof owner !== 'string') throw badReply('get', reply);
    return Object.freeze({ value: this.#deserialize(text), token: integerReply(token), owner, version: integerReply(version) });
  }

  /** A commit without effects. */
  async put(key: string, value: V, fence: Fence, options: PutOptions = {}): Promise<FencedRecord<V>> {
    return (await this.commit(key, value, fence, [], options)).record;
  }

  /** See {@link Outbox.commit}. One script, one round trip (plus one to raise the counter after a rejection). */
  async commit(
    key: string,
    value: V,
    fence: Fence,
    effects: readonly EffectInput<P>[],
    options: CommitOptions = {},
  ): Promise<CommitResult<V>> {
    const prepared = prepareCommit(key, fence, effects, options, this.#options.captureHeaders);
    const { ifVersion } = options;
    const text = serializedText(this.#serialize, value, 'outbox');
    const owner = String(fence.owner);
    const tail = `,"h":${JSON.stringify(prepared.headers)},"t":${fence.token},"o":${JSON.stringify(owner)}}`;
    const args = [String(fence.token), owner, text, ifVersion === undefined ? '' : String(ifVersion), String(prepared.effects.length)];
    for (const e of prepared.effects) args.push(e.idempotencyKey, `{"k":${JSON.stringify(key)},"p":${e.payload}${tail}`);
    const shard = this.#shard(key);
    const reply = await commit(this.#client, [shard.state(key), shard.effects, shard.due], args);
    if (!Array.isArray(reply) || reply.length < 2) throw badReply('commit', reply);
    const outcome = integerReply(reply[0]);
    const figure = integerReply(reply[1]);
    if (outcome === 1) {
      if (reply.length !== 2 + prepared.effects.length) throw badReply('commit', reply);
      return {
        record: Object.freeze({ value: this.#deserialize(text), token: fence.token, owner, version: figure }),
        effects: prepared.effects.map((e, i) => ({ idempotencyKey: e.idempotencyKey, created: integerReply(reply[2 + i]) === 1 })),
      };
    }
    if (outcome === 0) {
      this.#rejected += 1;
      if (this.#counterClient !== undefined) await this.#raise(key, figure);
      throw new StaleTokenError(key, fence.token, figure, owner);
    }
    if (outcome === -1) throw new VersionConflictError(key, ifVersion ?? 0, figure);
    throw badReply('commit', reply);
  }

  /** See {@link Outbox.claim}: shard after shard, starting at a different one each call, until `limit`. */
  async claim(limit: number, visibilityMs: number): Promise<ClaimedEffect<P>[]> {
    checkClaim(limit, visibilityMs);
    const claimed: ClaimedEffect<P>[] = [];
    const first = this.#nextShard;
    this.#nextShard = (first + 1) % this.shards;
    for (let i = 0; i < this.shards && claimed.length < limit; i++) {
      const keys = this.#keys[(first + i) % this.shards] as OutboxShardKeys;
      const reply = await claim(this.#client, [keys.due, keys.effects, keys.attempts, keys.errors], [String(limit - claimed.length), String(visibilityMs)]);
      if (!Array.isArray(reply) || reply.length % 4 !== 0) throw badReply('claim', reply);
      for (let j = 0; j < reply.length; j += 4) {
        const id = reply[j] as unknown;
        if (typeof id !== 'string') throw badReply('claim', reply);
        const stored = parseStored(reply[j + 2], 'claim');
        claimed.push(
          Object.freeze({
            ...this.#fields(id, stored, reply[j + 3]),
            attempt: integerReply(reply[j + 1]),
          }),
        );
      }
    }
    return claimed;
  }

  /**
   * See {@link Outbox.complete}. The completions asked for in one event-loop turn (a dispatcher's
   * sends that finished together) go out as one script call per shard; each call still resolves on
   * its own.
   */
  complete(claimed: ClaimedEffect<P>): Promise<boolean> {
    return new Promise((resolve, reject) => {
      if (this.#completions.length === 0) setImmediate(this.#flushCompletions);
      this.#completions.push({ shard: shardOf(claimed.key, this.shards), idempotencyKey: claimed.idempotencyKey, resolve, reject });
    });
  }

  readonly #flushCompletions = (): void => {
    const byShard = new Map<number, Completion[]>();
    for (const c of this.#completions) {
      const list = byShard.get(c.shard);
      if (list === undefined) byShard.set(c.shard, [c]);
      else list.push(c);
    }
    this.#completions = [];
    for (const [shard, batch] of byShard) {
      const keys = this.#keys[shard] as OutboxShardKeys;
      complete(this.#client, [keys.due, keys.dead, keys.done, keys.effects], batch.map((c) => c.idempotencyKey)).then(
        (reply) => {
          if (!Array.isArray(reply) || reply.length !== batch.length) {
            const error = badReply('complete', reply);
            for (const c of batch) c.reject(error);
            return;
          }
          batch.forEach((c, i) => c.resolve(integerReply(reply[i]) === 1));
        },
        (error: unknown) => {
          for (const c of batch) c.reject(error);
        },
      );
    }
  };

  /** See {@link Outbox.retry}. */
  async retry(claimed: ClaimedEffect<P>, delayMs: number, error: string): Promise<boolean> {
    checkDelay(delayMs);
    const keys = this.#shard(claimed.key);
    const args: [string, string, string, string] = [claimed.idempotencyKey, String(claimed.attempt), String(delayMs), String(error)];
    return integerReply(await retry(this.#client, [keys.due, keys.attempts, keys.errors], args)) === 1;
  }

  /** See {@link Outbox.deadLetter}. */
  async deadLetter(claimed: ClaimedEffect<P>, error: string): Promise<boolean> {
    const keys = this.#shard(claimed.key);
    const args: [string, string, string] = [claimed.idempotencyKey, String(claimed.attempt), String(error)];
    return integerReply(await deadLetter(this.#client, [keys.due, keys.dead, keys.attempts, keys.errors], args)) === 1;
  }

  /** See {@link Outbox.effect}: one round trip per shard until found. */
  async effect(idempotencyKey: string): Promise<OutboxEffect<P> | undefined> {
    for (const keys of this.#keys) {
      const reply = await effect(this.#client, [keys.effects, keys.attempts, keys.errors, keys.due, keys.dead, keys.done], [idempotencyKey]);
      if (!Array.isArray(reply)) throw badReply('effect', reply);
      if (reply.length === 0) continue;
      if (reply.length !== 4) throw badReply('effect', reply);
      const stored = parseStored(reply[0], 'effect');
      return Object.freeze({
        ...this.#fields(idempotencyKey, stored, reply[2]),
        status: reply[3] as EffectStatus,
        attempts: integerReply(reply[1]),
      });
    }
    return undefined;
  }

  /** See {@link Outbox.deadLetters}: the oldest of every shard, merged. */
  async deadLetters(limit = 100): Promise<OutboxEffect<P>[]> {
    checkLimit(limit);
    const found: Array<{ at: number; effect: OutboxEffect<P> }> = [];
    for (const keys of this.#keys) {
      const reply = await deadLetters(this.#client, [keys.dead, keys.effects, keys.attempts, keys.errors], [String(limit)]);
      if (!Array.isArray(reply) || reply.length % 5 !== 0) throw badReply('dead letters', reply);
      for (let j = 0; j < reply.length; j += 5) {
        const id = reply[j] as unknown;
        if (typeof id !== 'string') throw badReply('dead letters', reply);
        const stored = parseStored(reply[j + 2], 'dead letters');
        found.push({
          at: Number(reply[j + 1]),
          effect: Object.freeze({ ...this.#fields(id, stored, reply[j + 4]), status: 'dead', attempts: integerReply(reply[j + 3]) }),
        });
      }
    }
    return found
      .sort((x, y) => x.at - y.at)
      .slice(0, limit)
      .map((f) => f.effect);
  }

  /** See {@link Outbox.requeue}. */
  async requeue(idempotencyKey: string): Promise<boolean> {
    for (const keys of this.#keys) {
      if (integerReply(await requeue(this.#client, [keys.due, keys.dead, keys.attempts], [idempotencyKey])) === 1) return true;
    }
    return false;
  }

  /** See {@link Outbox.purge}: in batches, shard by shard. */
  async purge(): Promise<number> {
    let purged = 0;
    for (const keys of this.#keys) {
      for (;;) {
        const reply = await purge(this.#client, [keys.done, keys.effects, keys.attempts, keys.errors], [
          String(this.#options.retainDoneMs),
          String(PURGE_BATCH),
        ]);
        const n = integerReply(reply);
        purged += n;
        if (n < PURGE_BATCH) break;
      }
    }
    return purged;
  }

  /** See {@link Outbox.counts}. */
  async counts(): Promise<OutboxCounts> {
    let pending = 0;
    let done = 0;
    let dead = 0;
    for (const keys of this.#keys) {
      const reply = await counts(this.#client, [keys.due, keys.done, keys.dead], []);
      if (!Array.isArray(reply) || reply.length !== 3) throw badReply('counts', reply);
      pending += integerReply(reply[0]);
      done += integerReply(reply[1]);
      dead += integerReply(reply[2]);
    }
    return { pending, done, dead };
  }

  /** Number of commits this instance saw rejected as stale (for demos and metrics). */
  get rejected(): number {
    return this.#rejected;
  }

  #shard(key: string): OutboxShardKeys {
    return this.#keys[shardOf(key, this.shards)] as OutboxShardKeys;
  }

  #fields(idempotencyKey: string, stored: StoredEffect, lastError: unknown): Omit<OutboxEffect<P>, 'status' | 'attempts'> {
    return {
      idempotencyKey,
      key: stored.k,
      payload: stored.p as P,
      token: stored.t,
      owner: stored.o,
      headers: stored.h,
      createdAt: stored.c,
      lastError: typeof lastError === 'string' && lastError.length > 0 ? lastError : undefined,
    };
  }

  async #raise(key: string, token: number): Promise<void> {
    try {
      await raise(this.#counterClient as RedisLike, [keyName(this.prefix, key, 'fence')], [String(token)]);
    } catch {
      // Best effort: the commit is rejected either way, and the next rejection raises it again.
    }
  }
}

/**
 * A Redis {@link Outbox}: a key's state and the effects decided with it commit in one Lua script
 * under the run's fence; a dispatcher (`createOutboxDispatcher`) sends the effects at least once.
 *
 * @example
 * ```ts
 * import { redisLock, redisOutbox } from 'exclusive-consumer/redis';
 * import { commitDecision, createOutboxDispatcher } from 'exclusive-consumer';
 *
 * const outbox = redisOutbox<ShopperState, Sms>(redis);
 * // in a handler:
 * await commitDecision(outbox, ctx, (state) => decide(state, event));
 * // anywhere (the same process or others):
 * createOutboxDispatcher(outbox, (effect, signal) => sms.send(effect.payload, effect.idempotencyKey, signal)).start();
 * ```
 */
export function redisOutbox<V = unknown, P = unknown>(client: RedisLike, options: RedisOutboxOptions<V> = {}): RedisOutbox<V, P> {
  return new RedisOutbox<V, P>(client, options);
}

function parseStored(text: unknown, operation: string): StoredEffect {
  if (typeof text !== 'string') throw badReply(operation, text);
  try {
    return JSON.parse(text) as StoredEffect;
  } catch {
    throw badReply(operation, text);
  }
}

function badReply(operation: string, reply: unknown): TransportError {
  return new TransportError(`Redis outbox ${operation} gave an unexpected reply: ${JSON.stringify(reply)}`, {
    retriable: false,
    context: { store: 'redis', operation },
  });
}
