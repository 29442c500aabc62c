import { MiddlewareError } from '../errors/middleware-error.js';

/** @internal One step of a chain: `(ctx, next) => result`, calling `next()` at most once. */
export type ChainStep<C, R> = (ctx: C, next: () => Promise<R>) => Promise<R>;

/**
 * @internal Run `steps` around `last`, outermost first. A step that calls `next()` a second time
 * gets a rejected `MiddlewareError` instead of a second run of the rest.
 */
export function chain<C, R>(steps: readonly ChainStep<C, R>[], last: (ctx: C) => Promise<R>, kind: string): (ctx: C) => Promise<R> {
  if (steps.length === 0) return last;
  return function chained(ctx) {
    let index = -1;
    const dispatch = (i: number): Promise<R> => {
      if (i <= index) return Promise.reject(new MiddlewareError(steps[i - 1]?.name || 'anonymous', kind));
      index = i;
      const step = steps[i];
      if (step === undefined) return last(ctx);
      try {
        return Promise.resolve(step(ctx, () => dispatch(i + 1)));
      } catch (error) {
        return Promise.reject(error);
      }
    };
    return dispatch(0);
  };
}
