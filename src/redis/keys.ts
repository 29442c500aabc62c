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

/** Which of a key's Redis keys: the lease, the token counter, the fenced state, the runs in progress. */
export type KeySuffix = 'lock' | 'fence' | 'state' | 'runs';

function encodeKey(key: string): string {
  if (key.length === 0) return '%';
  if (!/[%{}]/.test(key)) return key;
  return key.replace(/[%{}]/g, (c) => (c === '%' ? '%25' : c === '{' ? '%7B' : '%7D'));
}

export { checkKey } from '../fencing/check.js';
