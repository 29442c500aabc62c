/**
 * The decision engine, traced: one shopper's events followed from the request that produced them,
 * through the broker, to the decision to message them; and the exclusivity counter published as a
 * metric, with the alert rule "violations > 0" evaluated on it.
 *
 *   npx tsx examples/tracing/main.ts
 *
 * Exits 0 when every event was handled and the shopper's traces are whole (request → send →
 * process → decide), 1 otherwise.
 */
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ConsoleSpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  MemoryBroker,
  MemoryCounterStore,
  MemoryLock,
  MemoryOutbox,
  consoleLogger,
  createExclusiveConsumer,
  exclusivityCounter,
  hashKey,
  type ConsumerMode,
  type ExclusiveConsumer,
  type HandlerContext,
  type Middleware,
} from '../../src/index.js';
import { MetricNames, createTracedProducer, instrumentConsumer, tracing } from '../../src/otel/index.js';
import { PlainStore, decisionEngine, type Send, type ShopperState } from '../decision-engine/decision.js';
import { makeWorkload, type ShopperEvent } from '../decision-engine/workload.js';
import { setUpOpenTelemetry } from './otel.js';
import { scrape, traceTree } from './report.js';

const telemetry = setUpOpenTelemetry();
const tracer = trace.getTracer('decision-engine-demo');

const TOPIC = 'shopper-events';
const SUBSCRIPTION = 'decision-engine';
/** Keys (shopper ids) are personal data: telemetry carries HMAC-SHA-256(salt, key), never the key. */
const KEY_SALT = process.env.KEY_SALT ?? 'demo-salt-use-a-secret';
const EVENTS = 400;

const workload = makeWorkload(EVENTS, 0, 7);
const events: ShopperEvent[] = [];
for (const burst of workload.bursts) {
  burst.types.forEach((type, k) => {
    events.push({ shopperId: burst.shopperId, eventId: `${burst.shopperId}#${burst.offset + k}`, n: events.length, type, publishedAt: 0 });
  });
}
// The shopper to follow: one with several events whose intent earns a message.
const watched = [...workload.shouldMessage].find((s) => events.filter((e) => e.shopperId === s).length >= 3) ?? events[0]!.shopperId;

/** The decision engine's handler, with a `decide` span around it and an outbox span when it sends. */
function handlerFor(mode: ConsumerMode): (event: ShopperEvent, ctx: HandlerContext<ShopperEvent>) => Promise<void> {
  const engine = decisionEngine({
    writes: mode === 'shared' ? 'naive' : 'fenced',
    plain: new PlainStore(),
    outbox: new MemoryOutbox<ShopperState, Send>(),
    lock: undefined,
    slowShopper: '',
    slowEventMs: 0,
    stalledShoppers: new Set(),
    stallMs: 0,
    hooks: {
      started: () => undefined,
      decided: () => undefined,
      fencedOff: () => undefined,
      send() {
        // Runs inside the `decide` span: the decision and the message it causes are in the trace.
        trace.getActiveSpan()?.setAttribute('decision.send', true);
        tracer.startActiveSpan('outbox.enqueue', { attributes: { 'message.channel': 'sms' } }, (span) => span.end());
      },
    },
  });
  return (event, ctx) =>
    tracer.startActiveSpan('decide', { attributes: { 'decision.event_type': event.type } }, async (span) => {
      try {
        await engine(event, ctx);
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw error;
      } finally {
        span.end();
      }
    });
}

