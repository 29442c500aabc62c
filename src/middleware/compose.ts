import { ExclusiveConsumerError } from '../errors/base.js';
import type { HandlerContext } from '../consumer/types.js';
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
    let index = -1;
    const dispatch = (i: number): Promise<void> => {
      if (i <= index) {
        return Promise.reject(
          new ExclusiveConsumerError(
            `Middleware "${middleware[i - 1]?.name || 'anonymous'}" called next() more than once`,
            'EC_MIDDLEWARE',
            false,
          ),
        );
      }
      index = i;
      const fn = middleware[i];
      if (fn === undefined) return last(ctx);
      try {
        return Promise.resolve(fn(ctx, () => dispatch(i + 1)));
      } catch (error) {
        return Promise.reject(error);
      }
    };
    return dispatch(0);
  };
}
