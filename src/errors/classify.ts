import { HandlerError } from './handler-error.js';

/**
 * Whether a failure may be retried. Library errors say so with `retriable`; any other error may opt
 * out by carrying `retriable: false`; everything else is retriable.
 */
export function isRetriable(error: unknown): boolean {
  if (typeof error === 'object' && error !== null) {
    const flag = (error as { retriable?: unknown }).retriable;
    if (typeof flag === 'boolean') return flag;
  }
  return true;
}

/** Returns `thrown` if it is an `Error`, else wraps it in a {@link HandlerError}. */
export function toError(thrown: unknown, context?: Readonly<Record<string, unknown>>): Error {
  return thrown instanceof Error ? thrown : new HandlerError(thrown, context);
}
