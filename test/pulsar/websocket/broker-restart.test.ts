/**
 * Scenario 4: the broker restarts mid-run. A dedicated Pulsar standalone (its own data directory
 * and free ports, started and stopped by this file through scripts/pulsar/pulsar.sh) so that the
 * shared dev broker is never disturbed. The three generations run side by side on it, three
 * consumers each, while a producer keeps publishing; the broker is restarted in the middle. The
 * consumers must reconnect by themselves, and every event must be handled, none twice at once.
 *
 * Skips, saying why, when Pulsar is unavailable or the dedicated broker cannot start; in CI (`CI`
 * set) a dedicated broker that does not start fails the test instead, so the scenario cannot
 * silently stop running there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducer, type ConsumerMode, type Producer } from '../../../src/index.js';
import { monotonicMicros } from '../../../src/testing/index.js';
import { brokerCommand, inCi, startDedicatedBroker, stopDedicatedBroker, type DedicatedBroker } from '../dedicated-broker.js';
import { Fleet, closeRedis, summary, type Event } from './fleet.js';
import { skipReason, sleep } from './helpers.js';

const MODES: readonly ConsumerMode[] = ['shared-locked', 'failover', 'key-shared'];
const EVENTS = 1200;

let broker: DedicatedBroker | undefined;
let unavailable = skipReason();
/** Why the dedicated broker did not start, when Pulsar is there but it did not. */
let startFailure: string | undefined;

beforeAll(async () => {
  if (unavailable !== undefined) return;
  const started = await startDedicatedBroker('ec-pulsar-restart');
  if ('failure' in started) {
    startFailure = started.failure;
    unavailable = startFailure;
    process.stderr.write(`skipping the broker-restart test: ${unavailable}\n`);
    return;
  }
  broker = started;
}, 200_000);

afterAll(async () => {
  await closeRedis();
  if (broker !== undefined) await stopDedicatedBroker(broker);
}, 60_000);

/** Send until the broker confirms: a send lost with its connection is sent again (at least once). */
async function sendSurely(producer: Producer<Event>, event: Event): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await producer.send(event);
      return;
    } catch (error) {
      if (attempt > 200) throw error;
      await sleep(100);
    }
  }
}

describe('broker restart mid-run (dedicated broker)', () => {
  it('consumers of all three generations reconnect after the restart, and nothing is lost', async (ctx) => {
    if (broker === undefined) {
      if (inCi && startFailure !== undefined) throw new Error(`In CI the broker-restart scenario must run: ${startFailure}`);
      ctx.skip(unavailable ?? 'no dedicated broker');
      return;
    }
    const url = broker.url;
    const fleets = MODES.map((mode) => new Fleet(mode, async (e) => sleep(1 + (e.seq % 3)), {}, 'restart', url));
    const transportErrors: string[] = [];
    try {
      for (const fleet of fleets) await fleet.createTopic();
      await Promise.all(fleets.map((f) => f.start(['c1', 'c2', 'c3'])));
      for (const f of fleets) for (const c of f.consumers.values()) c.on('error', ({ error }) => transportErrors.push(error.message));
      const events: Event[] = [];
      for (let i = 0; i < EVENTS; i++) events.push({ key: `k${i % 50}`, seq: i });
      const producers = fleets.map((f) => createProducer<Event>({ transport: f.transport, topic: f.topic, key: (e) => e.key }));

      let restart: Promise<{ code: number | null; output: string }> | undefined;
      const began = Date.now();
      // 40 slices; the restart is launched after the 15th and the publishing goes on through it.
      for (let slice = 0; slice < 40; slice++) {
        if (slice === 15) restart = brokerCommand(broker, 'restart');
        const batch = events.slice(slice * 30, slice * 30 + 30);
        await Promise.all(producers.flatMap((p) => batch.map((e) => sendSurely(p, e))));
        await sleep(50);
      }
      const restarted = await restart;
      expect(restarted?.code, restarted?.output).toBe(0);
      const publishedIn = Date.now() - began;

      const handled = (f: Fleet): number => new Set(f.recorder.runs.filter((r) => r.ok).map((r) => r.seq)).size;
      try {
        // The end of the run is the broker's (everything acknowledged); loss is read from the history.
        await Promise.all(fleets.map((f) => f.drained(90_000)));
      } catch (error) {
        const state = fleets.map((f) => `${f.mode}: ${handled(f)}/${EVENTS} handled, ${JSON.stringify([...f.consumers.values()].map((c) => c.stats().state))}`);
        throw new Error(`${(error as Error).message}\n${state.join('\n')}\nerrors: ${transportErrors.slice(-10).join(' | ')}`);
      }
      await Promise.all(producers.map((p) => p.close()));
      for (const f of fleets) await f.stopAll();

      const lines: string[] = [`published ${EVENTS} events per generation in ${publishedIn} ms across the restart`];
      const end = monotonicMicros();
      for (const f of fleets) {
        const report = f.recorder.check({ published: events.map((e) => ({ key: e.key, seq: e.seq })), endOfHistory: end });
        lines.push(summary(f.mode, 'broker restart', report));
        expect(report.lost).toEqual([]);
        expect(report.overlaps).toEqual([]);
      }
      console.log(lines.join('\n'));
      // The consumers saw the connection go and come back.
      expect(transportErrors.some((m) => /lost its connection/.test(m))).toBe(true);
    } finally {
      await Promise.allSettled(fleets.map((f) => f.close()));
    }
  }, 240_000);
});

