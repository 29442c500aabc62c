/**
 * The pulsar-client transport on a live broker, through the real native client. pulsar-client is
 * an optional peer dependency whose install downloads a prebuilt addon; where it is not installed
 * (or its addon does not load) this suite skips, printing why.
 *
 * - The transport contract.
 * - A topic unload (the broker closes the consumer; the client reconnects by itself): the loss is
 *   noticed, reported and the deliveries declared lost; the messages come again.
 * - Exclusive consumers in key-shared mode, three of them: no overlapping runs per key, nothing
 *   lost, per-key order, failing events dead-lettered through the client with their reason.
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import { DeadLetterProperties, createExclusiveConsumer, createProducer, defaultDeadLetterTopic, type ExclusiveConsumer } from '../../../src/index.js';
import { type Delivery } from '../../../src/adapters.js';
import { pulsarAdmin, pulsarClientTransport, type PulsarClientLike } from '../../../src/pulsar/index.js';
import { MAX_ASKS } from '../../../src/pulsar/quiet-partitions.js';
import { HistoryRecorder, monotonicMicros, registerContract, transportContract, uniqueName } from '../../../src/testing/index.js';
import { sleep, waitFor as waitUntil } from '../../helpers/index.js';
import { waitDrained } from '../websocket/helpers.js';

const serviceUrl = inject('pulsarServiceUrl');
const webUrl = inject('pulsarWebUrl');

/** What this suite uses of the pulsar-client module (typed here: the package may be absent). */
interface PulsarClientModule {
  readonly Client: new (config: {
    serviceUrl: string;
    operationTimeoutSeconds?: number;
    log?: (level: number, file: string, line: number, message: string) => void;
  }) => PulsarClientLike & { close(): Promise<unknown> };
}

async function loadPulsarClient(): Promise<PulsarClientModule | string> {
  if (serviceUrl === '') return `Pulsar unavailable (${inject('pulsarUnavailable') || 'no broker'})`;
  // A computed specifier: the type checker must not require the package, and neither may a bundler.
  const specifier = ['pulsar', 'client'].join('-');
  try {
    const imported = (await import(specifier)) as Partial<PulsarClientModule> & { default?: PulsarClientModule };
    const module = imported.default ?? (imported as PulsarClientModule);
    if (typeof module.Client !== 'function') return 'pulsar-client loaded but exports no Client';
    return module;
  } catch (error) {
    return `pulsar-client not installed: native addon unavailable here (${(error as Error).message.split('\n')[0]})`;
  }
}

const loaded = await loadPulsarClient();
const skip = typeof loaded === 'string' ? loaded : undefined;
if (skip !== undefined) process.stderr.write(`pulsar-client live suite skipped: ${skip}\n`);

let client: (PulsarClientLike & { close(): Promise<unknown> }) | undefined;
function liveClient(): PulsarClientLike {
  if (typeof loaded === 'string') throw new Error(loaded);
  client ??= new loaded.Client({
    serviceUrl,
    operationTimeoutSeconds: 30,
    // The C++ client logs every connection at INFO on stdout; keep errors only.
    log: (level, file, line, message) => {
      if (level >= 3) process.stderr.write(`[pulsar-client] ${file}:${line} ${message}\n`);
    },
  });
  return client;
}

const topics: string[] = [];
afterAll(async () => {
  if (skip !== undefined) return;
  const admin = pulsarAdmin(webUrl);
  await Promise.allSettled(topics.map((t) => admin.deleteTopic(t, { force: true })));
  await client?.close();
});

/** `waitFor` with a longer default: a broker on a shared machine can be slow. */
const waitFor = (what: string, predicate: () => boolean, timeoutMs = 15_000): Promise<void> => waitUntil(what, predicate, timeoutMs);

