import { ConfigurationError } from '../errors/configuration-error.js';
import { TransportError } from '../errors/transport-error.js';
import { adapterOption } from '../internal/validate.js';

/** An argument of a Redis command as this adapter sends it. */
export type RedisArgument = string | number;

/**
 * The part of a Redis client the adapters use: running a Lua script by SHA-1 and by source. An
 * ioredis `Redis` (standalone, Sentinel) or `Cluster` fits as it is; the adapters never import
 * ioredis at run time, so it stays an optional peer dependency, and TLS, auth, timeouts and retry
 * policy are whatever the client was built with.
 *
 * In a Cluster the client routes each call by its first key; every script's keys share one hash
 * tag, so they always live in one slot.
 *
 * @example
 * ```ts
 * import { Redis, Cluster } from 'ioredis';
 * const standalone: RedisLike = new Redis('redis://127.0.0.1:6379');
 * const cluster: RedisLike = new Cluster([{ host: '127.0.0.1', port: 7000 }]);
 * ```
 */
export interface RedisLike {
  /** `EVALSHA sha1 numkeys key… arg…`; rejects with a `NOSCRIPT` reply when the server lacks the script. */
  evalsha(sha1: string, numkeys: number, ...args: RedisArgument[]): Promise<unknown>;
  /** `EVAL script numkeys key… arg…`; also caches the script on the server for later `EVALSHA`. */
  eval(script: string, numkeys: number, ...args: RedisArgument[]): Promise<unknown>;
  /**
   * Optional: a pipeline, as ioredis's `pipeline()`. When the client has one and is not a Cluster,
   * the script calls the adapters make in one event-loop turn leave in one pipeline (one socket
   * write, replies in order) instead of one write each; each call still succeeds or fails alone.
   */
  pipeline?(): RedisPipelineLike;
  /**
   * `true` on an ioredis `Cluster`: there a pipeline's keys must all live on one node, so calls are
   * sent one by one (build the `Cluster` with `enableAutoPipelining: true` to batch them per node).
   */
  readonly isCluster?: boolean;
}

/** The part of a pipeline (ioredis `ChainableCommander`) the adapters use. */
export interface RedisPipelineLike {
  /** Queues `EVALSHA sha1 numkeys key… arg…`. */
  evalsha(sha1: string, numkeys: number, ...args: RedisArgument[]): unknown;
  /** Sends the queued commands; resolves `[error, reply]` per command, in order. */
  exec(): Promise<[error: Error | null, reply: unknown][] | null>;
}

/** @internal Throws a `ConfigurationError` unless `client` has the methods of {@link RedisLike}. */
export function checkClient(client: unknown): asserts client is RedisLike {
  adapterOption('client', client, ['evalsha', 'eval']);
}

/**
 * Reply prefixes of Redis errors that say "not now" rather than "never": the server is loading,
 * busy, failing over or resharding, or out of memory for the moment.
 */
const TRANSIENT_REPLIES = [
  'LOADING',
  'BUSY',
  'TRYAGAIN',
  'CLUSTERDOWN',
  'MASTERDOWN',
  'READONLY',
  'MOVED',
  'ASK',
  'NOREPLICAS',
  'OOM',
  'NOSCRIPT',
];

/**
 * @internal Wraps a failure of the Redis client in a `TransportError` with the original as `cause`.
 * Connection failures (refused, reset, closed, timed out, retries exhausted) and transient replies
 * are retriable. Replies that the same call would get again (a script error, `WRONGTYPE` on a key
 * some other program wrote, `NOPERM`) are not: retrying them only delays the report.
 */
export function transportError(error: unknown, operation: string, context: Readonly<Record<string, unknown>>): TransportError {
  const message = error instanceof Error ? error.message : String(error);
  const isReply = error instanceof Error && error.name === 'ReplyError';
  const transient = TRANSIENT_REPLIES.some((prefix) => message.startsWith(prefix));
  const permanent =
    isReply && !transient && (/^(WRONGTYPE|NOPERM)/.test(message) || /script|user_function/i.test(message));
  return new TransportError(`Redis ${operation} failed: ${message}`, {
    cause: error,
    retriable: !permanent,
    context: { store: 'redis', operation, ...context },
  });
}

/**
 * @internal An integer reply as a number. ioredis returns integers as numbers, or as strings when
 * the client was built with `stringNumbers: true`; both are accepted. `NaN` for anything else.
 */
export function integerReply(reply: unknown): number {
  if (typeof reply === 'number') return reply;
  if (typeof reply === 'string' && /^-?\d+$/.test(reply)) return Number(reply);
  return Number.NaN;
}

/**
 * @internal The `tokenCounter` option of a Redis store: `'same'` (this client), `'none'`, or another
 * Redis client holding the fence counters.
 */
export function counterOption(counter: unknown): 'same' | 'none' | RedisLike {
  if (counter === undefined || counter === 'same' || counter === 'none') return counter ?? 'same';
  if (typeof counter !== 'object' || counter === null) {
    throw new ConfigurationError('tokenCounter', "'same', 'none' or a Redis client", counter);
  }
  checkClient(counter);
  return counter;
}
