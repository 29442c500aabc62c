import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  MemoryLock,
  NonRetriableError,
  StaleTokenError,
  createExclusiveConsumer,
  hashKey,
  type ExclusiveConsumer,
  type ExclusiveConsumerOptions,
  type Handler,
  type HandlerContext,
  type MemoryBroker,
} from '../../src/index.js';
import { SpanAttributes, SpanEvents, createTracedProducer, tracing, type TracingOptions } from '../../src/otel/index.js';
import { sleep, waitFor, resourcesPerTest, type TestEvent } from '../helpers/index.js';
import { exporter, registerSdk, spans } from './sdk.js';

const { consumers, setup: fresh } = resourcesPerTest();
beforeAll(registerSdk);
beforeEach(() => exporter.reset());

const tracer = trace.getTracer('test');

function setup(partitions = 0): { broker: MemoryBroker; topic: string } {
  const { broker, topic } = fresh('otel');
  if (partitions > 0) broker.createTopic(topic, { partitions });
  return { broker, topic };
}

async function consume(
  broker: MemoryBroker,
  topic: string,
  handler: Handler<TestEvent>,
  tracingOptions: TracingOptions<TestEvent> = {},
  options: ExclusiveConsumerOptions<TestEvent> = {},
): Promise<ExclusiveConsumer> {
  const c = createExclusiveConsumer<TestEvent>(topic, (e) => e.key, handler, {
    transport: broker.transport(),
    subscription: 'decisions',
    consumerName: 'consumer-1',
    initialPosition: 'earliest',
    retry: { maxAttempts: 3, initialDelayMs: 5, maxDelayMs: 5 },
    ...options,
    middleware: [tracing(tracingOptions), ...(options.middleware ?? [])],
  });
  consumers.push(c);
  await c.start();
  return c;
}

function producerFor(broker: MemoryBroker, topic: string) {
  return createTracedProducer<TestEvent>({ transport: broker.transport(), topic, key: (e) => e.key });
}

const id = (s: ReadableSpan): string => s.spanContext().spanId;

/** Every string an exporter would ship for a span: attribute values, event attributes, status. */
function exportedStrings(s: ReadableSpan): string[] {
  const values = [
    s.name,
    s.status.message ?? '',
    ...Object.values(s.attributes).map(String),
    ...s.events.flatMap((e) => [e.name, ...Object.values(e.attributes ?? {}).map(String)]),
  ];
  return values;
}

