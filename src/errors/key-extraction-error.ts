import { ExclusiveConsumerError, hasCode } from './base.js';

/**
 * The key function threw, or returned something other than a non-empty string. Not retriable: the
 * same event would give the same result, so the message is dead-lettered with this reason.
 */
export class KeyExtractionError extends ExclusiveConsumerError {
  static readonly code = 'EC_KEY';

  constructor(message: string, messageId: string, cause?: unknown) {
    super(message, KeyExtractionError.code, false, { cause, context: { messageId } });
  }
}

/** True for a {@link KeyExtractionError} from any copy of the library. */
export const isKeyExtractionError = hasCode<KeyExtractionError>(KeyExtractionError.code);
