import { describe, expect, it } from 'vitest';
import {
  MemoryCounterStore,
  createExclusiveConsumer,
  exclusivityCounter,
  type ConsumerMode,
  type CounterStore,
  type Violation,
} from '../../src/index.js';
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
      increment: () => Promise.reject(new Error('store down')),
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
  });
});
