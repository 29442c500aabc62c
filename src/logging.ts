import { createHash, createHmac } from 'node:crypto';
import type { ConsumerEvents } from './consumer/types.js';
import { ConfigurationError } from './errors/configuration-error.js';
import { oneOfOption, stringOption } from './internal/validate.js';

/** Severity of a log line, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * Structured fields of a log line. Flat and primitive on purpose: every logging library and
 * every log pipeline can index them, and nothing large (a payload, an error object) slips in.
 */
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

/**
 * Where the library writes its log lines. The shape of winston's and of `console`
 * (`logger.info(message, fields)`), so either can be passed as is; wrap pino as
 * `{ info: (m, f) => pino.info(f, m), … }`.
 *
 * Lines never carry payloads or secrets, and keys appear hashed unless `privacy.keys` is `'raw'`.
 * A logger that throws never breaks processing.
 */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /**
   * Whether lines of `level` are written. Optional (pino and winston have it): when present, the
   * consumer does not even listen to the events whose lines would be dropped, so they cost nothing.
   */
  isLevelEnabled?(level: LogLevel): boolean;
}

const noop = (): void => undefined;

/** A logger that writes nothing: the default. */
export const silentLogger: Logger = Object.freeze({
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  isLevelEnabled: () => false,
});

const SEVERITY: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Options of {@link consoleLogger}. */
export interface ConsoleLoggerOptions {
  /**
   * Lowest level written.
   * @default 'info'
   */
  readonly level?: LogLevel;
  /**
   * `json`: one JSON object per line (`time`, `level`, `msg`, then the fields), for log pipelines.
   * `text`: `time LEVEL message key=value…`, for a terminal.
   * @default 'json'
   */
  readonly format?: 'json' | 'text';
  /**
   * Where lines go.
   * @default a line on `process.stderr`
   */
  readonly write?: (line: string) => void;
}

/**
 * A small structured logger writing to stderr, for services that have no logging library.
 *
 * @example
 * ```ts
 * createExclusiveConsumer(topic, keyFn, handler, { logger: consoleLogger({ level: 'info' }) });
 * // {"time":"2025-01-01T12:00:00.000Z","level":"info","msg":"consumer started","topic":"shopper-events",…}
 * ```
 */
export function consoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const threshold = SEVERITY[options.level ?? 'info'];
  if (threshold === undefined) throw new TypeError(`Unknown log level ${String(options.level)}`);
  const format = options.format ?? 'json';
  const write = options.write ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const line = (level: LogLevel, message: string, fields: LogFields | undefined): void => {
    if (SEVERITY[level] < threshold) return;
    const time = new Date().toISOString();
    if (format === 'json') {
      write(JSON.stringify({ time, level, msg: message, ...fields }));
      return;
    }
    let text = `${time} ${level.toUpperCase().padEnd(5)} ${message}`;
    if (fields !== undefined) {
      for (const [name, value] of Object.entries(fields)) {
        if (value === undefined) continue;
        text += typeof value === 'string' && /[\s"=]/.test(value) ? ` ${name}=${JSON.stringify(value)}` : ` ${name}=${value}`;
      }
    }
    write(text);
  };
  return {
    debug: (message, fields) => line('debug', message, fields),
    info: (message, fields) => line('info', message, fields),
    warn: (message, fields) => line('warn', message, fields),
    error: (message, fields) => line('error', message, fields),
    isLevelEnabled: (level) => SEVERITY[level] >= threshold,
  };
}

