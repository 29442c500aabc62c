/**
 * Strict exclusivity on a live broker: `key-shared` and `failover` with a `lock`. The membership
 * changes of the generations test (a consumer joins, another one's connection drops while its
 * handlers stall) open windows in which the broker hands a key to a new consumer while the old one
 * still runs it — measured there, without a lock. With the lock, the new owner waits for the key's
 * lease: checked from the recorded history, no two runs of a key overlap, across consumers too.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createProducer, type ConsumerMode } from '../../../src/index.js';
import { pulsarAdmin } from '../../../src/pulsar/index.js';
import { redisLock } from '../../../src/redis/index.js';
import { monotonicMicros, uniqueName } from '../../../src/testing/index.js';
import { Fleet, closeRedis, createdTopics, summary, type Event } from './fleet.js';
import { skipReason, sleep, webUrl } from './helpers.js';

const skip = skipReason();
const redis = skip === undefined ? new Redis(inject('redisUrl'), { maxRetriesPerRequest: 2 }) : undefined;
const prefixes: string[] = [];

afterAll(async () => {
  await closeRedis();
  for (const prefix of prefixes) {
    const keys = await (redis as Redis).keys(`${prefix}*`);
    if (keys.length > 0) await (redis as Redis).del(...keys);
  }
  redis?.disconnect();
  if (skip !== undefined) return;
  const admin = pulsarAdmin(webUrl);
  await Promise.allSettled(createdTopics.filter((t) => t.url === webUrl).map((t) => admin.deleteTopic(t.topic, { force: true })));
});

describe.skipIf(skip !== undefined)('strict exclusivity: a lock in a broker-routed mode (live broker)', () => {
  for (const mode of ['key-shared', 'failover'] as const satisfies readonly ConsumerMode[]) {
    it(`${mode}: a join and a dropped connection with handlers stalled across them overlap no run`, async () => {
      const prefix = `${uniqueName('ec-strict')}:`;
      prefixes.push(prefix);
      const stalled = new Set<number>();
      const fleet = new Fleet(
        mode,
        async (event) => {
          const stallMs = event.stallMs !== undefined && !stalled.has(event.seq) ? event.stallMs : 0;
          if (stallMs > 0) stalled.add(event.seq);
          await sleep(stallMs > 0 ? stallMs : 2 + (event.seq % 7));
        },
        { lock: redisLock(redis as Redis, { prefix }), lease: { ttlMs: 5000, retryDelayMs: 5 } },
        'strict',
        webUrl,
      );
      try {
        await fleet.createTopic();
        await fleet.start(['c1', 'c2', 'c3']);
        const events: Event[] = [];
        const stallOf = (i: number): number | undefined => (i >= 270 && i < 300 ? 1500 : i >= 570 && i < 600 ? 400 : undefined);
        for (let i = 0; i < 900; i++) {
          const stallMs = stallOf(i);
          events.push({ key: `k${i % 60}`, seq: i, ...(stallMs === undefined ? {} : { stallMs }) });
        }
        const producer = createProducer<Event>({ transport: fleet.transport, topic: fleet.topic, key: (e) => e.key });
        for (let slice = 0; slice < 30; slice++) {
          if (slice === 10) await fleet.add('c0').start();
          if (slice === 20) {
            fleet.cut('c2');
            void fleet.consumers.get('c2')?.stop({ timeoutMs: 5000 });
          }
          await Promise.all(events.slice(slice * 30, slice * 30 + 30).map((e) => producer.send(e)));
          await sleep(50);
        }
        await producer.close();
        await fleet.drained(60_000);
        await fleet.stopAll();
        const report = fleet.recorder.check({ published: events.map((e) => ({ key: e.key, seq: e.seq })), endOfHistory: monotonicMicros() });
        console.log(summary(mode, 'membership change, strict (lock)', report));
        expect(report.lost).toEqual([]);
        expect(report.overlaps).toEqual([]);
        // The stalls ran across the changes: the windows were there to be closed.
        expect(fleet.recorder.runs.some((r) => r.seq !== undefined && r.seq >= 270 && r.seq < 300 && r.end !== undefined && r.end - r.start >= 1_400_000)).toBe(true);
      } finally {
        await fleet.close();
      }
    }, 120_000);
  }
});
