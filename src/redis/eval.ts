import { transportError, type RedisArgument, type RedisLike, type RedisPipelineLike } from './client.js';

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
 * On a client with a `pipeline()` that is not a Cluster (an ioredis `Redis`), the calls made in one
 * event-loop turn, by every runner on that client, are sent as one pipeline: one socket write for
 * all of them instead of one each, which is most of a call's CPU cost on the client. Each call still
 * resolves or rejects on its own reply, and calls reach Redis in the order they were made.
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
  const { numKeys, name } = script;
  return async (client, keys, args) => {
    if (keys.length !== numKeys) {
      throw new RangeError(`Script ${name} takes ${numKeys} keys, got ${keys.length}`);
    }
    try {
      const batch = batchOf(client);
      return (await (batch === undefined ? runScript(client, script, keys, args) : batch.run(script, keys, args))) as Result;
    } catch (error) {
      throw transportError(error, name, { key: keys[0] });
    }
  };
}

/** `EVALSHA`, then `EVAL` if the server does not have the script. */
async function runScript(client: RedisLike, script: LuaScript, keys: readonly string[], args: readonly RedisArgument[]): Promise<unknown> {
  try {
    return await client.evalsha(script.sha1, script.numKeys, ...keys, ...args);
  } catch (error) {
    if (!isNoScript(error)) throw error;
    return client.eval(script.lua, script.numKeys, ...keys, ...args);
  }
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/** A script call waiting for the end of the turn. */
interface Queued {
  readonly script: LuaScript;
  readonly keys: readonly string[];
  readonly args: readonly RedisArgument[];
  readonly resolve: (reply: unknown) => void;
  readonly reject: (error: unknown) => void;
}

type Pipelining = RedisLike & { pipeline(): RedisPipelineLike };

/** The script calls of the current turn on one client, sent together once the turn's work is done. */
class ScriptBatch {
  readonly #client: Pipelining;
  #queue: Queued[] = [];
  readonly #flush = (): void => this.#send();

  constructor(client: Pipelining) {
    this.#client = client;
  }

  run(script: LuaScript, keys: readonly string[], args: readonly RedisArgument[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      // After the current macrotask's microtasks, so that calls made from promise callbacks join.
      if (this.#queue.length === 0) setImmediate(this.#flush);
      this.#queue.push({ script, keys, args, resolve, reject });
    });
  }

  #send(): void {
    const queue = this.#queue;
    this.#queue = [];
    const client = this.#client;
    if (queue.length === 1) {
      const only = queue[0] as Queued;
      runScript(client, only.script, only.keys, only.args).then(only.resolve, only.reject);
      return;
    }
    let replies: Promise<[error: Error | null, reply: unknown][] | null>;
    try {
      const pipeline = client.pipeline();
      for (const call of queue) pipeline.evalsha(call.script.sha1, call.script.numKeys, ...call.keys, ...call.args);
      replies = pipeline.exec();
    } catch (error) {
      for (const call of queue) call.reject(error);
      return;
    }
    replies.then(
      (results) => {
        for (let i = 0; i < queue.length; i++) {
          const call = queue[i] as Queued;
          const result = results?.[i];
          if (result === undefined) call.reject(new Error('Redis pipeline returned no reply for this command'));
          else if (result[0] === null) call.resolve(result[1]);
          else if (isNoScript(result[0])) {
            client.eval(call.script.lua, call.script.numKeys, ...call.keys, ...call.args).then(call.resolve, call.reject);
          } else call.reject(result[0]);
        }
      },
      (error: unknown) => {
        for (const call of queue) call.reject(error);
      },
    );
  }
}

const batches = new WeakMap<RedisLike, ScriptBatch | null>();

/** The client's batch, made on first use; `undefined` for a Cluster or a client without pipelines. */
function batchOf(client: RedisLike): ScriptBatch | undefined {
  let batch = batches.get(client);
  if (batch === undefined) {
    batch = typeof client.pipeline === 'function' && client.isCluster !== true ? new ScriptBatch(client as Pipelining) : null;
    batches.set(client, batch);
  }
  return batch ?? undefined;
}