// ------------------------------------------------------------------ personal data

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
  if (privacy !== undefined && (typeof privacy !== 'object' || privacy === null || Array.isArray(privacy))) {
    throw new ConfigurationError(option, 'an object', privacy);
  }
  const p = privacy ?? {};
  const raw = oneOfOption(`${option}.keys`, p.keys, 'hashed', ['hashed', 'raw']) === 'raw';
  const salt = p.keySalt === undefined ? undefined : stringOption(`${option}.keySalt`, p.keySalt, '');
  if (p.errorMessages !== undefined && typeof p.errorMessages !== 'boolean') {
    throw new ConfigurationError(`${option}.errorMessages`, 'a boolean', p.errorMessages);
  }
  return { raw, errorMessages: p.errorMessages ?? false, label: raw ? (key) => key : cachedHash(salt) };
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
  /** The stack without its first line (which repeats the message) unless the message may be shown. */
  readonly stack: string | undefined;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Codes of the library's errors whose message the library composes from numbers and fixed words
 * only. Others carry someone else's words: `NonRetriableError` and `KeyExtractionError` yours, a
 * `TransportError` a driver's (which may quote a URL with credentials), decode and handler errors
 * the data itself.
 */
const PLAIN_MESSAGES: ReadonlySet<string> = new Set([
  'EC_HANDLER_TIMEOUT',
  'EC_LOCK_LOST',
  'EC_LOCK_TIMEOUT',
  'EC_STALE_TOKEN',
  'EC_VERSION_CONFLICT',
  'EC_STOPPED',
  'EC_STATE',
  'EC_MIDDLEWARE',
]);

function isPlainLibraryError(error: Error): boolean {
  const { code, retriable } = error as { code?: unknown; retriable?: unknown };
  return typeof code === 'string' && PLAIN_MESSAGES.has(code) && typeof retriable === 'boolean';
}

/**
 * @internal Describe `error` without personal data: its type always; its message if the library
 * composed it from plain words and numbers, or if `privacy.errorMessages` allows (then with `key`
 * replaced by its label, in case the message quotes it).
 */
export function safeError(error: Error, privacy: ResolvedPrivacy, key?: string): SafeError {
  const { code } = error as { code?: unknown };
  const type = typeof error.name === 'string' && error.name.length > 0 ? error.name : 'Error';
  const plain = isPlainLibraryError(error);
  const showMessage = plain || privacy.errorMessages;
  // Whole-word matches only, so that a short key ('a') does not mangle the words around it.
  const redact = (text: string): string =>
    plain || key === undefined || key.length === 0 || privacy.raw
      ? text
      : text.replace(new RegExp(`(?<![\\p{L}\\p{N}_])${escapeRegExp(key)}(?![\\p{L}\\p{N}_])`, 'gu'), privacy.label(key));
  let stack: string | undefined;
  if (typeof error.stack === 'string') {
    if (showMessage) stack = redact(error.stack);
    else {
      const newline = error.stack.indexOf('\n    at ');
      stack = newline < 0 ? undefined : `${type}${error.stack.slice(newline)}`;
    }
  }
  return {
    type,
    code: typeof code === 'string' ? code : undefined,
    message: showMessage && typeof error.message === 'string' ? redact(error.message) : undefined,
    stack,
  };
}

// ------------------------------------------------------------------ consumer lines

/** @internal The part of a consumer the log wiring needs. */
export interface LoggedConsumer {
  readonly topic: string;
  readonly subscription: string;
  readonly consumerName: string;
  readonly mode: string;
  on<E extends keyof ConsumerEvents>(event: E, listener: (payload: ConsumerEvents[E]) => void): () => void;
}

/**
 * @internal Write a consumer's lifecycle, failures, dead letters, lease losses, violations and
 * warnings to `logger`, by listening to its events: a consumer without a logger has no listener,
 * and its hot path does not change. Events whose level the logger drops are not listened to.
 * Returns a function that stops logging.
 */
