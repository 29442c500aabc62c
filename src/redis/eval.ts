import { transportError, type RedisArgument, type RedisLike } from './client.js';

/** A Lua script as shipped: its source, the SHA-1 the server knows it by, and its number of keys. */
export interface LuaScript {
  /** Short name (the file name without key count), for error messages. */
  readonly name: string;
  /** How many leading arguments are keys (`KEYS[]`); the rest are `ARGV[]`. */
  readonly numKeys: number;
  /** Hex SHA-1 of `lua`, as `SCRIPT LOAD` would return it. */
  readonly sha1: string;
  /** The script's source. */
  readonly lua: string;
}

/**
 * Runs one script on a client: `(client, keys, args) => reply`. See {@link createEval}.
 * @typeParam Keys the key tuple (its length is the script's `numKeys`)
 * @typeParam Args the `ARGV` tuple
 * @typeParam Result the reply as the client decodes it (not checked at run time: parse it)
 */
export type EvalFunction<Keys extends readonly string[], Args extends readonly RedisArgument[], Result> = (
  client: RedisLike,
  keys: Keys,
  args: Args,
) => Promise<Result>;

/**
 * A typed runner for `script`: sends `EVALSHA` and, when the server answers `NOSCRIPT` (first use on
 * a node, after a restart or `SCRIPT FLUSH`, on a new Cluster master), sends `EVAL` with the source,
 * which also caches it for the next `EVALSHA`. Keys travel as `KEYS[]` and values as `ARGV[]`, never
 * spliced into the source, so no user input is ever run as Lua. Any failure rejects with a
 * `TransportError` whose `cause` is the client's error (see `retriable`).
 *
 * @example
 * ```ts
 * const acquire = createEval<[lock: string, fence: string], [owner: string, ttlMs: number], number>(ACQUIRE_SCRIPT);
 * const token = await acquire(client, [lockKey, fenceKey], ['worker-1', 10_000]);
 * ```
 * @throws RangeError (from the returned function) when the number of keys is not `script.numKeys`.
 */
export function createEval<Keys extends readonly string[], Args extends readonly RedisArgument[], Result>(
  script: LuaScript,
): EvalFunction<Keys, Args, Result> {
  const { sha1, lua, numKeys, name } = script;
  return async (client, keys, args) => {
    if (keys.length !== numKeys) {
      throw new RangeError(`Script ${name} takes ${numKeys} keys, got ${keys.length}`);
    }
    try {
      try {
        return (await client.evalsha(sha1, numKeys, ...keys, ...args)) as Result;
      } catch (error) {
        if (!isNoScript(error)) throw error;
        return (await client.eval(lua, numKeys, ...keys, ...args)) as Result;
      }
    } catch (error) {
      throw transportError(error, name, { key: keys[0] });
    }
  };
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}
