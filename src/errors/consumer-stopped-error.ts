import { ExclusiveConsumerError, hasCode } from './base.js';

/**
 * The consumer is stopping and asked running handlers to give up (stop without drain, or the stop
 * timeout passed). The reason of the aborted `ctx.signal`. The message is released for redelivery
 * unless the handler still completes.
 */
export class ConsumerStoppedError extends ExclusiveConsumerError {
  static readonly code = 'EC_STOPPED';

  constructor(message = 'Consumer is stopping') {
    super(message, ConsumerStoppedError.code, true, { safeMessage: true });
  }
}

/** True for a {@link ConsumerStoppedError} from any copy of the library. */
export const isConsumerStoppedError = hasCode<ConsumerStoppedError>(ConsumerStoppedError.code);