/** Three consumers of one subscription in `mode`, all events published through the traced producer. */
async function run(mode: ConsumerMode, traced: boolean): Promise<ExclusiveConsumer[]> {
  const broker = new MemoryBroker();
  broker.createTopic(TOPIC, { partitions: 4 });
  const transport = broker.transport();
  const store = new MemoryCounterStore(); // one store for the fleet: violations between consumers show
  const lock = new MemoryLock(); // mints the fencing tokens
  const handler = handlerFor(mode);
  const middleware: Middleware<ShopperEvent>[] = [exclusivityCounter({ store })];
  // tracing first: the counter's store calls then run inside the process span.
  if (traced) middleware.unshift(tracing<ShopperEvent>({ keySalt: KEY_SALT }));
  const consumers = [1, 2, 3].map((i) =>
    createExclusiveConsumer<ShopperEvent>(TOPIC, (e) => e.shopperId, handler, {
      transport,
      mode,
      subscription: SUBSCRIPTION,
      consumerName: `decider-${i}`,
      initialPosition: 'earliest',
      middleware,
      ...(mode === 'shared' ? {} : { tokenSource: lock }),
      ...(traced ? { logger: consoleLogger({ level: 'info', format: 'text' }), privacy: { keySalt: KEY_SALT } } : {}),
    }),
  );
  for (const c of consumers) instrumentConsumer(c, { meterProvider: telemetry.meterProvider });
  await Promise.all(consumers.map((c) => c.start()));

  const producer = createTracedProducer<ShopperEvent>({ transport, topic: TOPIC, key: (e) => e.shopperId, tracing: { keySalt: KEY_SALT } });
  // Each event arrives as a request to the ingest service, which publishes it.
  for (const event of events) {
    await tracer.startActiveSpan('POST /events', { kind: SpanKind.SERVER, attributes: { 'http.route': '/events' } }, async (span) => {
      await producer.send(event);
      span.end();
    });
  }
  const settled = (): number => consumers.reduce((n, c) => n + c.stats().processed + c.stats().deadLettered, 0);
  const deadline = Date.now() + 20_000;
  while (settled() < events.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await Promise.all(consumers.map((c) => c.stop()));
  await producer.close();
  await broker.close();
  return consumers;
}

// ---------------------------------------------------------------- 1. key-shared, traced

const keyShared = await run('key-shared', true);
const watchedHash = hashKey(watched, KEY_SALT);
const all = telemetry.spans.getFinishedSpans();
const sends = all.filter((s) => s.name === `send ${TOPIC}` && s.attributes['exclusive_consumer.key.hash'] === watchedHash);
const traces = sends.map((send) => all.filter((s) => s.spanContext().traceId === send.spanContext().traceId));

console.log(`Shopper ${watched} appears in telemetry only as exclusive_consumer.key.hash = ${watchedHash}`);
console.log(`(hashKey(shopperId, KEY_SALT): how an operator finds a shopper's traces without the traces holding the id).\n`);
console.log(`Their ${traces.length} events, one trace each, from the request to the decision:\n`);
for (const spans of traces) console.log(`${traceTree(spans)}\n`);

/** Whole: request → send (PRODUCER) → process (CONSUMER, child and link) → decide, one trace. */
const whole = (spans: readonly ReadableSpan[]): boolean => {
  const find = (name: string) => spans.find((s) => s.name === name);
  const request = find('POST /events');
  const send = find(`send ${TOPIC}`);
  const process = find(`process ${TOPIC}`);
  const decide = find('decide');
  return (
    request !== undefined &&
    send?.parentSpanContext?.spanId === request.spanContext().spanId &&
    process?.parentSpanContext?.spanId === send.spanContext().spanId &&
    process.links.some((l) => l.context.spanId === send.spanContext().spanId) &&
    decide?.parentSpanContext?.spanId === process.spanContext().spanId
  );
};
const decisive = traces.find((spans) => spans.some((s) => s.attributes['decision.send'] === true));
if (decisive !== undefined) {
  console.log('The event that made the engine message the shopper, as the OpenTelemetry ConsoleSpanExporter prints it:\n');
  new ConsoleSpanExporter().export([...decisive].sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]), () => undefined);
  console.log();
}
const leaks = all.filter((s) => Object.values(s.attributes).some((v) => v === watched));
console.log(`Spans carrying the raw shopper id: ${leaks.length}.`);

// ---------------------------------------------------------------- 2. shared: the counter fires

const shared = await run('shared', false);
const metrics = await telemetry.collectMetrics();
console.log('\nMetrics, as a Prometheus scrape shows them (both runs):\n');
console.log(
  scrape(metrics, [MetricNames.consumedMessages, MetricNames.processDuration, MetricNames.processed, MetricNames.violations, MetricNames.staleWrites]),
);
const violations = (mode: ConsumerMode): number => {
  let sum = 0;
  for (const metric of metrics.filter((m) => m.descriptor.name === MetricNames.violations)) {
    for (const point of metric.dataPoints) {
      if (point.attributes['exclusive_consumer.mode'] === mode) sum += point.value as number;
    }
  }
  return sum;
};
console.log('\nAlert rule: increase(exclusive_consumer_exclusivity_violations_total[5m]) > 0');
for (const mode of ['key-shared', 'shared'] as const) {
  const v = violations(mode);
  console.log(`  ${mode.padEnd(10)} violations=${v}  ${v > 0 ? 'FIRING' : 'ok'}`);
}

const handled = (cs: readonly ExclusiveConsumer[]): number => cs.reduce((n, c) => n + c.stats().processed + c.stats().deadLettered, 0);
const ok = traces.length > 0 && traces.every(whole) && leaks.length === 0 && handled(keyShared) === events.length && handled(shared) === events.length;
console.log(
  `\n${ok ? 'Checked' : 'FAILED'}: ${handled(keyShared)} + ${handled(shared)} of ${events.length} + ${events.length} events handled; ` +
    `${traces.filter(whole).length} of ${traces.length} traces whole (request → send → process → decide); no raw key in any span.`,
);
await telemetry.shutdown();
process.exitCode = ok ? 0 : 1;