export function logConsumerEvents(consumer: LoggedConsumer, logger: Logger, privacy: ResolvedPrivacy, transport: string): () => void {
  const enabled = (level: LogLevel): boolean => {
    try {
      return logger.isLevelEnabled === undefined || logger.isLevelEnabled(level);
    } catch {
      return true;
    }
  };
  const keyField = privacy.raw ? 'key' : 'keyHash';
  const keyOf = (key: string | undefined): LogFields => (key === undefined ? {} : { [keyField]: privacy.label(key) });
  const errorOf = (error: Error, key?: string): LogFields => {
    const safe = safeError(error, privacy, key);
    return { error: safe.type, errorCode: safe.code, errorMessage: safe.message };
  };
  const base: LogFields = { topic: consumer.topic, consumerName: consumer.consumerName };
  const offs: (() => void)[] = [];
  const on = <E extends keyof ConsumerEvents>(
    level: LogLevel | ((payload: ConsumerEvents[E]) => LogLevel),
    event: E,
    line: (payload: ConsumerEvents[E]) => readonly [string, LogFields],
  ): void => {
    if (typeof level === 'string' && !enabled(level)) return;
    offs.push(
      consumer.on(event, (payload) => {
        const at = typeof level === 'string' ? level : level(payload);
        const [message, fields] = line(payload);
        logger[at](message, { ...base, ...fields });
      }),
    );
  };

  on('info', 'consumer.started', () => [
    'consumer started',
    { subscription: consumer.subscription, mode: consumer.mode, transport },
  ]);
  on('info', 'consumer.stopping', (p) => ['consumer stopping', { drain: p.drain }]);
  on('info', 'consumer.stopped', (p) => [
    'consumer stopped',
    { released: p.released, abandoned: p.abandoned, durationMs: Math.round(p.durationMs) },
  ]);
  on('warn', 'message.failed', (p) => [
    p.retryInMs === undefined ? 'handler failed, not retried' : 'handler failed, retrying',
    { ...keyOf(p.key), messageId: p.messageId, attempt: p.attempt, retryInMs: p.retryInMs, ...errorOf(p.error, p.key) },
  ]);
  on('error', 'message.dead-lettered', (p) => [
    'message dead-lettered',
    { ...keyOf(p.key), messageId: p.messageId, attempts: p.attempts, ...errorOf(p.error, p.key) },
  ]);
  on('debug', 'message.released', (p) => ['message released', { ...keyOf(p.key), messageId: p.messageId, reason: p.reason }]);
  on('warn', 'violation', (p) => [
    'exclusivity violation',
    { ...keyOf(p.key), messageId: p.messageId, concurrent: p.concurrent, source: p.source },
  ]);
  // A wrong keyFn mismatches every message: one warning says so, the rest go to debug.
  let mismatchWarned = false;
  if (enabled('warn')) {
    on(
      () => (mismatchWarned ? 'debug' : ((mismatchWarned = true), 'warn')),
      'key.mismatch',
      (p) => [
        'key differs from the partition key: the broker does not route this message by its key',
        {
          ...keyOf(p.key),
          partitionKeyPresent: p.partitionKey !== undefined,
          messageId: p.messageId,
        },
      ],
    );
  }
  on('warn', 'lease.lost', (p) => ['lease lost', { ...keyOf(p.key), token: p.token, ...errorOf(p.error, p.key) }]);
  on('debug', 'lease.acquired', (p) => ['lease acquired', { ...keyOf(p.key), token: p.token, waitMs: Math.round(p.waitMs) }]);
  on('error', 'handler.stuck', (p) => [
    'handler ignores its abort signal: its key stays blocked until it returns',
    { ...keyOf(p.key), messageId: p.messageId, runningMs: p.runningMs },
  ]);
  on('debug', 'transport.paused', (p) => ['transport paused (backpressure)', { inFlight: p.inFlight }]);
  on('debug', 'transport.resumed', (p) => ['transport resumed', { inFlight: p.inFlight }]);
  on('warn', 'warning', (p) => [p.message, { code: p.code }]);
  on('error', 'error', (p) => ['non-fatal error', { phase: p.phase, ...errorOf(p.error) }]);
  return () => {
    for (const off of offs.splice(0)) off();
  };
}
