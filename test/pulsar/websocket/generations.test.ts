/**
 * The article's three generations on a real Pulsar broker over the WebSocket transport:
 * `shared-locked` (Shared + the Redis lease lock with fencing tokens), `failover` (a partitioned
 * topic) and `key-shared`, each with at least three consumers, checked from a recorded history.
 * Fencing tokens of the broker-routed modes come from the Redis token source; fenced writes go
 * through `MemoryFencedStore` with `updateFenced`.
 *
 * 1+3+5. A steady run: no overlapping runs per key, nothing lost, per-key order (not promised by
 *        `shared-locked`, whose Shared subscription spreads a key over consumers: reported only);
 *        failing handlers retried then dead-lettered, undecodable payloads and missing keys
 *        dead-lettered with the reason; Shared + a key locked elsewhere: negative acks, redeliveries,
 *        then the broker's own dead-lettering after `maxRedeliverCount`.
 * 2.     A consumer joins and another one's connection drops mid-stream (its handlers still
 *        running), with stalls past the lease: overlaps without fencing are measured and printed;
 *        with fencing tokens, no stale write is accepted and every event's write lands.
 *        `EC_DEBUG_WINDOWS=1` prints when each run of the stalled events ran, by consumer.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { DeadLetterProperties, MemoryFencedStore, createProducer, isStaleTokenError, updateFenced, type ConsumerMode } from '../../../src/index.js';
import { type Delivery } from '../../../src/adapters.js';
import { pulsarAdmin } from '../../../src/pulsar/index.js';
import { monotonicMicros, type PublishedEvent } from '../../../src/testing/index.js';
import { Fleet, closeRedis, createdTopics, publishAll, summary, type Event } from './fleet.js';
import { skipReason, sleep, webUrl } from './helpers.js';

const skip = skipReason();
const MODES: readonly ConsumerMode[] = ['shared-locked', 'failover', 'key-shared'];
const encoder = new TextEncoder();
const decoder = new TextDecoder();

afterAll(async () => {
  await closeRedis();
  if (skip !== undefined) return;
  const admin = pulsarAdmin(webUrl);
  await Promise.allSettled(createdTopics.filter((t) => t.url === webUrl).map((t) => admin.deleteTopic(t.topic, { force: true })));
});

describe.skipIf(skip !== undefined)('three generations on a live Pulsar broker (WebSocket transport)', () => {
  describe.each(MODES)('%s', (mode) => {
    it('steady run, 3 consumers: exclusive, nothing lost, in order; failures, undecodable payloads and missing keys dead-lettered with the reason', async () => {
      const fleet = new Fleet(
        mode,
        async (event) => {
          if (event.fail === true) throw new Error(`handler refuses ${event.seq}`);
          await sleep(1 + (event.seq % 4));
        },
        { privacy: { errorMessages: true } },
        'gen',
        webUrl,
      );
      try {
        await fleet.createTopic();
        await fleet.start(['c1', 'c2', 'c3']);
        const events: Event[] = [];
        for (let i = 0; i < 600; i++) events.push({ key: `k${i % 40}`, seq: i, ...(i % 97 === 50 ? { fail: true } : {}) });
        await publishAll(fleet.transport, fleet.topic, events);
        const raw = await fleet.transport.createProducer(fleet.topic);
        await raw.send({ data: encoder.encode('{not json'), partitionKey: 'k1', properties: { poison: 'decode' } });
        await raw.send({ data: encoder.encode('{"seq":9999}'), partitionKey: 'k2', properties: { poison: 'key' } });
        await raw.close();
        const failing = events.filter((e) => e.fail === true);

        // The end of the run is the broker's: everything acknowledged. Loss is read from the history.
        await fleet.drained(30_000);
        await fleet.stopAll();

        const published: PublishedEvent[] = events.map((e) => ({ key: e.key, seq: e.seq }));
        const report = fleet.recorder.check({ published, deadLettered: failing.map((e) => e.seq), endOfHistory: monotonicMicros() });
        console.log(summary(mode, 'steady', report));
        expect(report.open).toEqual([]);
        expect(report.overlaps).toEqual([]);
        expect(report.lost).toEqual([]);
        expect(fleet.deadLettered.size).toBe(failing.length + 2);
        // Shared spreads one key's messages over consumers: the lock makes runs exclusive, not ordered.
        if (mode !== 'shared-locked') expect(report.orderViolations).toEqual([]);
        expect(fleet.errors).toEqual([]);

        const letters = await fleet.readDeadLetters(failing.length + 2);
        const byCode = new Map<string, Delivery[]>();
        for (const d of letters) {
          const code = d.properties[DeadLetterProperties.code] ?? '?';
          byCode.set(code, [...(byCode.get(code) ?? []), d]);
        }
        const handlerLetters = letters.filter((d) => d.properties.poison === undefined);
        expect(new Set(handlerLetters.map((d) => (JSON.parse(decoder.decode(d.data)) as Event).seq))).toEqual(
          new Set(failing.map((e) => e.seq)),
        );
        for (const d of handlerLetters) {
          expect(d.properties[DeadLetterProperties.attempts]).toBe('3');
          expect(d.properties[DeadLetterProperties.reason]).toMatch(/handler refuses/);
        }
        const decode = letters.find((d) => d.properties.poison === 'decode');
        expect(decode?.properties[DeadLetterProperties.code]).toBe('EC_DECODE');
        expect(decode?.properties[DeadLetterProperties.reason]).toMatch(/json/i);
        const keyless = letters.find((d) => d.properties.poison === 'key');
        expect(keyless?.properties[DeadLetterProperties.code]).toBe('EC_KEY');
        expect(keyless?.properties[DeadLetterProperties.reason]).toMatch(/non-empty string/);
        expect(keyless?.properties[DeadLetterProperties.realTopic]).toMatch(new RegExp(fleet.topic));
      } finally {
        await fleet.close();
      }
    }, 60_000);

    it('a consumer joins and another one drops mid-stream: overlaps without fencing are measured; with fencing no stale write is accepted', async () => {
      const results: string[] = [];
      for (const fenced of [false, true]) {
        const plain = new Map<string, number[]>();
        const store = new MemoryFencedStore<number[]>();
        /** The store's current value per key, as returned by the accepted writes (highest version wins). */
        const current = new Map<string, { version: number; value: number[] }>();
        /** Every fenced write attempt, in the order it completed. */
        const writes: Array<{ key: string; token: number; accepted: boolean }> = [];
        const stalled = new Set<number>();
        let fleet: Fleet | undefined;
        const handler = async (event: Event, ctx: { key: string; fence: { token: number; owner: string } | undefined }): Promise<void> => {
          // A stall (a GC pause, a slow dependency) between reading the state and writing it, on the
          // first run of the events published around the membership changes. A paused process
          // renews no lease: in shared-locked the lease expires meanwhile (its Redis key is
          // deleted, as the server does at the TTL; the demo does the same with MemoryLock.expire).
          const stallMs = event.stallMs !== undefined && !stalled.has(event.seq) ? event.stallMs : 0;
          if (stallMs > 0) stalled.add(event.seq);
          const think = async (): Promise<void> => {
            if (stallMs === 0) return sleep(2 + (event.seq % 7));
            await sleep(stallMs / 2);
            if (mode === 'shared-locked') await fleet?.expireLease(ctx.key);
            await sleep(stallMs / 2);
          };
          if (!fenced) {
            const before = plain.get(event.key) ?? [];
            await think();
            plain.set(event.key, before.includes(event.seq) ? before : [...before, event.seq]);
            return;
          }
          const fence = ctx.fence;
          if (fence === undefined) throw new Error('a fence is configured');
          try {
            const record = await updateFenced(store, event.key, fence, async (s) => {
              await think();
              return s?.includes(event.seq) === true ? s : [...(s ?? []), event.seq];
            });
            if ((current.get(event.key)?.version ?? 0) < record.version) current.set(event.key, record);
            writes.push({ key: event.key, token: fence.token, accepted: true });
          } catch (error) {
            if (isStaleTokenError(error)) writes.push({ key: event.key, token: fence.token, accepted: false });
            throw error; // the engine gives the key's messages back to the broker
          }
        };
        fleet = new Fleet(
          mode,
          (e, ctx) => handler(e, ctx),
          {},
          fenced ? 'window-fenced' : 'window-naive',
          webUrl,
        );
        const f = fleet;
        f.fencingTokens = fenced;
        try {
          await f.createTopic();
          await f.start(['c1', 'c2', 'c3']);
          const events: Event[] = [];
          // The events published just before each change stall, so that they are still running when
          // it happens: slice 9 (1.5 s: past Failover's 1 s hand-over delay after c0 joins at slice
          // 10) and slice 19 (0.4 s: c2's connection drops at slice 20).
          const stallOf = (i: number): number | undefined => (i >= 270 && i < 300 ? 1500 : i >= 570 && i < 600 ? 400 : undefined);
          for (let i = 0; i < 900; i++) {
            const stallMs = stallOf(i);
            events.push({ key: `k${i % 60}`, seq: i, ...(stallMs === undefined ? {} : { stallMs }) });
          }
          // Published in slices over ~1.5 s; c0 (sorting first: every failover partition changes
          // hands) joins at a third, c2's connection drops at two thirds while its handlers run.
          const producer = createProducer<Event>({ transport: f.transport, topic: f.topic, key: (e) => e.key });
          const marks: Record<string, number> = {};
          for (let slice = 0; slice < 30; slice++) {
            if (slice === 10) {
              marks.join = monotonicMicros();
              await f.add('c0').start();
            }
            if (slice === 20) {
              marks.cut = monotonicMicros();
              f.cut('c2');
              void f.consumers.get('c2')?.stop({ timeoutMs: 5000 });
            }
            await Promise.all(events.slice(slice * 30, slice * 30 + 30).map((e) => producer.send(e)));
            await sleep(50);
          }
          await producer.close();
          const applied = (): number =>
            fenced
              ? events.filter((e) => current.get(e.key)?.value.includes(e.seq) === true).length
              : events.filter((e) => plain.get(e.key)?.includes(e.seq) === true).length;
          await f.drained(30_000);
          await f.stopAll();

          const report = f.recorder.check({ published: events.map((e) => ({ key: e.key, seq: e.seq })), endOfHistory: monotonicMicros() });
          if (process.env.EC_DEBUG_WINDOWS === '1') {
            const t0 = Math.min(...f.recorder.runs.map((r) => r.start));
            const rel = (t: number | undefined) => (t === undefined ? 'open' : ((t - t0) / 1000).toFixed(0));
            console.log(`[${mode}] fenced=${fenced} join@${rel(marks.join ?? 0)} cut@${rel(marks.cut ?? 0)} per consumer`, Object.fromEntries([...f.consumers.keys()].map((n) => [n, f.recorder.runs.filter((r) => r.consumer === n).length])));
            console.log(f.recorder.runs.filter((r) => r.seq !== undefined && ((r.seq >= 270 && r.seq < 285) || (r.seq >= 570 && r.seq < 585))).map((r) => `${r.seq}:${r.consumer}@${rel(r.start)}-${rel(r.end)}${r.ok ? '' : '!'}`).join(' '));
          }
          expect(report.lost).toEqual([]);
          expect(report.overlaps.filter((o) => o.sameConsumer)).toEqual([]);
          // The stalls around the changes make the windows: if none opened, the test did not test.
          expect(report.overlaps.some((o) => !o.sameConsumer)).toBe(true);
          if (!fenced) {
            const lostUpdates = events.filter((e) => plain.get(e.key)?.includes(e.seq) !== true).length;
            results.push(summary(mode, 'membership change, no fencing', report, { lostUpdates }));
          } else {
            // Zero stale writes accepted: per key, accepted tokens never go back.
            const highest = new Map<string, number>();
            const staleAccepted = writes.filter((w) => {
              if (!w.accepted) return false;
              const max = highest.get(w.key) ?? 0;
              highest.set(w.key, Math.max(max, w.token));
              return w.token < max;
            });
            expect(staleAccepted).toEqual([]);
            expect(store.rejected).toBeGreaterThan(0);
            expect(applied()).toBe(events.length);
            results.push(
              summary(mode, 'membership change, fencing tokens', report, {
                staleRejected: store.rejected,
                staleAccepted: staleAccepted.length,
              }),
            );
          }
          expect(f.errors).toEqual([]);
        } finally {
          await f.close();
        }
      }
      console.log(results.join('\n'));
    }, 90_000);
  });

  it('shared-locked, a key locked elsewhere: released with negative acks, redelivered, then dead-lettered by the broker after maxRedeliverCount', async () => {
    const fleet = new Fleet(
      'shared-locked',
      async () => undefined,
      { lease: { ttlMs: 10_000, whenBusy: 'release' }, deadLetter: { maxRedeliverCount: 2 } },
      'gen-dlq',
      webUrl,
    );
    try {
      // Another process holds the key's lease for the whole test.
      const held = await fleet.lock.tryAcquire('busy', 'elsewhere', 60_000);
      expect(held).toBeDefined();
      const released: number[] = [];
      await fleet.start(['c1', 'c2', 'c3']);
      for (const c of fleet.consumers.values()) c.on('message.released', () => released.push(1));
      await publishAll(fleet.transport, fleet.topic, [
        { key: 'busy', seq: 0 },
        { key: 'free', seq: 1 },
      ]);
      const letters = await fleet.readDeadLetters(1, 15_000);
      expect(letters).toHaveLength(1);
      const letter = letters[0] as Delivery;
      expect((JSON.parse(decoder.decode(letter.data)) as Event).key).toBe('busy');
      // Pulsar's own dead-letter properties: the broker (not the library) moved it.
      expect(letter.properties[DeadLetterProperties.realTopic]).toBe(fleet.transport.topicName(fleet.topic));
      expect(letter.properties[DeadLetterProperties.originMessageId]).toBeDefined();
      expect(letter.properties[DeadLetterProperties.code]).toBeUndefined();
      expect(released.length).toBe(3); // deliveries 0, 1 and 2, each released
      expect(fleet.recorder.runs.map((r) => r.key)).toEqual(['free']);
    } finally {
      await fleet.close();
    }
  }, 60_000);
});
