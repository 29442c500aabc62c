/**
 * Outbox tracing with the OpenTelemetry SDK: the trace context of the run that committed an effect
 * travels with it (`captureTraceContext`), and each send is a `dispatch effect` span linked to that
 * run (`dispatchTracing`), whether it succeeds or fails.
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  MemoryLock,
  MemoryOutbox,
  commitDecision,
  createExclusiveConsumer,
  createOutboxDispatcher,
  hashKey,
  type SendEffect,
} from '../../src/index.js';
import { captureTraceContext, createTracedProducer, dispatchTracing, tracing } from '../../src/otel/index.js';
import { resourcesPerTest, waitFor, type TestEvent } from '../helpers/index.js';
import { exporter, registerSdk, spans } from './sdk.js';

const { consumers, setup } = resourcesPerTest();
beforeAll(registerSdk);
beforeEach(() => exporter.reset());

/** A consumer whose handler commits one effect per event through the outbox, traced. */
async function decideThroughOutbox(outbox: MemoryOutbox<number, { seq: number }>): Promise<string> {
  const { broker, topic } = setup('otel-outbox');
  const c = createExclusiveConsumer<TestEvent>(
    topic,
    (e) => e.key,
    async (event, ctx) => {
      await commitDecision(outbox, ctx, (n) => ({ value: (n ?? 0) + 1, effects: [{ payload: { seq: event.seq } }] }));
    },
    { transport: broker.transport(), initialPosition: 'earliest', tokenSource: new MemoryLock(), middleware: [tracing()] },
  );
  consumers.push(c);
  await c.start();
  await createTracedProducer<TestEvent>({ transport: broker.transport(), topic, key: (e) => e.key }).send({ key: 'shopper-42', seq: 1 });
  await waitFor('committed', async () => (await outbox.counts()).pending === 1);
  return topic;
}

describe('captureTraceContext() and dispatchTracing()', () => {
  it('links each dispatch span to the process span of the run that committed the effect', async () => {
    const outbox = new MemoryOutbox<number, { seq: number }>({ captureHeaders: captureTraceContext() });
    const topic = await decideThroughOutbox(outbox);
    const sent: string[] = [];
    const dispatcher = createOutboxDispatcher(outbox, (effect) => void sent.push(effect.idempotencyKey), {
      middleware: [dispatchTracing()],
    });
    expect(await dispatcher.runOnce()).toBe(1);
    const [process] = spans(`process ${topic}`);
    const [dispatch] = spans('dispatch effect');
    expect(process).toBeDefined();
    expect(dispatch?.kind).toBe(SpanKind.PRODUCER);
    expect(dispatch?.links.map((l) => l.context.spanId)).toEqual([process!.spanContext().spanId]);
    expect(dispatch?.spanContext().traceId, 'a trace of its own by default').not.toBe(process!.spanContext().traceId);
    expect(dispatch?.attributes).toMatchObject({
      'exclusive_consumer.outbox.idempotency_key': sent[0],
      'exclusive_consumer.outbox.attempt': 1,
      'exclusive_consumer.fencing_token': 1,
      'exclusive_consumer.key.hash': hashKey('shopper-42'),
    });
    expect(dispatch?.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('with continueTrace, the dispatch span is also a child of the deciding run; a failed send is an ERROR span', async () => {
    const outbox = new MemoryOutbox<number, { seq: number }>({ captureHeaders: captureTraceContext() });
    const topic = await decideThroughOutbox(outbox);
    const send: SendEffect<{ seq: number }> = () => {
      throw new Error('gateway 503');
    };
    const dispatcher = createOutboxDispatcher(outbox, send, {
      middleware: [dispatchTracing({ continueTrace: true, keys: 'raw' })],
      retry: { initialDelayMs: 60_000 },
    });
    expect(await dispatcher.runOnce()).toBe(1);
    const [process] = spans(`process ${topic}`);
    const [dispatch] = spans('dispatch effect');
    expect(dispatch?.parentSpanContext?.spanId).toBe(process!.spanContext().spanId);
    expect(dispatch?.spanContext().traceId).toBe(process!.spanContext().traceId);
    expect(dispatch?.status.code).toBe(SpanStatusCode.ERROR);
    expect(dispatch?.attributes).toMatchObject({ 'error.type': 'Error', 'exclusive_consumer.key': 'shopper-42' });
    expect((await outbox.counts()).pending, 'the failure is retried later').toBe(1);
  });

  it('an effect committed outside any trace makes an unlinked span', async () => {
    const outbox = new MemoryOutbox<number, string>({ captureHeaders: captureTraceContext() });
    await outbox.commit('k', 1, { token: 1, owner: 'o' }, [{ payload: 'x', idempotencyKey: 'k-x' }]);
    expect((await outbox.effect('k-x'))?.headers).toEqual({});
    await createOutboxDispatcher(outbox, () => undefined, { middleware: [dispatchTracing()] }).runOnce();
    expect(spans('dispatch effect')[0]?.links).toEqual([]);
  });
});
