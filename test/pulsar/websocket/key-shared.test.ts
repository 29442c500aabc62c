/**
 * Key_Shared claims of the guarantees page, each on its own on the live broker (WebSocket
 * transport), so that a result has one cause:
 *
 * - a graceful join opens no window: a key moves only once its messages are acknowledged, so no two
 *   consumers run a key at once, nothing is lost or reordered;
 * - after a connection loss, the consumer starts none of the messages it still held (the broker
 *   already hands them to others), and the redelivered ones carry an unchanged redelivery count.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Transport } from '../../../src/index.js';
import type { Delivery, SubscribeOptions } from '../../../src/adapters.js';
import { pulsarAdmin } from '../../../src/pulsar/index.js';
import { monotonicMicros } from '../../../src/testing/index.js';
import { gate } from '../../helpers/index.js';
import { Fleet, closeRedis, createdTopics, publishAll, summary, type Event } from './fleet.js';
import { skipReason, sleep, waitFor, webUrl } from './helpers.js';

const skip = skipReason();

afterAll(async () => {
  await closeRedis();
  if (skip !== undefined) return;
  const admin = pulsarAdmin(webUrl);
  await Promise.allSettled(createdTopics.filter((t) => t.url === webUrl).map((t) => admin.deleteTopic(t.topic, { force: true })));
});

describe.skipIf(skip !== undefined)('key-shared on a live Pulsar broker', () => {
  it('a consumer joining gracefully opens no window: no overlap, nothing lost, in order, and keys did move to it', async () => {
    const fleet = new Fleet('key-shared', async (e) => sleep(e.stallMs ?? 1 + (e.seq % 4)), {}, 'ks-join', webUrl);
    try {
      await fleet.start(['c1', 'c2']);
      // The events published just before the join stall, so that their keys are still being
      // processed (their hashes draining) when c3 joins.
      const events: Event[] = Array.from({ length: 600 }, (_, seq) => ({
        key: `k${seq % 40}`,
        seq,
        ...(seq >= 270 && seq < 300 ? { stallMs: 300 } : {}),
      }));
      let joinedAt = 0;
      for (let slice = 0; slice < 20; slice++) {
        if (slice === 10) {
          joinedAt = monotonicMicros();
          await fleet.add('c3').start();
        }
        await publishAll(fleet.transport, fleet.topic, events.slice(slice * 30, slice * 30 + 30));
        await sleep(50);
      }
      await fleet.drained(30_000);
      await fleet.stopAll();

      const report = fleet.recorder.check({ published: events.map((e) => ({ key: e.key, seq: e.seq })), endOfHistory: monotonicMicros() });
      console.log(summary('key-shared', 'graceful join', report));
      expect(report.overlaps).toEqual([]);
      expect(report.orderViolations).toEqual([]);
      expect(report.lost).toEqual([]);
      expect(report.open).toEqual([]);
      expect(report.duplicates).toEqual([]);
      expect(fleet.errors).toEqual([]);
      // The join changed owners: some key run before it by c1 or c2 was run by c3 after it.
      const runs = fleet.recorder.runs;
      const moved = new Set(runs.filter((r) => r.consumer === 'c3').map((r) => r.key));
      const before = runs.filter((r) => r.start < joinedAt && moved.has(r.key));
      expect(before.length).toBeGreaterThan(0);
    } finally {
      await fleet.close();
    }
  }, 90_000);

  it('after a connection loss, none of the messages it still held is started; they come back with an unchanged redelivery count', async () => {
    /** Per consumer: connections declared lost so far; per delivery: how many had been lost when it arrived. */
    const losses = new Map<string, number>();
    const arrivedAfter = new WeakMap<object, number>();
    let fleet: Fleet | undefined;
    // The fleet's transport, noting which connection each delivery came on.
    const transport: Transport = {
      name: 'pulsar-ws',
      createProducer: (topic) => (fleet as Fleet).transport.createProducer(topic),
      subscribe: (options: SubscribeOptions) =>
        (fleet as Fleet).transport.subscribe({
          ...options,
          onMessages: (batch: readonly Delivery[]) => {
            for (const d of batch) arrivedAfter.set(d, losses.get(options.consumerName) ?? 0);
            options.onMessages(batch);
          },
          onDeliveriesLost: () => {
            losses.set(options.consumerName, (losses.get(options.consumerName) ?? 0) + 1);
            options.onDeliveriesLost?.();
          },
        }),
    };
    const firstRun = gate();
    let started = 0;
    const runs: Array<{ seq: number; arrivedAfter: number | undefined; lossesAtStart: number; redeliveryCount: number }> = [];
    fleet = new Fleet(
      'key-shared',
      async (e, ctx) => {
        runs.push({ seq: e.seq, arrivedAfter: arrivedAfter.get(ctx.message), lossesAtStart: losses.get('c1') ?? 0, redeliveryCount: ctx.message.redeliveryCount });
        started += 1;
        if (started === 1) await firstRun.opened;
      },
      // One run at a time: the rest of what arrives is held.
      { transport, maxConcurrency: 1 },
      'ks-loss',
      webUrl,
    );
    const f = fleet;
    try {
      await f.start(['c1']);
      const events: Event[] = Array.from({ length: 20 }, (_, seq) => ({ key: `k${seq % 5}`, seq }));
      await publishAll(f.transport, f.topic, events);
      const c1 = f.consumers.get('c1');
      await waitFor('messages held behind the first run', () => (c1?.stats().inFlight ?? 0) >= 10);
      f.cut('c1');
      await waitFor('the loss declared', () => losses.get('c1') === 1);
      firstRun.open();
      await f.drained(30_000);
      await f.stopAll();

      // The run under way at the loss came on the lost connection; every other run started on a
      // delivery of the connection it started on.
      expect(runs.filter((r) => r.arrivedAfter === 0)).toEqual([runs[0]]);
      expect(runs[0]?.lossesAtStart).toBe(0);
      expect(runs.filter((r) => r.arrivedAfter !== r.lossesAtStart)).toEqual([]);
      expect(runs.filter((r) => r.arrivedAfter === 1).length).toBeGreaterThanOrEqual(events.length);
      // Pulsar counts no redelivery for messages given back by a dropped connection.
      expect(runs.map((r) => r.redeliveryCount)).toEqual(runs.map(() => 0));
      const report = f.recorder.check({ published: events.map((e) => ({ key: e.key, seq: e.seq })), endOfHistory: monotonicMicros() });
      expect(report.lost).toEqual([]);
      expect(report.orderViolations).toEqual([]);
      expect(f.errors).toEqual([]);
    } finally {
      await f.close();
    }
  }, 60_000);
});
