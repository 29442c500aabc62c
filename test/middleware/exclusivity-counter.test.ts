import { describe, expect, it } from 'vitest';
import {
  MemoryCounterStore,
  createExclusiveConsumer,
  exclusivityCounter,
  type ConsumerMode,
  type CounterStore,
  type Violation,
} from '../../src/index.js';
import type { RunOverlaps } from '../../src/adapters.js';
import type { HandlerContext } from '../../src/index.js';
import { publishEvents, sleep, waitFor, resourcesPerTest, type TestEvent } from '../helpers/index.js';

const { consumers, setup } = resourcesPerTest();

async function fleet(mode: ConsumerMode, store: CounterStore, onViolation?: (v: Violation) => void) {
  const { broker, topic } = setup();
  const counter = exclusivityCounter({ store, ...(onViolation ? { onViolation } : {}) });
  const cs = [0, 1, 2].map((i) =>
    createExclusiveConsumer<TestEvent>(topic, (e) => e.key, () => sleep(5), {
      transport: broker.transport(),
      mode,
      consumerName: `c${i}`,
      initialPosition: 'earliest',
      middleware: [counter],
    }),
  );
  consumers.push(...cs);
  await Promise.all(cs.map((c) => c.start()));
  const list: TestEvent[] = [];
  for (let i = 0; i < 60; i++) list.push({ key: `k${i % 2}`, seq: i });
  publishEvents(broker, topic, list);
  await waitFor('60 processed', () => cs.reduce((n, c) => n + c.stats().processed, 0) === 60, 5000);
  return cs;
}

describe('exclusivityCounter middleware', () => {
  it('reports violations when consumers of a shared subscription run one key at once', async () => {
    const store = new MemoryCounterStore();
    const seen: Violation[] = [];
    const cs = await fleet('shared', store, (v) => seen.push(v));
    const total = cs.reduce((n, c) => n + c.stats().violations, 0);
    expect(total).toBeGreaterThan(0);
    expect(seen).toHaveLength(total);
    expect(seen[0]).toMatchObject({ source: 'exclusivity-counter' });
    expect(seen.every((v) => v.concurrent >= 2 && /^k[01]$/.test(v.key))).toBe(true);
    expect(store.size).toBe(0);
  });

  it('counts no violation when the broker routes each key to one consumer', async () => {
    const store = new MemoryCounterStore();
    const cs = await fleet('key-shared', store);
    expect(cs.map((c) => c.stats().violations)).toEqual([0, 0, 0]);
    expect(store.size).toBe(0);
  });

  it('keeps processing when the store fails, reporting the error', async () => {
    const failing: CounterStore = {
      name: 'down',
      ttlMs: 3_000,
      increment: () => Promise.reject(new Error('store down')),
      renew: () => Promise.reject(new Error('store down')),
      decrement: () => Promise.reject(new Error('store down')),
    };
    const { broker, topic } = setup();
    const c = createExclusiveConsumer<TestEvent>(topic, (e) => e.key, () => undefined, {
      transport: broker.transport(),
      initialPosition: 'earliest',
      middleware: [exclusivityCounter({ store: failing })],
    });
    consumers.push(c);
    const phases: string[] = [];
    c.on('error', (e) => phases.push(e.phase));
    await c.start();
    publishEvents(broker, topic, [{ key: 'a', seq: 0 }]);
    await waitFor('processed', () => c.stats().processed === 1);
    expect(phases).toEqual(['exclusivity-counter:increment']);
  });

  it('rejects a store without the counter methods', () => {
    expect(() => exclusivityCounter({ store: {} as CounterStore })).toThrow(/`store.increment`/);
    expect(() => exclusivityCounter({ store: { increment: () => 0, decrement: () => 0 } as unknown as CounterStore })).toThrow(/`store.renew`/);
  });

  describe('sessions: the heartbeat of a middleware instance', () => {
    /** A context with what the middleware reads, recording what it reports. */
    function context(key: string, id: string) {
      const violations: Omit<Violation, 'messageId'>[] = [];
      const errors: string[] = [];
      const ctx = {
        key,
        message: { id },
        reportViolation: (v: Omit<Violation, 'messageId'>) => violations.push(v),
        reportError: (_: unknown, phase: string) => errors.push(phase),
      } as unknown as HandlerContext;
      return { ctx, violations, errors };
    }

    it('a run in progress reports an overlap at its next renewal, once; the run that started second reports nothing', async () => {
      const store = new MemoryCounterStore({ ttlMs: 60 });
      // Two instances: two sessions, as two processes sharing a Redis store would be.
      const [a, b] = [exclusivityCounter({ store }), exclusivityCounter({ store })];
      const long = context('k', 'long');
      const short = context('k', 'short');
      let endedLong = false;
      const running = a(long.ctx, () => sleep(300)).then(() => (endedLong = true));
      await sleep(30);
      await b(short.ctx, () => sleep(5));
      await waitFor('the overlap reported', () => long.violations.length > 0, 2000);
      expect(endedLong, 'reported by a renewal, before the run ended').toBe(false);
      await running;
      expect(long.violations).toEqual([{ key: 'k', concurrent: 2, source: 'exclusivity-counter' }]);
      expect(short.violations).toEqual([]);
      expect([...long.errors, ...short.errors]).toEqual([]);
      expect(store.size).toBe(0);
    });

    it('renews only runs older than half a heartbeat, and stops with the last run', async () => {
      const inner = new MemoryCounterStore({ ttlMs: 60 });
      const renewed: string[] = [];
      const store: CounterStore = {
        name: 'counting',
        ttlMs: 60,
        increment: (key, holder) => inner.increment(key, holder),
        renew: (key, holder) => {
          renewed.push(key);
          return inner.renew(key, holder);
        },
        decrement: (key, holder) => inner.decrement(key, holder),
      };
      const counter = exclusivityCounter({ store });
      await Promise.all([
        counter(context('long', '1').ctx, () => sleep(200)),
        ...Array.from({ length: 20 }, (_, i) => counter(context(`short-${i}`, `s${i}`).ctx, async () => undefined)),
      ]);
      expect(renewed.length).toBeGreaterThanOrEqual(3);
      expect(new Set(renewed)).toEqual(new Set(['long']));
      const count = renewed.length;
      await sleep(100);
      expect(renewed.length, 'no renewal once no run is open').toBe(count);
    });

    it('a run the store forgot is reported once as an error, not as a violation', async () => {
      const forgotten: RunOverlaps = { overlaps: 0, concurrent: 0, forgotten: true };
      const store: CounterStore = {
        name: 'amnesic',
        ttlMs: 30,
        increment: async () => 0,
        renew: async () => forgotten,
        decrement: async () => forgotten,
      };
      const run = context('k', 'm');
      await exclusivityCounter({ store })(run.ctx, () => sleep(120));
      expect(run.errors).toEqual(['exclusivity-counter:forgotten']);
      expect(run.violations).toEqual([]);
    });
  });
});
