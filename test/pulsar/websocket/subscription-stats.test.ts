/**
 * The subscription's stats on the live broker (Pulsar 4.0): backlog, unacknowledged messages and
 * Key_Shared draining hashes through `pulsarAdmin().subscriptionStats()`, and the same as gauges
 * through `instrumentConsumer({ subscriptionStats })`, for a consumer whose handlers are stuck.
 */
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createExclusiveConsumer } from '../../../src/index.js';
import { MetricNames, instrumentConsumer } from '../../../src/otel/index.js';
import { pulsarAdmin, pulsarWebSocketTransport } from '../../../src/pulsar/index.js';
import { uniqueName } from '../../../src/testing/index.js';
import { gate, waitFor as waitUntil } from '../../helpers/index.js';
import { testMeter, total } from '../../otel/sdk.js';
import { publishAll, type Event } from './fleet.js';
import { skipReason, waitFor, webUrl } from './helpers.js';

const skip = skipReason();
const topics: string[] = [];

afterAll(async () => {
  if (skip !== undefined) return;
  const admin = pulsarAdmin(webUrl);
  await Promise.allSettled(topics.map((t) => admin.deleteTopic(t, { force: true })));
});

/** A raw Key_Shared consumer over WebSocket that receives and never acknowledges. */
async function rawConsumer(topic: string, subscription: string, name: string): Promise<WebSocket> {
  const ws = webUrl.replace(/^http/, 'ws');
  const socket = new WebSocket(
    `${ws}/ws/v2/consumer/persistent/public/default/${topic}/${subscription}?subscriptionType=Key_Shared&consumerName=${name}`,
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return socket;
}

describe.skipIf(skip !== undefined)('subscription stats on a live Pulsar broker', () => {
  it("reports a stuck Key_Shared consumer's backlog and draining hashes, per subscription and per consumer, summed over partitions", async () => {
    const topic = uniqueName('sub-stats');
    topics.push(topic);
    const admin = pulsarAdmin(webUrl);
    await admin.createPartitionedTopic(topic, 2);
    const transport = pulsarWebSocketTransport({ url: webUrl });
    const stuck = gate();
    const consumer = createExclusiveConsumer<Event>(topic, (e) => e.key, () => stuck.opened, {
      transport,
      subscription: 'decisions',
      consumerName: 'stuck-1',
      initialPosition: 'earliest',
      maxConcurrency: 100,
    });
    const { meterProvider, collect } = testMeter();
    const stopMetrics = instrumentConsumer(consumer, { meterProvider, subscriptionStats: { source: admin, intervalMs: 1000 } });
    let joined: WebSocket | undefined;
    try {
      await consumer.start();
      await publishAll(transport, topic, Array.from({ length: 200 }, (_, seq) => ({ key: `k${seq % 50}`, seq })));
      await waitFor('all 50 keys running', () => consumer.stats().running === 50);
      // Another consumer joins: the hashes moved to it wait for stuck-1's unacknowledged messages.
      joined = await rawConsumer(topic, 'decisions', 'joined-2');
      let stats = await admin.subscriptionStats(topic, 'decisions');
      for (let i = 0; i < 50 && !((stats?.drainingHashes ?? 0) > 0); i++) {
        await new Promise((r) => setTimeout(r, 100));
        stats = await admin.subscriptionStats(topic, 'decisions');
      }
      expect(stats).toBeDefined();
      expect(stats!.type).toBe('Key_Shared');
      expect(stats!.backlog).toBe(200);
      expect(stats!.unacked).toBeGreaterThanOrEqual(50);
      expect(stats!.drainingHashes).toBeGreaterThan(0);
      expect(stats!.drainingUnacked).toBeGreaterThan(0);
      // Two consumers on each of two partitions; by name, the stuck one holds every draining hash.
      expect(stats!.consumers).toBe(4);
      const own = stats!.consumerStats.find((c) => c.name === 'stuck-1');
      expect(own?.drainingHashes).toBe(stats!.drainingHashes);
      expect(stats!.consumerStats.find((c) => c.name === 'joined-2')?.drainingHashes).toBe(0);

      // The same through the poller, as gauges.
      await waitUntil('gauges', async () => {
        const m = await collect();
        return total(m, MetricNames.drainingHashes) > 0 && total(m, MetricNames.consumerDrainingHashes, { 'messaging.client.id': 'stuck-1' }) > 0;
      }, 10_000);
      const m = await collect();
      const sub = { 'messaging.destination.name': topic, 'messaging.destination.subscription.name': 'decisions' };
      expect(total(m, MetricNames.subscriptionBacklog, sub)).toBe(200);
      expect(total(m, MetricNames.drainingHashes, sub)).toBeGreaterThan(0);
      expect(total(m, MetricNames.subscriptionConsumers, sub)).toBe(4);
      expect(total(m, MetricNames.errors, { 'exclusive_consumer.error.phase': 'pulsar-stats' })).toBe(0);
      expect(total(m, MetricNames.oldestUnsettledAge, { 'messaging.client.id': 'stuck-1' })).toBeGreaterThan(0);
      expect(await admin.subscriptionStats(topic, 'no-such-subscription')).toBeUndefined();
    } finally {
      stuck.open();
      joined?.close();
      stopMetrics();
      await consumer.stop({ timeoutMs: 5000 });
      await transport.close();
    }
  });
});
