/**
 * The article's path on a live subscription: `shared-locked` → `failover` → `key-shared`. Pulsar
 * lets a subscription have one type at a time, so each new fleet starts while the old one still
 * runs (its `start()` retries the broker's refusal, a `SubscriptionTypeConflictError`), and
 * subscribes once the old fleet has stopped. Every fleet holds the same Redis lock (strict
 * exclusivity in the broker-routed modes), so a key's lease is held across the cutover: checked
 * from the recorded history, no key ran twice at once and nothing was lost.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  createExclusiveConsumer,
  createProducer,
  isSubscriptionTypeConflictError,
  type ConsumerMode,
  type ExclusiveConsumer,
} from '../../../src/index.js';
import { pulsarAdmin, pulsarWebSocketTransport } from '../../../src/pulsar/index.js';
import { redisLock } from '../../../src/redis/index.js';
import { HistoryRecorder, monotonicMicros, uniqueName } from '../../../src/testing/index.js';
import { skipReason, sleep, waitDrained, waitFor, webUrl } from './helpers.js';

interface Event {
  readonly key: string;
  readonly seq: number;
}

const skip = skipReason();
const redis = skip === undefined ? new Redis(inject('redisUrl'), { maxRetriesPerRequest: 2 }) : undefined;
afterAll(() => redis?.disconnect());

describe.skipIf(skip !== undefined)('cutover between modes on a live subscription', () => {
  it('shared-locked → failover → key-shared: each new fleet waits for the old, the lease is held across, no key runs twice at once', async () => {
    const topic = uniqueName('cutover');
    const subscription = 'cutover';
    const prefix = `${uniqueName('ec-cutover')}:`;
    const admin = pulsarAdmin(webUrl);
    await admin.createPartitionedTopic(topic, 4);
    const transport = pulsarWebSocketTransport({ url: webUrl, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } });
    const lock = redisLock(redis as Redis, { prefix });
    const recorder = new HistoryRecorder<Event>({ seqOf: (e) => e.seq });
    const conflicts: string[] = [];
    const fleet = (mode: ConsumerMode, names: readonly string[]): ExclusiveConsumer[] =>
      names.map((name) => {
        const c = createExclusiveConsumer<Event>(topic, (e) => e.key, async (e) => sleep(2 + (e.seq % 4)), {
          transport,
          mode,
          subscription,
          consumerName: name,
          initialPosition: 'earliest',
          lock,
          lease: { ttlMs: 5000, retryDelayMs: 5 },
          startTimeoutMs: 30_000,
          middleware: [recorder.middleware()],
        });
        c.on('error', ({ phase, error }) => {
          if (phase === 'start' && isSubscriptionTypeConflictError(error)) conflicts.push(`${mode}:${name}`);
        });
        return c;
      });
    const producer = createProducer<Event>({ transport, topic, key: (e) => e.key });
    // Publishing goes on until the last fleet has run some of it, so that every fleet gets work
    // however slowly the machine runs each phase.
    const events: Event[] = [];
    let enough = false;
    const publishing = (async () => {
      for (let seq = 0; !enough || seq < 600; ) {
        const batch: Event[] = [];
        for (let i = 0; i < 25; i++, seq++) batch.push({ key: `k${seq % 100}`, seq });
        await Promise.all(batch.map((e) => producer.send(e)));
        events.push(...batch);
        await sleep(50);
      }
    })();
    const by = (p: string) => recorder.runs.filter((r) => r.consumer.startsWith(p)).length;
    try {
      const shared = fleet('shared-locked', ['s1', 's2']);
      await Promise.all(shared.map((c) => c.start()));
      await waitFor('the shared-locked fleet to run', () => by('s') > 20, 30_000);

      // The failover fleet starts while the shared one runs: the broker refuses it until the old one stops.
      const failover = fleet('failover', ['f1', 'f2']);
      const failoverStarted = Promise.all(failover.map((c) => c.start()));
      await sleep(500);
      await Promise.all(shared.map((c) => c.stop()));
      await failoverStarted;
      await waitFor('the failover fleet to run', () => by('f') > 20, 30_000);

      const keyShared = fleet('key-shared', ['k1', 'k2']);
      const keySharedStarted = Promise.all(keyShared.map((c) => c.start()));
      await sleep(500);
      await Promise.all(failover.map((c) => c.stop()));
      await keySharedStarted;
      await waitFor('the key-shared fleet to run', () => by('k') > 20, 30_000);
      enough = true;

      await publishing;
      await waitDrained(webUrl, topic, subscription, 60_000);
      await Promise.all(keyShared.map((c) => c.stop()));

      const report = recorder.check({ published: events, endOfHistory: monotonicMicros() });
      expect(conflicts.some((c) => c.startsWith('failover:'))).toBe(true);
      expect(conflicts.some((c) => c.startsWith('key-shared:'))).toBe(true);
      expect(report.overlaps).toEqual([]);
      expect(report.lost).toEqual([]);
    } finally {
      await producer.close().catch(() => undefined);
      await transport.close();
      await admin.deleteTopic(topic, { force: true }).catch(() => undefined);
      const keys = await (redis as Redis).keys(`${prefix}*`);
      if (keys.length > 0) await (redis as Redis).del(...keys);
    }
  }, 120_000);
});
