import type { HandlerContext } from '../consumer/types.js';

/**
 * Runs around every handler run: `(ctx, next) => Promise<void>`. Call `next()` once to run the rest
 * of the chain and the handler; throwing fails the attempt like a handler error. Middleware is
 * built by option factories that return named functions (e.g. `exclusivityCounter({ … })`).
 */
export type Middleware<T = unknown> = (ctx: HandlerContext<T>, next: () => Promise<void>) => Promise<void>;
