import { ExclusiveConsumerError, hasCode } from './base.js';

/**
 * A handler ran longer than `handlerTimeoutMs`. It is the reason of the aborted `ctx.signal`; the
 * run counts as a failed attempt once the handler settles (the key stays blocked until it does, so
 * that two runs of one key never overlap).
 */
export class HandlerTimeoutError extends ExclusiveConsumerError {
  static readonly code = 'EC_HANDLER_TIMEOUT';

  constructor(key: string, messageId: string, timeoutMs: number) {
    super(`Handler exceeded ${timeoutMs} ms`, HandlerTimeoutError.code, true, {
      context: { key, messageId, timeoutMs },
      safeMessage: true,
    });
  }
}

/** True for a {@link HandlerTimeoutError} from any copy of the library. */
export const isHandlerTimeoutError = hasCode<HandlerTimeoutError>(HandlerTimeoutError.code);
