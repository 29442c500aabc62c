import { ConfigurationError } from '../errors/configuration-error.js';

/** Prefix of every key the Redis adapters write, unless configured. */
export const DEFAULT_PREFIX = 'ec:';

/**
 * @internal Validates a key prefix. It may not contain `{` or `}`: Redis Cluster hashes the first
 * `{…}` of a key name, so a brace in the prefix would put every key of the application in one slot
 * (or split a key's lock from its fence counter).
 */
export function prefixOption(value: unknown): string {
  if (value === undefined) return DEFAULT_PREFIX;
  if (typeof value !== 'string' || /[{}]/.test(value)) {
    throw new ConfigurationError('prefix', 'a string without `{` or `}`', value);
  }
  return value;
}

/**
 * @internal The name of one of a key's Redis keys: `<prefix>{<encoded key>}:<suffix>`.
 *
 * The user's key sits inside a hash tag so that its lock, fence counter, state and run counter share
 * one Cluster slot (scripts touching two of them need that). Inside the tag `%`, `{` and `}` are
 * percent-encoded: a `}` in the key would otherwise end the tag early, and a key starting with `}`
 * would leave it empty (Redis then hashes the whole name, splitting the key's names across slots).
 * The empty key becomes a lone `%`, which no other encoding produces. The encoding is injective,
 * so distinct keys never share a name. It only ever reaches Redis as a key argument, never as code.
 */
export function keyName(prefix: string, key: string, suffix: KeySuffix): string {
  return `${prefix}{${encodeKey(key)}}:${suffix}`;
}

/** Which of a key's Redis keys: the lease, the token counter, the fenced state, the runs in progress and their overlaps. */
export type KeySuffix = 'lock' | 'fence' | 'state' | 'runs' | 'overlaps';

function encodeKey(key: string): string {
  if (key.length === 0) return '%';
  if (!/[%{}]/.test(key)) return key;
  return key.replace(/[%{}]/g, (c) => (c === '%' ? '%25' : c === '{' ? '%7B' : '%7D'));
}

export { checkKey } from '../fencing/check.js';

/** @internal The Redis keys of one shard of a Redis outbox. */
export interface OutboxShardKeys {
  /** The hash of `key`'s state record: `<prefix>{outbox:<shard>}:ob-state:<key>`. */
  state(key: string): string;
  readonly effects: string;
  readonly attempts: string;
  readonly errors: string;
  readonly due: string;
  readonly dead: string;
  readonly done: string;
}

/**
 * @internal The keys of shard `shard` of an outbox: all under the hash tag `{outbox:<shard>}`, so
 * that a commit (state, effects, due queue) and every claim run in one Cluster slot. The user's
 * key comes after the tag is closed, so it needs no encoding: Redis hashes the first `{…}` only.
 * The `ob-` suffixes keep these names apart from the per-key names of {@link keyName}.
 */
export function outboxShardKeys(prefix: string, shard: number): OutboxShardKeys {
  const tag = `${prefix}{outbox:${shard}}`;
  return {
    state: (key) => `${tag}:ob-state:${key}`,
    effects: `${tag}:ob-effects`,
    attempts: `${tag}:ob-attempts`,
    errors: `${tag}:ob-errors`,
    due: `${tag}:ob-due`,
    dead: `${tag}:ob-dead`,
    done: `${tag}:ob-done`,
  };
}

/** @internal The shard of `key` among `shards`: FNV-1a of its UTF-8 bytes. Stable across versions. */
export function shardOf(key: string, shards: number): number {
  if (shards === 1) return 0;
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % shards;
}
