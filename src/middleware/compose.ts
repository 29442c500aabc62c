import type { HandlerContext } from '../consumer/types.js';
import { runChain } from '../internal/chain.js';
import type { Middleware } from './types.js';

/**
 * Compose middleware around a final step, outermost first. Calling `next()` twice in one middleware
 * rejects: running the handler twice would break the one-run-at-a-time promise.
 */
export function compose<T>(
  middleware: readonly Middleware<T>[],
  last: (ctx: HandlerContext<T>) => Promise<void>,
): (ctx: HandlerContext<T>) => Promise<void> {
  if (middleware.length === 0) return last;
  return function composed(ctx) {
    return runChain(middleware, last, ctx, 'Middleware');
  };
}
