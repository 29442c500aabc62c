import { compose } from '../middleware/compose.js';
import type { ResolvedOptions } from './options.js';
import type { BatchHandler, Handler, HandlerContext } from './types.js';

/** @internal How the engine calls a run: through the middleware, to the handler. */
export type Invoke<T> = (ctx: HandlerContext<T>) => Promise<void> | void;

/**
 * @internal The call of one run: the handler with the run's event (a batch consumer's with its
 * events), behind the middleware when there is any. Without middleware the handler is called
 * directly, so a run costs no promise of the library's own.
 */
export function invoker<T>(handler: Handler<T>, options: Pick<ResolvedOptions<T>, 'batch' | 'middleware'>): Invoke<T> {
  // A batch consumer's handler takes the run's events; the engine drives both the same way.
  const batchHandler = handler as unknown as BatchHandler<T>;
  const last: Invoke<T> = options.batch === undefined ? (ctx) => handler(ctx.event, ctx) : (ctx) => batchHandler(ctx.events, ctx);
  if (options.middleware.length === 0) return last;
  return compose(options.middleware, async (ctx) => {
    await last(ctx);
  });
}
