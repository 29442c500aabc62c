import { randomBytes } from 'node:crypto';
import type { Violation } from '../../consumer/types.js';
import { adapterOption } from '../../internal/validate.js';
import type { Middleware } from '../../consumer/types.js';
import { MemoryCounterStore } from './memory-store.js';
import type { CounterStore } from './types.js';

/** Options of {@link exclusivityCounter}. */
export interface ExclusivityCounterOptions {
  /**
   * Where runs in progress are counted. Share one store (or one middleware instance) between every
   * consumer to watch; a Redis store watches a whole fleet.
   * @default a new MemoryCounterStore (this middleware instance only)
   */
  readonly store?: CounterStore;
  /** Called for each violation, besides the consumer's `violation` event and stat. Must not throw. */
  readonly onViolation?: (violation: Violation) => void;
}

let holderSequence = 0;
const processId = randomBytes(4).toString('hex');

/**
 * The mutual-exclusivity counter: count a key's run as started before the handler, report a
 * violation if the key was already being handled somewhere, count it as finished in `finally`. A
 * safety net that measures exclusivity, it does not enforce it. A store that fails never fails the
 * handler: the error is reported and the run goes on uncounted.
 */
export function exclusivityCounter(options: ExclusivityCounterOptions = {}): Middleware {
  if (options.store !== undefined) adapterOption('store', options.store, ['increment', 'decrement']);
  const store = options.store ?? new MemoryCounterStore();
  const { onViolation } = options;

  return async function exclusivityCounter(ctx, next) {
    holderSequence = (holderSequence + 1) % Number.MAX_SAFE_INTEGER;
    const holder = `${processId}:${holderSequence}`;
    let counted = false;
    try {
      const before = await store.increment(ctx.key, holder);
      counted = true;
      if (before > 0) {
        const violation = { key: ctx.key, concurrent: before + 1, source: 'exclusivity-counter' };
        ctx.reportViolation(violation);
        if (onViolation !== undefined) {
          try {
            onViolation({ ...violation, messageId: ctx.message.id });
          } catch (error) {
            ctx.reportError(error, 'exclusivity-counter:onViolation');
          }
        }
      }
    } catch (error) {
      ctx.reportError(error, 'exclusivity-counter:increment');
    }
    try {
      await next();
    } finally {
      if (counted) {
        try {
          await store.decrement(ctx.key, holder);
        } catch (error) {
          ctx.reportError(error, 'exclusivity-counter:decrement');
        }
      }
    }
  };
}