if (skip !== undefined) {
  describe('pulsar-client transport on a live broker', () => {
    it.skip(`skipped: ${skip}`, () => undefined);
  });
} else {
  registerContract(
    'pulsar-client transport contract (live broker, native client)',
    transportContract(() => pulsarClientTransport({ client: liveClient() }), {
      cleanup: (transport) => transport.close?.() ?? Promise.resolve(),
      nackRedeliveryDelayMs: 200,
    }),
    { describe, it },
  );

  describe('pulsar-client transport on a live broker', () => {
    it('notices a dropped connection (topic unload), declares its deliveries lost, and receives them again', async () => {
      const transport = pulsarClientTransport({ client: liveClient(), connectionCheckIntervalMs: 10 });
      const topic = uniqueName('native-unload');
      topics.push(topic);
      const deliveries: Delivery[] = [];
      const errors: string[] = [];
      let lost = 0;
      try {
        await transport.subscribe({
          topic,
          subscription: 'unload',
          consumerName: uniqueName('c'),
          type: 'key-shared',
          initialPosition: 'earliest',
          receiverQueueSize: 100,
          deadLetterTopic: defaultDeadLetterTopic(topic, 'unload'),
          onMessages: (batch) => deliveries.push(...batch),
          onError: (error) => errors.push(error.message),
          onDeliveriesLost: () => {
            lost += 1;
          },
        });
        const producer = await transport.createProducer(topic);
        for (let i = 0; i < 5; i++) await producer.send({ data: new TextEncoder().encode(String(i)), partitionKey: `k${i}` });
        await producer.close();
        await waitFor('5 deliveries', () => deliveries.length >= 5);
        const before = deliveries.splice(0);
        const response = await fetch(`${webUrl}/admin/v2/persistent/public/default/${topic}/unload`, { method: 'PUT' });
        expect(response.status).toBeLessThan(300);
        await waitFor('the loss noticed', () => lost >= 1);
        expect(errors.some((m) => /lost its connection/.test(m))).toBe(true);
        await expect(Promise.resolve(before[0]?.ack())).rejects.toThrow(/is gone/);
        await waitFor('5 deliveries again', () => new Set(deliveries.map((d) => d.id)).size >= 5);
        expect(new Set(deliveries.map((d) => d.id))).toEqual(new Set(before.map((d) => d.id)));
        for (const d of deliveries) await d.ack();
      } finally {
        await transport.close();
      }
    }, 60_000);

    it('Failover, partitions gone quiet: each asked for again while quiet, at most MAX_ASKS times, and the broker redelivers nothing acknowledged', async () => {
      // The real client, counting the negative acknowledgements its consumers are asked for.
      const real = liveClient();
      let nacks = 0;
      const counting: PulsarClientLike = {
        subscribe: async (config) => {
          const consumer = await real.subscribe(config);
          const nack: typeof consumer.negativeAcknowledge = (message) => {
            nacks += 1;
            consumer.negativeAcknowledge(message);
          };
          // The native object's methods are read-only: a proxy stands in for it.
          return new Proxy(consumer, {
            get: (target, property) => {
              if (property === 'negativeAcknowledge') return nack;
              const value: unknown = Reflect.get(target, property);
              return typeof value === 'function' ? value.bind(target) : value;
            },
          });
        },
        createProducer: (config) => real.createProducer(config),
      };
      const transport = pulsarClientTransport({ client: counting, failoverRedeliverAfterMs: 150 });
      const topic = uniqueName('native-quiet');
      topics.push(topic);
      expect(await pulsarAdmin(webUrl).createPartitionedTopic(topic, 2)).toBe(true);
      const deliveries: Delivery[] = [];
      const errors: string[] = [];
      try {
        const subscription = await transport.subscribe({
          topic,
          subscription: 'quiet',
          consumerName: uniqueName('c'),
          type: 'failover',
          initialPosition: 'earliest',
          receiverQueueSize: 100,
          nackRedeliveryDelayMs: 100,
          deadLetterTopic: defaultDeadLetterTopic(topic, 'quiet'),
          onMessages: (batch) => deliveries.push(...batch),
          onError: (error) => errors.push(error.message),
          onDeliveriesLost: () => undefined,
        });
        const producer = await transport.createProducer(topic);
        await Promise.all(Array.from({ length: 20 }, (_, i) => producer.send({ data: new TextEncoder().encode(String(i)), partitionKey: `k${i}` })));
        await producer.close();
        await waitFor('20 deliveries', () => deliveries.length >= 20);
        expect(new Set(deliveries.map((d) => d.topic)).size).toBe(2);
        for (const d of deliveries) await d.ack();
        await waitFor(`${MAX_ASKS} requests per partition`, () => nacks === 2 * MAX_ASKS);
        await sleep(1500); // the client's nack delay, the broker's rewind, a margin
        expect(nacks).toBe(2 * MAX_ASKS); // no more this quiet spell
        expect(deliveries).toHaveLength(20);
        expect(new Set(deliveries.map((d) => d.id)).size).toBe(20);
        expect(errors).toEqual([]);
        await subscription.close();
      } finally {
        await transport.close();
      }
    }, 60_000);

    it('key-shared, 3 exclusive consumers: exclusive, nothing lost, in order; failing events dead-lettered with the reason', async () => {
      type Event = { readonly key: string; readonly seq: number; readonly fail?: boolean };
      const transport = pulsarClientTransport({ client: liveClient() });
      const topic = uniqueName('native-ks');
      const subscription = 'native-e2e';
      const dlqTopic = defaultDeadLetterTopic(topic, subscription);
      topics.push(topic, dlqTopic);
      const recorder = new HistoryRecorder<Event>({ seqOf: (e) => e.seq });
      const deadLettered = new Set<string>();
      const errors: string[] = [];
      const consumers: ExclusiveConsumer[] = [];
      try {
        for (const name of ['c1', 'c2', 'c3']) {
          const consumer = createExclusiveConsumer<Event>(
            topic,
            (e) => e.key,
            async (e) => {
              if (e.fail === true) throw new Error(`handler refuses ${e.seq}`);
              await sleep(1 + (e.seq % 4));
            },
            {
              transport,
              mode: 'key-shared',
              subscription,
              consumerName: `${name}-${uniqueName('native')}`,
              initialPosition: 'earliest',
              privacy: { errorMessages: true },
              maxConcurrency: 50,
              maxInFlight: 200,
              retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 50 },
              nackRedeliveryDelayMs: 200,
              stopTimeoutMs: 5000,
              middleware: [recorder.middleware()],
            },
          );
          consumer.on('message.dead-lettered', ({ messageId }) => deadLettered.add(messageId));
          consumer.on('error', ({ error, phase }) => errors.push(`${name} ${phase}: ${error.message}`));
          consumers.push(consumer);
        }
        await Promise.all(consumers.map((c) => c.start()));
        const events: Event[] = Array.from({ length: 600 }, (_, seq) => ({ key: `k${seq % 40}`, seq, ...(seq % 97 === 50 ? { fail: true } : {}) }));
        const failing = events.filter((e) => e.fail === true);
        const producer = createProducer<Event>({ transport, topic, key: (e) => e.key });
        await Promise.all(events.map((e) => producer.send(e)));
        await producer.close();

        // The end of the run is the broker's (everything acknowledged); loss is read from the history.
        await waitDrained(webUrl, topic, subscription, 45_000);
        await Promise.all(consumers.map((c) => c.stop({ timeoutMs: 5000 })));

        const report = recorder.check({
          published: events.map((e) => ({ key: e.key, seq: e.seq })),
          deadLettered: failing.map((e) => e.seq),
          endOfHistory: monotonicMicros(),
        });
        const cross = report.overlaps.filter((o) => !o.sameConsumer).length;
        console.log(
          `[pulsar-client key-shared] runs=${report.runs} overlaps=${report.overlaps.length} (across consumers ${cross}) ` +
            `orderViolations=${report.orderViolations.length} lost=${report.lost.length} duplicates=${report.duplicates.length} ` +
            `consumers=${new Set(recorder.runs.map((r) => r.consumer)).size}`,
        );
        expect(report.open).toEqual([]);
        expect(report.overlaps).toEqual([]);
        expect(report.lost).toEqual([]);
        expect(report.orderViolations).toEqual([]);
        expect(deadLettered.size).toBe(failing.length);
        expect(new Set(recorder.runs.map((r) => r.consumer)).size).toBe(3);
        expect(errors).toEqual([]);

        // The dead letters were retained by the subscription created before the first one.
        const letters: Delivery[] = [];
        const reader = await transport.subscribe({
          topic: dlqTopic,
          subscription,
          consumerName: uniqueName('dlq-reader'),
          type: 'shared',
          initialPosition: 'earliest',
          receiverQueueSize: 100,
          deadLetterTopic: defaultDeadLetterTopic(dlqTopic, subscription),
          onMessages: (batch) => letters.push(...batch),
        });
        await waitFor(`${failing.length} dead letters`, () => letters.length >= failing.length);
        await sleep(300);
        for (const d of letters) await d.ack();
        await reader.close();
        const decoder = new TextDecoder();
        expect(new Set(letters.map((d) => (JSON.parse(decoder.decode(d.data)) as Event).seq))).toEqual(new Set(failing.map((e) => e.seq)));
        for (const d of letters) {
          expect(d.properties[DeadLetterProperties.code]).toBeTruthy();
          expect(d.properties[DeadLetterProperties.reason]).toMatch(/handler refuses/);
          expect(d.properties[DeadLetterProperties.attempts]).toBe('3');
          expect(d.partitionKey).toMatch(/^k\d+$/);
        }
      } finally {
        await Promise.allSettled(consumers.map((c) => c.stop({ timeoutMs: 5000 })));
        await transport.close();
      }
    }, 90_000);
  });
}
