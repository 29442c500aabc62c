import { ExclusiveConsumerError, hasCode } from './base.js';

/** A lifecycle method was called in a state that does not allow it (e.g. `start()` after `stop()`). */
export class ConsumerStateError extends ExclusiveConsumerError {
  static readonly code = 'EC_STATE';

  constructor(message: string, state: string) {
    super(message, ConsumerStateError.code, false, { context: { state }, safeMessage: true });
  }
}

/** True for a {@link ConsumerStateError} from any copy of the library. */
export const isConsumerStateError = hasCode<ConsumerStateError>(ConsumerStateError.code);