describe('tracing() middleware', () => {
  it('makes one CONSUMER span per run, named and attributed per the messaging conventions', async () => {
    const { broker, topic } = setup(4);
    const c = await consume(broker, topic, () => undefined);
    const messageId = await producerFor(broker, topic).send({ key: 'shopper-42', seq: 1 });
    await waitFor('processed', () => c.stats().processed === 1);
    await waitFor('span', () => spans(`process ${topic}`).length === 1);

    const [span] = spans(`process ${topic}`);
    expect(span!.kind).toBe(SpanKind.CONSUMER);
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    expect(span!.attributes).toMatchObject({
      'messaging.system': 'pulsar',
      'messaging.operation.name': 'process',
      'messaging.operation.type': 'process',
      'messaging.destination.name': topic,
      'messaging.destination.subscription.name': 'decisions',
      'messaging.consumer.group.name': 'decisions',
      'messaging.client.id': 'consumer-1',
      'messaging.message.id': messageId,
      'messaging.destination.partition.id': messageId.split(':')[0],
      'exclusive_consumer.mode': 'key-shared',
      'exclusive_consumer.transport': 'memory',
      'exclusive_consumer.attempt': 1,
      'exclusive_consumer.redelivery_count': 0,
      'exclusive_consumer.key.hash': hashKey('shopper-42'),
      'exclusive_consumer.outcome': 'ack',
    });
    expect(span!.attributes['messaging.message.body.size']).toBe(JSON.stringify({ key: 'shopper-42', seq: 1 }).length);
    expect(span!.attributes).not.toHaveProperty('exclusive_consumer.fencing_token');
    expect(span!.attributes).not.toHaveProperty('error.type');
    expect(span!.ended).toBe(true);
  });

  it('continues the producer trace: request → send → process → the handler’s own span', async () => {
    const { broker, topic } = setup();
    const c = await consume(broker, topic, async () => {
      // The handler runs inside the process span's context, across awaits.
      await sleep(1);
      tracer.startActiveSpan('decide', (span) => span.end());
    });
    const producer = producerFor(broker, topic);
    await tracer.startActiveSpan('POST /events', async (request) => {
      await producer.send({ key: 'shopper-7', seq: 1 });
      request.end();
    });
    await waitFor('processed', () => c.stats().processed === 1);
    await waitFor('spans', () => spans().length === 4);

    const [request] = spans('POST /events');
    const [send] = spans(`send ${topic}`);
    const [process] = spans(`process ${topic}`);
    const [decide] = spans('decide');
    const traceId = request!.spanContext().traceId;
    expect([send, process, decide].map((s) => s!.spanContext().traceId)).toEqual([traceId, traceId, traceId]);

    expect(send!.kind).toBe(SpanKind.PRODUCER);
    expect(send!.parentSpanContext?.spanId).toBe(id(request!));
    expect(send!.attributes).toMatchObject({
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': topic,
      'exclusive_consumer.key.hash': hashKey('shopper-7'),
    });
    expect(send!.attributes['messaging.message.id']).toBe(process!.attributes['messaging.message.id']);

    expect(process!.parentSpanContext?.spanId).toBe(id(send!));
    expect(process!.links.map((l) => l.context.spanId)).toEqual([id(send!)]);
    expect(decide!.parentSpanContext?.spanId).toBe(id(process!));
  });

  it('with continueTrace: false, starts a new trace linked to the producer', async () => {
    const { broker, topic } = setup();
    const c = await consume(broker, topic, () => undefined, { continueTrace: false });
    await tracer.startActiveSpan('request', async (request) => {
      await producerFor(broker, topic).send({ key: 'k', seq: 1 });
      request.end();
    });
    await waitFor('processed', () => c.stats().processed === 1);
    await waitFor('spans', () => spans().length === 3);
    const [send] = spans(`send ${topic}`);
    const [process] = spans(`process ${topic}`);
    expect(process!.parentSpanContext).toBeUndefined();
    expect(process!.spanContext().traceId).not.toBe(send!.spanContext().traceId);
    expect(process!.links.map((l) => l.context.spanId)).toEqual([id(send!)]);
  });

  it('a message without trace context gets a root span, not the context the delivery happened in', async () => {
    const { broker, topic } = setup();
    const c = await consume(broker, topic, () => undefined);
    await tracer.startActiveSpan('unrelated', async (unrelated) => {
      broker.publish(topic, { data: new TextEncoder().encode(JSON.stringify({ key: 'k', seq: 1 })), partitionKey: 'k' });
      await waitFor('processed', () => c.stats().processed === 1);
      unrelated.end();
    });
    await waitFor('span', () => spans(`process ${topic}`).length === 1);
    const [process] = spans(`process ${topic}`);
    expect(process!.parentSpanContext).toBeUndefined();
    expect(process!.links).toEqual([]);
  });

  it('records a failed run: error.type, ERROR status, exception, then the retry and the dead letter', async () => {
    const { broker, topic } = setup();
    const c = await consume(broker, topic, () => {
      throw new TypeError('gateway said no');
    });
    await producerFor(broker, topic).send({ key: 'k', seq: 1 });
    await waitFor('dead-lettered', () => c.stats().deadLettered === 1);
    await waitFor('spans', () => spans(`process ${topic}`).length === 3);

    const runs = spans(`process ${topic}`).sort(
      (a, b) => (a.attributes['exclusive_consumer.attempt'] as number) - (b.attributes['exclusive_consumer.attempt'] as number),
    );
    expect(runs.map((s) => s.attributes['exclusive_consumer.attempt'])).toEqual([1, 2, 3]);
    // Attempts of one message are siblings under the producer's span.
    expect(new Set(runs.map((s) => s.parentSpanContext?.spanId)).size).toBe(1);
    for (const s of runs) {
      expect(s.status.code).toBe(SpanStatusCode.ERROR);
      expect(s.attributes['error.type']).toBe('TypeError');
      const exception = s.events.find((e) => e.name === 'exception');
      expect(exception?.attributes?.['exception.type']).toBe('TypeError');
      // Foreign error messages may quote personal data: left out unless errorMessages is set.
      expect(exception?.attributes).not.toHaveProperty('exception.message');
      expect(String(exception?.attributes?.['exception.stacktrace'])).toMatch(/^TypeError\n\s+at /);
    }
    expect(runs.map((s) => s.attributes['exclusive_consumer.outcome'])).toEqual(['retry', 'retry', 'dead-letter']);
    const retry = runs[0]!.events.find((e) => e.name === SpanEvents.retry);
    expect(retry?.attributes).toMatchObject({ 'exclusive_consumer.retry.next_attempt': 2 });
    expect(retry?.attributes?.['exclusive_consumer.retry.delay_ms']).toBeGreaterThanOrEqual(0);
    const deadLetter = runs[2]!.events.find((e) => e.name === SpanEvents.deadLetter);
    expect(deadLetter?.attributes).toEqual({ 'error.type': 'TypeError' });
  });

  it('keeps error messages when errorMessages is set, with the key hashed in them', async () => {
    const { broker, topic } = setup();
    const c = await consume(
      broker,
      topic,
      (e) => {
        throw new NonRetriableError(`no state for ${e.key}`);
      },
      { errorMessages: true },
    );
    await producerFor(broker, topic).send({ key: 'shopper-9', seq: 1 });
    await waitFor('dead-lettered', () => c.stats().deadLettered === 1);
    await waitFor('span', () => spans(`process ${topic}`).length === 1);
    const [span] = spans(`process ${topic}`);
    expect(span!.status.message).toBe(`no state for ${hashKey('shopper-9')}`);
    const exception = span!.events.find((e) => e.name === 'exception');
    expect(exception?.attributes).toMatchObject({
      'exception.type': 'NonRetriableError',
      'exception.message': `no state for ${hashKey('shopper-9')}`,
    });
    expect(exportedStrings(span!).join('\n')).not.toContain('shopper-9');
  });

  it('hashes keys by default, with a salt when given, and shows them only with keys: raw', async () => {
    const { broker, topic } = setup();
    const salted = await consume(broker, topic, () => undefined, { keySalt: 's3cret' }, { subscription: 'salted' });
    const raw = await consume(broker, topic, () => undefined, { keys: 'raw' }, { subscription: 'raw', consumerName: 'c2' });
    await producerFor(broker, topic).send({ key: 'shopper-1@example.com', seq: 1 });
    await waitFor('processed', () => salted.stats().processed === 1 && raw.stats().processed === 1);
    await waitFor('spans', () => spans(`process ${topic}`).length === 2);

    const bySub = (sub: string) => spans(`process ${topic}`).find((s) => s.attributes['messaging.consumer.group.name'] === sub)!;
    expect(bySub('salted').attributes['exclusive_consumer.key.hash']).toBe(hashKey('shopper-1@example.com', 's3cret'));
    expect(hashKey('shopper-1@example.com', 's3cret')).not.toBe(hashKey('shopper-1@example.com'));
    expect(hashKey('shopper-1@example.com')).toMatch(/^[0-9a-f]{16}$/);
    for (const s of [bySub('salted'), ...spans(`send ${topic}`)]) {
      expect(exportedStrings(s).join('\n')).not.toContain('shopper-1@example.com');
      expect(s.attributes).not.toHaveProperty('exclusive_consumer.key');
    }
    expect(bySub('raw').attributes['exclusive_consumer.key']).toBe('shopper-1@example.com');
    expect(bySub('raw').attributes).not.toHaveProperty('exclusive_consumer.key.hash');
  });

  it('shows the wait for a lease as a child span, the fencing token, and a lease lost mid-run', async () => {
    const { broker, topic } = setup();
    const lock = new MemoryLock();
    // Someone else holds the key for a while: the consumer waits for the lease.
    await lock.tryAcquire('k', 'intruder', 80);
    let expired = false;
    const c = await consume(
      broker,
      topic,
      async (e) => {
        if (e.seq === 1 && !expired) {
          expired = true;
          lock.expire('k'); // as a pause past the TTL would: the renewal finds the lease gone
          await sleep(120);
        }
      },
      {},
      { mode: 'shared-locked', lock, lease: { ttlMs: 60, retryDelayMs: 10 } },
    );
    const waits: number[] = [];
    c.on('lease.acquired', (e) => waits.push(e.waitMs));
    await producerFor(broker, topic).send({ key: 'k', seq: 1 });
    await waitFor('lease lost', () => c.stats().leasesLost === 1, 3000);
    await waitFor('processed', () => c.stats().processed === 1);
    await waitFor('spans', () => spans(`process ${topic}`).length === 1);

    const [process] = spans(`process ${topic}`);
    const [lease] = spans(`lease ${topic}`);
    expect(process!.attributes['exclusive_consumer.mode']).toBe('shared-locked');
    expect(process!.attributes['exclusive_consumer.fencing_token']).toBe(2); // the intruder had 1
    // The wait the engine measured for the intruder's lease, not a guess at its length.
    expect(waits[0]).toBeGreaterThan(0);
    expect(process!.attributes['exclusive_consumer.lock_wait_ms']).toBe(waits[0]);
    expect(lease!.parentSpanContext?.spanId).toBe(id(process!));
    expect(lease!.kind).toBe(SpanKind.INTERNAL);
    expect(lease!.attributes['exclusive_consumer.lock_wait_ms']).toBe(process!.attributes['exclusive_consumer.lock_wait_ms']);
    // The process span starts when the wait started, so the wait is on its timeline.
    expect(lease!.startTime).toEqual(process!.startTime);
    const abort = process!.events.find((e) => e.name === SpanEvents.abort);
    expect(abort?.attributes).toMatchObject({ 'exclusive_consumer.abort.reason': 'lease-lost', 'error.type': 'LockLostError' });
  });

  it('records a timeout counted after the handler returned, and a stale token as a release', async () => {
    const { broker, topic } = setup();
    let staleThrown = 0;
    const c = await consume(
      broker,
      topic,
      async (e) => {
        if (e.seq === 1) await sleep(80); // ignores ctx.signal
        if (e.seq === 2 && staleThrown++ === 0) throw new StaleTokenError(e.key, 1, 2); // redelivered, then fine
      },
      {},
      { handlerTimeoutMs: 20, retry: { maxAttempts: 1 } },
    );
    const producer = producerFor(broker, topic);
    await producer.send({ key: 'a', seq: 1 });
    await producer.send({ key: 'b', seq: 2 });
    await waitFor('settled', () => c.stats().deadLettered === 1 && c.stats().processed === 1, 3000);
    await waitFor('spans', () => spans(`process ${topic}`).length === 3);

    const [timedOut] = spans(`process ${topic}`).filter((s) => s.attributes['exclusive_consumer.key.hash'] === hashKey('a'));
    expect(timedOut!.attributes['error.type']).toBe('HandlerTimeoutError');
    expect(timedOut!.status.code).toBe(SpanStatusCode.ERROR);
    expect(timedOut!.events.map((e) => e.name)).toEqual([SpanEvents.abort, 'exception', SpanEvents.deadLetter]);
    expect(timedOut!.events[0]!.attributes?.[SpanAttributes.abortReason]).toBe('timeout');
    // The library's own messages carry no personal data: kept.
    expect(timedOut!.status.message).toBe('Handler exceeded 20 ms');

    const [stale, redelivered] = spans(`process ${topic}`).filter((s) => s.attributes['exclusive_consumer.key.hash'] === hashKey('b'));
    expect(redelivered!.attributes).toMatchObject({ 'exclusive_consumer.outcome': 'ack', 'exclusive_consumer.redelivery_count': 1 });
    expect(stale!.attributes['exclusive_consumer.outcome']).toBe('release');
    expect(stale!.attributes['error.type']).toBe('StaleTokenError');
    expect(stale!.events.find((e) => e.name === SpanEvents.release)?.attributes).toEqual({
      'exclusive_consumer.release.reason': 'stale-token',
    });
  });

  it('user hooks that throw cannot break processing: reported as error events', async () => {
    const { broker, topic } = setup();
    const phases: string[] = [];
    const c = await consume(broker, topic, () => undefined, {
      startHook: (span, ctx) => {
        span.setAttribute('app.shard', ctx.consumer.consumerName);
        throw new Error('start hook bug');
      },
      endHook: (span, _ctx, outcome) => {
        span.setAttribute('app.outcome', outcome?.action ?? 'none');
        throw new Error('end hook bug');
      },
    });
    c.on('error', (e) => phases.push(e.phase));
    await producerFor(broker, topic).send({ key: 'k', seq: 1 });
    await waitFor('processed', () => c.stats().processed === 1);
    await waitFor('span', () => spans(`process ${topic}`).length === 1);
    const [span] = spans(`process ${topic}`);
    expect(span!.attributes).toMatchObject({ 'app.shard': 'consumer-1', 'app.outcome': 'ack' });
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    expect(c.stats()).toMatchObject({ processed: 1, failed: 0 });
    expect(phases).toEqual(['tracing:startHook', 'tracing:endHook']);
  });

  it('ends the span in finally when the context cannot report its settlement', async () => {
    const middleware = tracing<TestEvent>();
    const fake = {
      key: 'k',
      event: { key: 'k', seq: 1 },
      signal: new AbortController().signal,
      fencingToken: undefined,
      fence: undefined,
      attempt: 1,
      message: {
        id: '1:1',
        data: new Uint8Array(2),
        partitionKey: 'k',
        properties: {},
        redeliveryCount: 0,
        publishTime: Date.now(),
        topic: 'hand-made',
      },
      consumer: { topic: 'hand-made', subscription: 's', consumerName: 'c', mode: 'key-shared', transport: 'none' },
      lockWaitMs: 0,
      reportViolation: () => undefined,
      reportError: () => undefined,
    } as unknown as HandlerContext<TestEvent>;
    let active: string | undefined;
    await middleware(fake, async () => {
      active = trace.getActiveSpan()?.spanContext().spanId;
    });
    await expect(middleware(fake, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    const made = spans('process hand-made');
    expect(made).toHaveLength(2);
    expect(active).toBe(id(made[0]!));
    expect(made[1]!.status.code).toBe(SpanStatusCode.ERROR);
    expect(made.every((s) => !('exclusive_consumer.outcome' in s.attributes))).toBe(true);
    expect(context.active()).toBe(context.active()); // no context leaked into the test
    expect(trace.getActiveSpan()).toBeUndefined();
  });
});

describe('createTracedProducer()', () => {
  it('sets the partition key, injects traceparent, and keeps a creation context given by the caller', async () => {
    const { broker, topic } = setup();
    const producer = producerFor(broker, topic);
    const custom = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await producer.send({ key: 'k1', seq: 1 });
    await producer.send({ key: 'k2', seq: 2 }, { properties: { traceparent: custom, app: 'x' } });
    const stored = broker.peek(topic);
    expect(stored.map((m) => m.partitionKey)).toEqual(['k1', 'k2']);
    const [first, second] = spans(`send ${topic}`);
    expect(stored[0]!.properties.traceparent).toBe(`00-${first!.spanContext().traceId}-${id(first!)}-01`);
    expect(stored[1]!.properties).toEqual({ traceparent: custom, app: 'x' });
    expect(second!.links.map((l) => l.context.spanId)).toEqual(['b7ad6b7169203331']);
  });

  it('records a failed send and rethrows', async () => {
    const { broker, topic } = setup();
    const producer = createTracedProducer<TestEvent>({
      transport: broker.transport(),
      topic,
      key: (e) => e.key,
      middleware: [
        async () => {
          throw new Error('broker unavailable');
        },
      ],
    });
    await expect(producer.send({ key: 'k', seq: 1 })).rejects.toThrow('broker unavailable');
    const [send] = spans(`send ${topic}`);
    expect(send!.status.code).toBe(SpanStatusCode.ERROR);
    expect(send!.attributes['error.type']).toBe('Error');
    expect(send!.attributes).not.toHaveProperty('messaging.message.id');
  });
});
