import { ExclusiveConsumerError, hasCode } from './base.js';

/**
 * Wraps a value thrown by a handler or middleware that is not an `Error` (a string, an object…),
 * so that every failure has a message, a stack and a `retriable` flag. The thrown value is `cause`.
 */
export class HandlerError extends ExclusiveConsumerError {
  static readonly code = 'EC_HANDLER';

  constructor(thrown: unknown, context: Readonly<Record<string, unknown>> = {}) {
    super(`Handler threw a non-Error value: ${preview(thrown)}`, HandlerError.code, true, {
      cause: thrown,
      context,
    });
  }
}

/** True for a {@link HandlerError} from any copy of the library. */
export const isHandlerError = hasCode<HandlerError>(HandlerError.code);

function preview(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
