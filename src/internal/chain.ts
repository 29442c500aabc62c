import { ExclusiveConsumerError } from '../errors/base.js';

/** @internal One link of a chain: `(subject, next) => result`, calling `next()` at most once. */
export type Link<S, R> = (subject: S, next: () => Promise<R>) => Promise<R>;

/**
 * @internal Runs `links` around `last`, outermost first: the one composition of every middleware
 * list of the library (handler, producer, outbox dispatch). Calling `next()` twice in one link
 * rejects with `EC_MIDDLEWARE`: the step it guards (a handler run, a publish, a send) must not
 * happen twice. A link that throws synchronously rejects like one that rejects.
 * @param what how errors name a link, e.g. `Middleware` or `Producer middleware`
 */
export function runChain<S, R>(links: readonly Link<S, R>[], last: (subject: S) => Promise<R>, subject: S, what: string): Promise<R> {
  let index = -1;
  const dispatch = (i: number): Promise<R> => {
    if (i <= index) {
      const name = links[i - 1]?.name || 'anonymous';
      return Promise.reject(new ExclusiveConsumerError(`${what} "${name}" called next() more than once`, 'EC_MIDDLEWARE', false));
    }
    index = i;
    const fn = links[i];
    if (fn === undefined) return last(subject);
    try {
      return Promise.resolve(fn(subject, () => dispatch(i + 1)));
    } catch (error) {
      return Promise.reject(error);
    }
  };
  return dispatch(0);
}
