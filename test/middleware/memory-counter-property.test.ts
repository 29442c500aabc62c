import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryCounterStore } from '../../src/middleware/exclusivity-counter/memory-store.js';

/**
 * Interleavings of runs of three processes on two keys, on a virtual clock: starts, ends, time
 * passing (live processes renew their runs as the middleware's heartbeat does), pauses, resumes and
 * crashes. Checked against what really happened: every overlap of two runs is reported exactly
 * once, by the run that was in progress, unless that run's process crashed before collecting it
 * (or paused longer than the store remembers runs); a crashed process's runs never make anyone
 * report; the in-progress counts follow the heartbeat; memory drains.
 */
const TTL = 30;
const RETAIN = 60;
const TICK = 10; // the heartbeat: a third of the TTL
const PROCESSES = 3;
const KEYS = ['k0', 'k1'] as const;

type Op =
  | { readonly op: 'start'; readonly p: number; readonly key: (typeof KEYS)[number] }
  | { readonly op: 'end'; readonly p: number; readonly pick: number }
  | { readonly op: 'advance'; readonly ticks: number }
  | { readonly op: 'pause' | 'resume' | 'crash'; readonly p: number };

const ops: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('start' as const), p: fc.nat(PROCESSES - 1), key: fc.constantFrom(...KEYS) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('end' as const), p: fc.nat(PROCESSES - 1), pick: fc.nat(5) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('advance' as const), ticks: fc.integer({ min: 1, max: 12 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('pause' as const, 'resume' as const, 'crash' as const), p: fc.nat(PROCESSES - 1) }) },
);

interface Run {
  readonly holder: string;
  readonly key: string;
  readonly p: number;
  /** When its entry was last written (start or renewal), on the virtual clock. */
  written: number;
  /** Overlaps that really happened on this run and that it has not yet reported. */
  pending: number;
  forgotten: boolean;
}

describe('MemoryCounterStore: interleavings of start, end, renew, pause and crash', () => {
  it('reports every overlap once, by the run in progress, and nothing on behalf of a crashed process', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(ops, { maxLength: 60 }), async (script) => {
        let now = 0;
        const store = new MemoryCounterStore({ ttlMs: TTL, retainMs: RETAIN, now: () => now });
        const state: ('alive' | 'paused' | 'crashed')[] = Array.from({ length: PROCESSES }, () => 'alive');
        const open: Run[] = [];
        let holders = 0;
        let realOverlaps = 0; // pairs (in progress, started) that really overlapped
        let lostToCrash = 0; // of those, not reported because the run in progress crashed first
        let lostToOblivion = 0; // or because its pause outlasted the store's memory
        let reported = 0;

        const collect = (run: Run, overlaps: { overlaps: number; concurrent: number; forgotten: boolean }): void => {
          if (run.forgotten) {
            expect(overlaps.forgotten).toBe(true);
            return;
          }
          expect(overlaps.forgotten).toBe(false);
          expect(overlaps.overlaps, `run ${run.holder} reports what happened to it, once`).toBe(run.pending);
          if (overlaps.overlaps > 0) expect(overlaps.concurrent).toBeGreaterThanOrEqual(2);
          reported += overlaps.overlaps;
          run.pending = 0;
        };
        const renewAll = async (p: number): Promise<void> => {
          for (const run of open.filter((r) => r.p === p)) {
            const overlaps = await store.renew(run.key, run.holder);
            if (!run.forgotten) run.written = now;
            collect(run, overlaps);
          }
        };

        for (const step of script) {
          if (step.op === 'start') {
            if (state[step.p] !== 'alive' || open.some((r) => r.p === step.p && r.key === step.key)) continue;
            // The store forgets the key's runs that stopped renewing long ago.
            for (const run of open) {
              if (run.key === step.key && !run.forgotten && run.written + TTL + RETAIN <= now) {
                run.forgotten = true;
                lostToOblivion += run.pending;
                run.pending = 0;
              }
            }
            const others = open.filter((r) => r.key === step.key && !r.forgotten);
            const counted = others.filter((r) => r.written + TTL > now).length;
            expect(await store.increment(step.key, `h${holders}`), 'runs counted in progress: renewed within the TTL').toBe(counted);
            for (const run of others) {
              if (state[run.p] === 'crashed') continue; // it ran nothing any more: no overlap
              realOverlaps += 1;
              run.pending += 1;
            }
            open.push({ holder: `h${holders++}`, key: step.key, p: step.p, written: now, pending: 0, forgotten: false });
          } else if (step.op === 'end') {
            if (state[step.p] !== 'alive') continue;
            const mine = open.filter((r) => r.p === step.p);
            const run = mine[step.pick % Math.max(1, mine.length)];
            if (run === undefined) continue;
            open.splice(open.indexOf(run), 1);
            collect(run, await store.decrement(run.key, run.holder));
          } else if (step.op === 'advance') {
            for (let i = 0; i < step.ticks; i++) {
              now += TICK;
              for (let p = 0; p < PROCESSES; p++) if (state[p] === 'alive') await renewAll(p);
            }
          } else if (step.op === 'pause') {
            if (state[step.p] === 'alive') state[step.p] = 'paused';
          } else if (step.op === 'resume') {
            if (state[step.p] !== 'paused') continue;
            state[step.p] = 'alive';
            await renewAll(step.p); // the overdue heartbeat fires first
          } else {
            if (state[step.p] === 'crashed') continue;
            state[step.p] = 'crashed';
            for (const run of open.filter((r) => r.p === step.p)) {
              lostToCrash += run.pending;
              run.pending = 0;
            }
          }
        }

        // Paused processes resume and every live run ends.
        for (let p = 0; p < PROCESSES; p++) {
          if (state[p] === 'paused') {
            state[p] = 'alive';
            await renewAll(p);
          }
        }
        for (const run of open.filter((r) => state[r.p] === 'alive')) collect(run, await store.decrement(run.key, run.holder));
        expect(reported + lostToCrash + lostToOblivion).toBe(realOverlaps);

        // What crashed processes left is forgotten once it is old enough and its key is used again.
        now += TTL + RETAIN;
        for (const key of KEYS) {
          await store.increment(key, 'sweeper');
          expect(await store.decrement(key, 'sweeper')).toEqual({ overlaps: 0, concurrent: 0, forgotten: false });
        }
        expect(store.size).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
