import { functionArgument, stringOption } from '../internal/validate.js';
import { Engine } from './engine.js';
import { resolveOptions } from './options.js';
import type {
  BatchHandler,
  BatchOptions,
  ExclusiveConsumer,
  ExclusiveConsumerOptions,
  FencedBatchHandler,
  FencedHandler,
  FencedOptions,
  Handler,
  KeyFn,
} from './types.js';

/**
 * Create a consumer of `topic` that runs `handler` for each event with per-key exclusivity: events
 * whose `keyFn` gives the same key run one at a time, in order, while different keys run
 * concurrently (up to `maxConcurrency`). Across consumers, exclusivity comes from the mode:
 * broker routing (`key-shared`, `failover`) or a lease lock (`shared-locked`).
 *
 * Nothing runs until `start()`. Options are validated now: a wrong one throws a
 * `ConfigurationError` naming it. With a `lock` or a `tokenSource` in the options, the handler's
 * context is a `FencedHandlerContext`: `ctx.fence` is always set. With `batch`, the handler takes
 * a key's queued events in one run: `(events, ctx) => …`.
 *
 * @example
 * ```ts
 * const consumer = createExclusiveConsumer<ShopperEvent>(
 *   'shopper-events',
 *   (event) => event.shopperId,
 *   async (event, ctx) => decide(event, ctx.signal),
 *   { maxConcurrency: 200 },
 * );
 * await consumer.start();
 * ```
 */
export function createExclusiveConsumer<T = unknown>(
  topic: string,
  keyFn: KeyFn<T>,
  handler: FencedBatchHandler<T>,
  options: FencedOptions<T> & { readonly batch: BatchOptions },
): ExclusiveConsumer;
export function createExclusiveConsumer<T = unknown>(
  topic: string,
  keyFn: KeyFn<T>,
  handler: BatchHandler<T>,
  options: ExclusiveConsumerOptions<T> & { readonly batch: BatchOptions },
): ExclusiveConsumer;
export function createExclusiveConsumer<T = unknown>(
  topic: string,
  keyFn: KeyFn<T>,
  handler: FencedHandler<T>,
  options: FencedOptions<T> & { readonly batch?: undefined },
): ExclusiveConsumer;
export function createExclusiveConsumer<T = unknown>(
  topic: string,
  keyFn: KeyFn<T>,
  handler: Handler<T>,
  options?: ExclusiveConsumerOptions<T> & { readonly batch?: undefined },
): ExclusiveConsumer;
/** Options typed as a whole (`ExclusiveConsumerOptions`): the handler's shape is then up to the caller. */
export function createExclusiveConsumer<T = unknown>(
  topic: string,
  keyFn: KeyFn<T>,
  handler: Handler<T>,
  options?: ExclusiveConsumerOptions<T>,
): ExclusiveConsumer;
export function createExclusiveConsumer<T = unknown>(
  topic: string,
  keyFn: KeyFn<T>,
  handler: Handler<T> | FencedHandler<T> | BatchHandler<T> | FencedBatchHandler<T>,
  options?: ExclusiveConsumerOptions<T>,
): ExclusiveConsumer {
  stringOption('topic', topic);
  functionArgument('keyFn', keyFn);
  functionArgument('handler', handler);
  // The overloads pair each handler with the options it fits: a fenced one with fencing, a batch
  // one with `batch` (the engine calls it with the run's events).
  return new Engine<T>(topic, keyFn, handler as Handler<T>, resolveOptions(options));
}
