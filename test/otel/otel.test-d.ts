import type { Span } from '@opentelemetry/api';
import { describe, expectTypeOf, it } from 'vitest';
import { createExclusiveConsumer, type HandlerContext, type Middleware, type Producer } from '../../src/index.js';
import type { RunOutcome } from '../../src/consumer/types.js';
import { consoleLogger, hashKey, type Logger } from '../../src/index.js';
import {
  createTracedProducer,
  instrumentConsumer,
  producerTracing,
  tracing,
  type ProducerTracingOptions,
  type TracingOptions,
} from '../../src/otel/index.js';
import type { ProducerMiddleware } from '../../src/producer.js';

interface ShopperEvent {
  readonly shopperId: string;
}

describe('exclusive-consumer/otel types', () => {
  it('types hooks by the event, and fits typed consumers and producers', () => {
    const middleware = tracing<ShopperEvent>({
      startHook: (span, ctx) => {
        expectTypeOf(span).toEqualTypeOf<Span>();
        expectTypeOf(ctx).toEqualTypeOf<HandlerContext<ShopperEvent>>();
        expectTypeOf(ctx.event.shopperId).toBeString();
      },
      endHook: (_span, _ctx, outcome) => expectTypeOf(outcome).toEqualTypeOf<RunOutcome | undefined>(),
    });
    expectTypeOf(middleware).toEqualTypeOf<Middleware<ShopperEvent>>();
    const consumer = createExclusiveConsumer<ShopperEvent>('t', (e) => e.shopperId, () => undefined, {
      middleware: [tracing(), middleware],
      logger: consoleLogger(),
      privacy: { keys: 'hashed', keySalt: 's' },
    });
    expectTypeOf(instrumentConsumer(consumer)).toEqualTypeOf<() => void>();
    expectTypeOf(producerTracing<ShopperEvent>()).toEqualTypeOf<ProducerMiddleware<ShopperEvent>>();
    expectTypeOf(createTracedProducer<ShopperEvent>({ topic: 't', key: (e) => e.shopperId })).toEqualTypeOf<Producer<ShopperEvent>>();
    expectTypeOf(hashKey).toEqualTypeOf<(key: string, salt?: string) => string>();
  });

  it('rejects a wrong key mode and a non-logger', () => {
    // @ts-expect-error keys is 'hashed' or 'raw'
    const bad: TracingOptions = { keys: 'plain' };
    // @ts-expect-error a logger needs debug/info/warn/error
    const notLogger: Logger = { info: () => undefined };
    const producerOptions: ProducerTracingOptions<ShopperEvent> = { endHook: (_s, m, r) => void [m.key, r.messageId] };
    void [bad, notLogger, producerOptions];
  });
});
