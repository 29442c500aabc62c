/**
 * Churn on the embedded broker: three consumers in one process under every fault of the kit —
 * unloads, dropped connections (one replaced at once, one after a backoff), lost acknowledgements,
 * a pause of dispatch and a broker restart — while events are published at a steady rate. Checked
 * from the recorded history and the fenced state, as the live-broker churn test
 * (test/pulsar/churn/churn.test.ts) is; repeats and drain time are printed.
 */
import { describe, expect, it } from 'vitest';
import { runMemoryChurn, type MemoryChurnResult, type MemoryFault } from './churn.js';

const MIXED: readonly MemoryFault[] = [
  { atMs: 200, do: 'unload' },
  { atMs: 450, do: 'drop', consumer: 1 },
  { atMs: 700, do: 'lose-acks', forMs: 150 },
  { atMs: 1050, do: 'pause', forMs: 200 },
  { atMs: 1400, do: 'restart', downMs: 200 },
  { atMs: 1800, do: 'drop', consumer: 2, reconnectDelayMs: 0 },
  { atMs: 2000, do: 'unload' },
];

function line(label: string, r: MemoryChurnResult): string {
  return (
    `[memory churn ${label}] runs=${r.runs} lost=${r.report.lost.length} order=${r.report.orderViolations.length} ` +
    `overlaps=${r.report.overlapCount} (same consumer ${r.report.sameConsumerOverlapCount}) repeats=${r.repeatedRuns} ` +
    `(elsewhere ${r.repeatedElsewhere}) fenced missing/dup/out-of-order=${r.fenced.missing}/${r.fenced.duplicated}/${r.fenced.outOfOrder} ` +
    `skipped=${r.stats.map((s) => s.repeatsSkipped).join('+')} drain=${r.drainMs} ms`
  );
}

describe('churn on the embedded broker, under the fault kit', () => {
  for (const mode of ['key-shared', 'failover', 'shared-locked'] as const) {
    it(`${mode}: unloads, dropped connections, lost acks, a dispatch pause and a restart`, async () => {
      const r = await runMemoryChurn({
        mode,
        events: 4000,
        ratePerSecond: 2000,
        keys: 200,
        partitions: 4,
        consumers: 3,
        handlerMs: 2,
        faults: MIXED,
        drainTimeoutMs: 20_000,
      });
      console.log(line(mode, r));
      expect(r.report.lost).toEqual([]);
      expect(r.fenced.missing, r.fenced.examples.join('\n')).toBe(0);
      expect(r.fenced.duplicated, r.fenced.examples.join('\n')).toBe(0);
      expect(r.report.sameConsumerOverlapCount).toBe(0);
      expect(r.drainMs).toBeLessThan(20_000);
      // The faults did bring messages back: run again, or recognised and acknowledged.
      expect(r.repeatedRuns + r.stats.reduce((n, s) => n + s.repeatsSkipped, 0)).toBeGreaterThan(0);
      // Repeats are work done again, never wrong state: bounded by the messages the faults had out.
      expect(r.repeatedRuns).toBeLessThanOrEqual(100 * MIXED.length);
      if (mode !== 'shared-locked') {
        // Shared spreads a key's events over consumers: order is not promised there.
        expect(r.report.orderViolations.slice(0, 3)).toEqual([]);
        expect(r.fenced.outOfOrder, r.fenced.examples.join('\n')).toBe(0);
      }
    }, 60_000);
  }
});
