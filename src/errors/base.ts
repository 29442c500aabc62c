/**
 * Fields every library error may carry besides its message. Values are plain data (ids, keys,
 * numbers) so that errors can be logged and serialized without leaking payloads.
 */
export type ErrorContext = Readonly<Record<string, unknown>>;

/** Options accepted by every error constructor of the library. */
export interface ExclusiveConsumerErrorOptions {
  /** The underlying error, if any. */
  readonly cause?: unknown;
  /** Plain-data fields describing where the error happened. */
  readonly context?: ErrorContext;
  /**
   * The message is composed by the library from fixed words and numbers only (no key, payload,
   * driver text or user text), so telemetry may show it whatever the privacy settings.
   * @default false
   */
  readonly safeMessage?: boolean;
}

/**
 * Root of every error the library throws or passes to callbacks.
 *
 * `code` is stable and machine-readable; `retriable` says whether trying the same operation again
 * can succeed (a handler failure can, an undecodable payload cannot). Use the `is…` predicates
 * rather than `instanceof` when an application may load two copies of the library (ESM and CJS).
 */
export class ExclusiveConsumerError extends Error {
  /** Stable machine-readable code, e.g. `EC_STALE_TOKEN`. */
  readonly code: string;
  /** Whether retrying the failed operation can succeed. */
  readonly retriable: boolean;
  /** Plain-data fields describing where the error happened. */
  readonly context: ErrorContext;
  /** Whether the message holds only the library's own words and numbers (see the constructor option). */
  readonly safeMessage: boolean;

  constructor(
    message: string,
    code: string,
    retriable: boolean,
    options: ExclusiveConsumerErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = retriable;
    this.context = options.context ?? {};
    this.safeMessage = options.safeMessage ?? false;
  }
}

/** True when `error` is an error of this library (from any copy of it). */
export function isExclusiveConsumerError(error: unknown): error is ExclusiveConsumerError {
  if (error instanceof ExclusiveConsumerError) return true;
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { code?: unknown; retriable?: unknown };
  return (
    typeof candidate.code === 'string' &&
    candidate.code.startsWith('EC_') &&
    typeof candidate.retriable === 'boolean'
  );
}

/** @internal Builds a predicate that recognizes errors by code across library copies. */
export function hasCode<E extends ExclusiveConsumerError>(code: string) {
  return (error: unknown): error is E => isExclusiveConsumerError(error) && error.code === code;
}
