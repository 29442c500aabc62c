import { ExclusiveConsumerError, hasCode } from './base.js';

/** The codec could not decode a payload. Not retriable; the message is dead-lettered. */
export class DecodeError extends ExclusiveConsumerError {
  static readonly code = 'EC_DECODE';

  constructor(codec: string, messageId: string, cause: unknown) {
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    super(`Codec "${codec}" could not decode message ${messageId}${detail}`, DecodeError.code, false, {
      cause,
      context: { codec, messageId },
    });
  }
}

/** True for a {@link DecodeError} from any copy of the library. */
export const isDecodeError = hasCode<DecodeError>(DecodeError.code);
