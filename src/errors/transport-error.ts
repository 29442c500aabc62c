import { ExclusiveConsumerError, hasCode } from './base.js';

/** A broker or store operation failed (connection lost, request refused). Usually retriable. */
export class TransportError extends ExclusiveConsumerError {
  static readonly code = 'EC_TRANSPORT';

  constructor(
    message: string,
    options: { cause?: unknown; retriable?: boolean; context?: Readonly<Record<string, unknown>> } = {},
  ) {
    super(message, TransportError.code, options.retriable ?? true, options);
  }
}

/** True for a {@link TransportError} from any copy of the library. */
export const isTransportError = hasCode<TransportError>(TransportError.code);
