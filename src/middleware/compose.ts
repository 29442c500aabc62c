import type { HandlerContext, Middleware } from '../consumer/types.js';
import { chain } from '../internal/chain.js';

/**
 * Compose middleware around a final step, outermost first. Calling `next()` twice in one middleware
 * rejects with a `MiddlewareError`: running the handler twice would break the one-run-at-a-time
 * promise.
 */
export function compose<T>(
  middleware: readonly Middleware<T>[],
  last: (ctx: HandlerContext<T>) => Promise<void>,
): (ctx: HandlerContext<T>) => Promise<void> {
  return chain(middleware, last, 'Middleware');
}
