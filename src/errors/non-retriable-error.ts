import { ExclusiveConsumerError, hasCode } from './base.js';

/**
 * Throw this from a handler when trying again cannot help (a business rule rejects the event):
 * the message is dead-lettered at once instead of being retried. Any error whose `retriable`
 * property is `false` has the same effect.
 */
export class NonRetriableError extends ExclusiveConsumerError {
  static readonly code = 'EC_NON_RETRIABLE';

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, NonRetriableError.code, false, options);
  }
}

/** True for a {@link NonRetriableError} from any copy of the library. */
export const isNonRetriableError = hasCode<NonRetriableError>(NonRetriableError.code);
