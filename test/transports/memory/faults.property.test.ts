/**
 * Any sequence of the kit's faults, at any moment of a publishing run, in the broker-routed modes:
 * nothing is lost, each key's events complete in order, no consumer overlaps itself, and the fenced
 * state holds every event once and in order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runMemoryChurn, type MemoryFault } from './churn.js';

const fault: fc.Arbitrary<MemoryFault> = fc.oneof(
  fc.record({ atMs: fc.integer({ min: 0, max: 400 }), do: fc.constant('drop' as const), consumer: fc.nat(1), reconnectDelayMs: fc.constantFrom(0, 30) }),
  fc.record({ atMs: fc.integer({ min: 0, max: 400 }), do: fc.constant('unload' as const) }),
  fc.record({ atMs: fc.integer({ min: 0, max: 400 }), do: fc.constant('restart' as const), downMs: fc.integer({ min: 0, max: 80 }) }),
  fc.record({ atMs: fc.integer({ min: 0, max: 400 }), do: fc.constant('pause' as const), forMs: fc.integer({ min: 0, max: 80 }) }),
  fc.record({ atMs: fc.integer({ min: 0, max: 400 }), do: fc.constant('lose-acks' as const), forMs: fc.integer({ min: 0, max: 80 }) }),
);

describe('faults of the embedded broker, in any order (property)', () => {
  it('lose nothing, keep per-key order and fenced state exact in key-shared and failover', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('key-shared' as const, 'failover' as const),
        fc.array(fault, { minLength: 1, maxLength: 4 }).map((faults) => [...faults].sort((a, b) => a.atMs - b.atMs)),
        async (mode, faults) => {
          const r = await runMemoryChurn({
            mode,
            events: 400,
            ratePerSecond: 1000,
            keys: 20,
            partitions: 2,
            consumers: 2,
            handlerMs: 1,
            faults,
            drainTimeoutMs: 10_000,
          });
          expect(r.report.lost).toEqual([]);
          expect(r.report.sameConsumerOverlapCount).toBe(0);
          expect(r.report.orderViolations).toEqual([]);
          expect(r.fenced, r.fenced.examples.join('\n')).toMatchObject({ missing: 0, duplicated: 0, outOfOrder: 0 });
        },
      ),
      { numRuns: 12 },
    );
  }, 120_000);
});
