/**
 * The Failover transports' record of quiet partitions, tick by tick: when a partition is asked
 * for, how often, and what starts it over.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_ASKS, QuietPartitions } from '../../src/pulsar/quiet-partitions.js';

const TICKS = 3;

/** Sweep `n` times, returning at which of those sweeps (1-based) each message was asked for. */
function sweeps(quiet: QuietPartitions<number, string>, n: number): Array<[number, string]> {
  const asked: Array<[number, string]> = [];
  for (let i = 1; i <= n; i++) for (const m of quiet.sweep(TICKS)) asked.push([i, m]);
  return asked;
}

describe('QuietPartitions', () => {
  it('asks for a settled partition after the quiet time, again after twice, four times…, at most MAX_ASKS times', () => {
    const quiet = new QuietPartitions<number, string>();
    quiet.received(1, 'm1');
    quiet.settled(1);
    const asked = sweeps(quiet, 200);
    // Quiet for 3, 6, 12, 24 and 48 ticks: each request doubles the quiet time the next one needs.
    expect(asked).toEqual([
      [3, 'm1'],
      [6, 'm1'],
      [12, 'm1'],
      [24, 'm1'],
      [48, 'm1'],
    ]);
    expect(asked).toHaveLength(MAX_ASKS);
  });

  it('never asks for a partition with a message unsettled, and counts the quiet from its settlement', () => {
    const quiet = new QuietPartitions<number, string>();
    quiet.received(1, 'a');
    quiet.received(1, 'b');
    quiet.settled(1);
    expect(sweeps(quiet, 10)).toEqual([]);
    quiet.settled(1);
    expect(sweeps(quiet, 3)).toEqual([[3, 'b']]);
  });

  it('a delivery starts the spell over: the next request comes after the quiet time, for the newest message', () => {
    const quiet = new QuietPartitions<number, string>();
    quiet.received(1, 'a');
    quiet.settled(1);
    expect(sweeps(quiet, 7)).toEqual([
      [3, 'a'],
      [6, 'a'],
    ]);
    quiet.received(1, 'b');
    quiet.settled(1);
    expect(sweeps(quiet, 6)).toEqual([
      [3, 'b'],
      [6, 'b'],
    ]);
  });

  it('a held tick (nothing could be received) restarts every partition’s quiet time', () => {
    const quiet = new QuietPartitions<number, string>();
    quiet.received(1, 'a');
    quiet.settled(1);
    expect(sweeps(quiet, 2)).toEqual([]);
    quiet.hold();
    expect(sweeps(quiet, 2)).toEqual([]);
    expect(sweeps(quiet, 1)).toEqual([[1, 'a']]);
  });

  it('a new connection keeps the partitions seen: nothing of them unsettled, each asked for once quiet', () => {
    const quiet = new QuietPartitions<number, string>();
    quiet.received(1, 'a');
    quiet.received(2, 'b');
    quiet.settled(2);
    expect(sweeps(quiet, 100).map(([, m]) => m)).toEqual(['b', 'b', 'b', 'b', 'b']);
    // Partition 1's message went with the old connection; partition 2 had used up its requests.
    quiet.reset();
    expect(sweeps(quiet, 3)).toEqual([
      [3, 'a'],
      [3, 'b'],
    ]);
  });

  it('whatever the interleaving, a partition is asked for only when quiet, settled, and within its MAX_ASKS of the spell', () => {
    type Op = { op: 'received' | 'settled'; p: number } | { op: 'sweep' | 'hold' | 'reset' };
    // Mostly sweeps, so that partitions stay quiet long enough for their later requests.
    const op: fc.Arbitrary<Op> = fc.oneof(
      { arbitrary: fc.record({ op: fc.constantFrom('received' as const, 'settled' as const), p: fc.integer({ min: 0, max: 2 }) }), weight: 4 },
      { arbitrary: fc.constantFrom({ op: 'sweep' as const }), weight: 20 },
      { arbitrary: fc.constantFrom({ op: 'hold' as const }, { op: 'reset' as const }), weight: 1 },
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 100, maxLength: 400 }), (ops) => {
        const quiet = new QuietPartitions<number, string>();
        // A model of each partition: messages unsettled, ticks quiet, requests this spell, last message.
        const model = new Map<number, { unsettled: number; quiet: number; asks: number; last: string }>();
        let n = 0;
        for (const o of ops) {
          if (o.op === 'received') {
            const last = `m${n++}`;
            const m = model.get(o.p);
            model.set(o.p, { unsettled: (m?.unsettled ?? 0) + 1, quiet: 0, asks: 0, last });
            quiet.received(o.p, last);
          } else if (o.op === 'settled') {
            const m = model.get(o.p);
            if (m === undefined || m.unsettled === 0) continue; // only what was received settles
            m.unsettled -= 1;
            m.quiet = 0;
            quiet.settled(o.p);
          } else if (o.op === 'hold') {
            quiet.hold();
            for (const m of model.values()) m.quiet = 0;
          } else if (o.op === 'reset') {
            quiet.reset();
            for (const m of model.values()) Object.assign(m, { unsettled: 0, quiet: 0, asks: 0 });
          } else {
            const asked = quiet.sweep(TICKS);
            const expected: string[] = [];
            for (const m of model.values()) {
              m.quiet += 1;
              if (m.unsettled === 0 && m.asks < MAX_ASKS && m.quiet >= TICKS * 2 ** m.asks) {
                m.asks += 1;
                expected.push(m.last);
              }
            }
            expect(asked).toEqual(expected);
          }
        }
      }),
    );
  });
});
