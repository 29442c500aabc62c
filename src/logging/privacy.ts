import { createHash, createHmac } from 'node:crypto';
import { isExclusiveConsumerError } from '../errors/base.js';
import { booleanOption, objectOption, oneOfOption, optionNames, stringOption } from '../internal/validate.js';

/**
 * How personal data appears in log lines and telemetry. Keys are usually personal data (a shopper
 * id), so by default only a hash of them leaves the process.
 */
export interface TelemetryPrivacy {
  /**
   * `hashed`: a 16-hex-digit hash of the key (`hashKey(key, keySalt)`), stable across processes,
   * so one key's lines and spans can still be found together. `raw`: the key itself.
   * @default 'hashed'
   */
  readonly keys?: 'hashed' | 'raw';
  /**
   * Secret mixed into the hash (HMAC-SHA-256). Without it the hash is a plain SHA-256, which anyone
   * can reverse for guessable keys (sequential ids, e-mail addresses) by hashing candidates: set
   * one in production, the same in every service whose telemetry you want to correlate.
   */
  readonly keySalt?: string;
  /**
   * Also write the messages of errors the library did not compose itself: your handler's and
   * middleware's, `NonRetriableError`s, a driver's, a codec's. They can quote personal data, payloads
   * (`JSON.parse` quotes its input) or secrets (a connection URL), so by default only their type is
   * written; with this set, a key they quote is still replaced by its hash (unless `keys: 'raw'`).
   * The messages the library composes (timeouts, lost leases, stale tokens) carry only numbers and
   * are always written.
   * @default false
   */
  readonly errorMessages?: boolean;
}

/** @internal The fields of {@link TelemetryPrivacy}. */
/** @internal The privacy options, to spread into the option names of a type that extends {@link TelemetryPrivacy}. */
export const PRIVACY_OPTION_FLAGS = { keys: true, keySalt: true, errorMessages: true } as const;
export const PRIVACY_OPTIONS = optionNames<TelemetryPrivacy>(PRIVACY_OPTION_FLAGS);

/**
 * A 16-hex-digit (64-bit) hash of `key`: HMAC-SHA-256 with `salt`, or SHA-256 without. What
 * telemetry carries instead of a key by default; compute it to find a key's spans and log lines.
 *
 * @example
 * ```ts
 * hashKey('shopper-42', process.env.KEY_SALT); // '5f0c…' as in exclusive_consumer.key.hash
 * ```
 */
export function hashKey(key: string, salt?: string): string {
  const hash = salt === undefined || salt.length === 0 ? createHash('sha256') : createHmac('sha256', salt);
  return hash.update(key).digest('hex').slice(0, 16);
}

/** @internal A validated {@link TelemetryPrivacy} with its key formatter. */
export interface ResolvedPrivacy {
  readonly raw: boolean;
  readonly errorMessages: boolean;
  /** The key as telemetry may show it: its hash, or itself when `keys: 'raw'`. */
  label(key: string): string;
}

/**
 * @internal Apply the defaults of {@link TelemetryPrivacy}; a bad field throws a
 * `ConfigurationError` naming it (`<option>.keys`…).
 */
export function resolvePrivacy(privacy: TelemetryPrivacy | undefined, option = 'privacy'): ResolvedPrivacy {
  const p: TelemetryPrivacy = objectOption(option, privacy);
  const raw = oneOfOption(`${option}.keys`, p.keys, 'hashed', ['hashed', 'raw']) === 'raw';
  const salt = p.keySalt === undefined ? undefined : stringOption(`${option}.keySalt`, p.keySalt);
  const errorMessages = booleanOption(`${option}.errorMessages`, p.errorMessages) ?? false;
  return { raw, errorMessages, label: raw ? (key) => key : cachedHash(salt) };
}

/** Hashes recently seen: a key's events come in bursts, and a hash costs more than a lookup. */
function cachedHash(salt: string | undefined): (key: string) => string {
  const cache = new Map<string, string>();
  return (key) => {
    let hash = cache.get(key);
    if (hash === undefined) {
      // Bounded memory: start over rather than track recency.
      if (cache.size >= 16_384) cache.clear();
      hash = hashKey(key, salt);
      cache.set(key, hash);
    }
    return hash;
  };
}

/** @internal What an error may tell telemetry, once personal data is taken out. */
export interface SafeError {
  /** Class name (`StaleTokenError`, `TypeError`): low cardinality, for `error.type`. */
  readonly type: string;
  /** `EC_…` code of the library's errors, or a string `code` (`ECONNREFUSED`). */
  readonly code: string | undefined;
  /** The message when it may be shown, with the raw key replaced by its label. */
  readonly message: string | undefined;
  /**
   * The stack without its first line (which repeats the message) unless the message may be shown.
   * Computed when read.
   */
  readonly stack: string | undefined;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function isSafeLibraryError(error: Error): boolean {
  return isExclusiveConsumerError(error) && (error as { safeMessage?: unknown }).safeMessage === true;
}

/**
 * @internal Describe `error` without personal data: its type always; its message if the library
 * composed it from plain words and numbers, or if `privacy.errorMessages` allows (then with `key`
 * replaced by its label, in case the message quotes it).
 */
export function safeError(error: Error, privacy: ResolvedPrivacy, key?: string): SafeError {
  const { code } = error as { code?: unknown };
  const type = typeof error.name === 'string' && error.name.length > 0 ? error.name : 'Error';
  const plain = isSafeLibraryError(error);
  const showMessage = plain || privacy.errorMessages;
  // Whole-word matches only, so that a short key ('a') does not mangle the words around it.
  const redact = (text: string): string =>
    plain || key === undefined || key.length === 0 || privacy.raw
      ? text
      : text.replace(new RegExp(`(?<![\\p{L}\\p{N}_])${escapeRegExp(key)}(?![\\p{L}\\p{N}_])`, 'gu'), privacy.label(key));
  return {
    type,
    code: typeof code === 'string' ? code : undefined,
    message: showMessage && typeof error.message === 'string' ? redact(error.message) : undefined,
    // Formatting a stack costs (source maps make it milliseconds): only when someone reads it.
    get stack(): string | undefined {
      const raw: unknown = error.stack;
      if (typeof raw !== 'string') return undefined;
      if (showMessage) return redact(raw);
      const newline = raw.indexOf('\n    at ');
      return newline < 0 ? undefined : `${type}${raw.slice(newline)}`;
    },
  };
}
