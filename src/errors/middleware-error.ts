import { ExclusiveConsumerError, hasCode } from './base.js';

/**
 * A middleware called `next()` more than once. Running the rest of the chain twice would run the
 * handler twice (or publish a message twice), breaking the one-run-at-a-time promise, so the second
 * call rejects. Not retriable: the same middleware would do it again.
 */
export class MiddlewareError extends ExclusiveConsumerError {
  static readonly code = 'EC_MIDDLEWARE';

  /** @param kind what the chain is, e.g. `Middleware` or `Producer middleware` */
  constructor(middleware: string, kind: string) {
    super(`${kind} "${middleware}" called next() more than once`, MiddlewareError.code, false, {
      context: { middleware },
      safeMessage: true,
    });
  }
}

/** True for a {@link MiddlewareError} from any copy of the library. */
export const isMiddlewareError = hasCode<MiddlewareError>(MiddlewareError.code);
