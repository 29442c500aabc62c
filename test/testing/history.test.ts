/**
 * The history checker on planted histories: each detector shown to fire on the violation it names
 * and to stay quiet without it, then checked against a brute-force oracle on random histories.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MixedClocksError, type HandlerContext } from '../../src/index.js';
import {
  HistoryRecorder,
  checkHistory,
  monotonicClockId,
  monotonicMicros,
  type Overlap,
  type RunRecord,
} from '../../src/testing/index.js';

let ids = 0;
/** A run of `key` by `consumer` over `[start, end)`; `end` undefined for an open run. */
function run(consumer: string, key: string, start: number, end: number | undefined, extra: Partial<RunRecord> = {}): RunRecord {
  ids += 1;
  return { consumer, key, messageId: `m${ids}`, seq: undefined, start, end, ok: end !== undefined, token: undefined, ...extra };
}

/** Pairs as `first.messageId>second.messageId`, sorted, for comparison regardless of discovery order. */
const pairs = (overlaps: readonly Overlap[]): string[] => overlaps.map((o) => `${o.first.messageId}>${o.second.messageId}`).sort();

describe('checkHistory: overlaps', () => {
  it('reports nothing for runs of a key one after another, touching or apart, in any record order', () => {
    const a = run('c1', 'k', 0, 10);
    const b = run('c2', 'k', 10, 20); // starts in the microsecond a ended: touching
    const c = run('c1', 'k', 25, 30);
    const other = run('c2', 'x', 5, 28); // another key overlaps all of them: irrelevant
    for (const order of [
      [a, b, c, other],
      [c, other, b, a],
    ]) {
      const report = checkHistory(order);
      expect(report.overlaps).toEqual([]);
      expect(report).toMatchObject({ runs: 4, overlapCount: 0, sameConsumerOverlapCount: 0 });
    }
  });

  it('reports a nested run and a run that starts one microsecond before the other ends', () => {
    const outer = run('c1', 'k', 0, 100);
    const inner = run('c2', 'k', 40, 60);
    const late = run('c2', 'k', 99, 120);
    const report = checkHistory([late, inner, outer]);
    expect(pairs(report.overlaps)).toEqual(pairs([
      { key: 'k', first: outer, second: inner, sameConsumer: false },
      { key: 'k', first: outer, second: late, sameConsumer: false },
    ]));
    const nested = report.overlaps.find((o) => o.second === inner);
    expect(nested).toEqual({ key: 'k', first: outer, second: inner, sameConsumer: false });
    expect(report.overlapCount).toBe(2);
  });

  it('tells runs in one consumer (an engine bug) from runs in two (a routing window)', () => {
    const same = checkHistory([run('c1', 'k', 0, 10), run('c1', 'k', 5, 15)]);
    expect(same.overlaps.map((o) => o.sameConsumer)).toEqual([true]);
    expect(same.sameConsumerOverlapCount).toBe(1);
    const across = checkHistory([run('c1', 'k', 0, 10), run('c2', 'k', 5, 15)]);
    expect(across.overlaps.map((o) => o.sameConsumer)).toEqual([false]);
    expect(across.sameConsumerOverlapCount).toBe(0);
  });

  it('reports two overlapping runs of one consumer inside a longer run of another (not masked by it)', () => {
    // A stalled run of c2 spans two runs of c1 that overlap each other.
    const stalled = run('c2', 'k', 0, 100);
    const c1a = run('c1', 'k', 10, 50);
    const c1b = run('c1', 'k', 40, 60);
    const report = checkHistory([stalled, c1a, c1b]);
    expect(pairs(report.overlaps)).toEqual(pairs([
      { key: 'k', first: stalled, second: c1a, sameConsumer: false },
      { key: 'k', first: stalled, second: c1b, sameConsumer: false },
      { key: 'k', first: c1a, second: c1b, sameConsumer: true },
    ]));
    expect(report.overlaps.filter((o) => o.sameConsumer)).toEqual([{ key: 'k', first: c1a, second: c1b, sameConsumer: true }]);
    expect(report).toMatchObject({ overlapCount: 3, sameConsumerOverlapCount: 1 });
  });

  it('within one microsecond: equal runs overlap, a run inside another overlaps it, two instants apart do not', () => {
    const a = run('c1', 'k', 10, 20);
    const b = run('c2', 'k', 10, 20);
    expect(pairs(checkHistory([a, b]).overlaps)).toEqual([`${a.messageId}>${b.messageId}`]);
    // A run that started and ended in microsecond 15, while another ran from 10 to 20.
    const instant = run('c2', 'k', 15, 15);
    expect(pairs(checkHistory([run('c1', 'k', 10, 20, { messageId: 'long' }), instant]).overlaps)).toEqual([`long>${instant.messageId}`]);
    // Two runs that each began and ended in microsecond 10 cannot be ordered: taken as apart.
    expect(checkHistory([run('c1', 'k', 10, 10), run('c1', 'k', 10, 10)]).overlaps).toEqual([]);
    // An instant run in the microsecond another starts, or ends, touches it.
    expect(checkHistory([run('c1', 'k', 10, 10), run('c2', 'k', 10, 20)]).overlaps).toEqual([]);
    expect(checkHistory([run('c1', 'k', 20, 20), run('c2', 'k', 10, 20)]).overlaps).toEqual([]);
  });

  it('lists every pair within one consumer even past the cap on pairs across consumers, and counts all', () => {
    const hung = run('c0', 'k', 0, undefined);
    const later = Array.from({ length: 30 }, (_, i) => run(i % 3 === 0 ? 'c0' : `c${i}`, 'k', 10 + i * 10, 15 + i * 10));
    const report = checkHistory([hung, ...later], { maxListedOverlaps: 5 });
    expect(report.overlapCount).toBe(30);
    expect(report.sameConsumerOverlapCount).toBe(10);
    expect(report.overlaps.filter((o) => o.sameConsumer)).toHaveLength(10);
    expect(report.overlaps.filter((o) => !o.sameConsumer)).toHaveLength(5);
    expect(report.overlaps.every((o) => o.first === hung)).toBe(true);
    expect(checkHistory([hung, ...later], { maxListedOverlaps: 0 }).overlaps).toHaveLength(10);
  });
});

describe('checkHistory: runs that never ended', () => {
  it('counts an open run as running until the end of the history: it overlaps every later run of its key', () => {
    const hung = run('c1', 'k', 10, undefined, { seq: 1 });
    const next = run('c2', 'k', 1_000_000, 1_000_005, { seq: 2 });
    const other = run('c2', 'x', 20, 30);
    const report = checkHistory([hung, next, other], { published: [{ key: 'k', seq: 1 }, { key: 'k', seq: 2 }] });
    expect(report.open).toEqual([hung]);
    expect(report.overlaps).toEqual([{ key: 'k', first: hung, second: next, sameConsumer: false }]);
    // Not a success: its event is lost unless another run did it.
    expect(report.lost).toEqual([1]);
    expect(checkHistory([run('c1', 'k', 0, 5)]).open).toEqual([]);
  });

  it('with endOfHistory: later records are left out, a run that ended after it is open and no success', () => {
    const done = run('c1', 'k', 0, 10, { seq: 1 });
    const endsLate = run('c1', 'k', 20, 60, { seq: 2 });
    const startsLate = run('c2', 'k', 50, 55, { seq: 3 });
    const published = [1, 2, 3].map((seq) => ({ key: 'k', seq }));
    const atEnd = checkHistory([done, endsLate, startsLate], { published });
    expect(atEnd).toMatchObject({ runs: 3, open: [], lost: [] });
    expect(atEnd.overlapCount).toBe(1);

    const at40 = checkHistory([done, endsLate, startsLate], { published, endOfHistory: 40 });
    expect(at40).toMatchObject({ runs: 2, open: [endsLate], lost: [2, 3], overlapCount: 0 });
    // A run that ended exactly at the end of the history ended within it.
    expect(checkHistory([done], { published, endOfHistory: 10 }).open).toEqual([]);
    // An open run started before the end overlaps a run started before the end too.
    const open = run('c1', 'k', 0, undefined);
    expect(checkHistory([open, run('c2', 'k', 30, 35)], { endOfHistory: 40 }).overlapCount).toBe(1);
    expect(checkHistory([open, run('c2', 'k', 40, 45)], { endOfHistory: 40 }).overlapCount).toBe(0);
  });

  it('reads `end: null`, as JSON writes an open run, as open', () => {
    const parsed = JSON.parse(JSON.stringify([run('c1', 'k', 0, undefined), run('c2', 'k', 5, 8)]).replace('"ok"', '"end":null,"ok"')) as RunRecord[];
    expect(parsed[0]?.end).toBeNull();
    const report = checkHistory(parsed);
    expect(report.open).toHaveLength(1);
    expect(report.overlapCount).toBe(1);
  });
});

describe('checkHistory: lost events, order, duplicates', () => {
  const published = [
    { key: 'a', seq: 0 },
    { key: 'b', seq: 1 },
    { key: 'a', seq: 2 },
    { key: 'a', seq: 3 },
  ];

  it('is quiet on a history where every event ran once, in order', () => {
    const runs = [
      run('c1', 'a', 0, 5, { seq: 0 }),
      run('c1', 'b', 1, 3, { seq: 1 }),
      run('c1', 'a', 5, 9, { seq: 2 }),
      run('c2', 'a', 9, 12, { seq: 3 }),
    ];
    expect(checkHistory(runs, { published })).toMatchObject({ lost: [], orderViolations: [], duplicates: [], overlaps: [] });
  });

  it('reports an event that never succeeded as lost, unless dead-lettered', () => {
    const runs = [
      run('c1', 'a', 0, 5, { seq: 0 }),
      run('c1', 'b', 1, 3, { seq: 1, ok: false }), // failed, never retried
      run('c1', 'a', 5, 9, { seq: 2 }),
    ];
    expect(checkHistory(runs, { published }).lost).toEqual([1, 3]);
    expect(checkHistory(runs, { published, deadLettered: [1] }).lost).toEqual([3]);
  });

  it('reports a key whose events first completed out of publish order, and not one exempted', () => {
    const runs = [
      run('c1', 'a', 0, 5, { seq: 0 }),
      run('c1', 'b', 0, 1, { seq: 1 }),
      run('c2', 'a', 10, 12, { seq: 3 }), // 3 before 2
      run('c1', 'a', 12, 15, { seq: 2 }),
    ];
    expect(checkHistory(runs, { published }).orderViolations).toEqual([{ key: 'a', completed: [0, 3, 2] }]);
    expect(checkHistory(runs, { published, reordered: [2] }).orderViolations).toEqual([]);
    expect(checkHistory(runs, { published, deadLettered: [3] }).orderViolations).toEqual([]);
    // A failed first run does not count as completion: the retry's end does.
    const retried = [
      run('c1', 'a', 0, 2, { seq: 0, ok: false }),
      run('c1', 'a', 2, 4, { seq: 2 }),
      run('c1', 'a', 4, 6, { seq: 0 }),
    ];
    expect(checkHistory(retried, { published: published.filter((e) => e.key === 'a' && e.seq !== 3) }).orderViolations).toEqual([
      { key: 'a', completed: [2, 0] },
    ]);
    // Completions in the same microsecond keep publish order.
    const tie = [run('c1', 'a', 0, 5, { seq: 0 }), run('c2', 'a', 5, 5, { seq: 2 })];
    expect(checkHistory(tie, { published: published.filter((e) => e.seq === 0 || e.seq === 2) }).orderViolations).toEqual([]);
  });

  it('reports an event that succeeded twice once as a duplicate, and a failure then a success not at all', () => {
    const runs = [
      run('c1', 'a', 0, 5, { seq: 0 }),
      run('c2', 'a', 6, 8, { seq: 0 }),
      run('c2', 'a', 9, 10, { seq: 0 }),
      run('c1', 'b', 0, 5, { seq: 1, ok: false }),
      run('c1', 'b', 6, 9, { seq: 1 }),
    ];
    expect(checkHistory(runs).duplicates).toEqual([0]);
    expect(checkHistory(runs.slice(3)).duplicates).toEqual([]);
  });
});

describe('checkHistory: clocks and malformed records', () => {
  it('rejects a merge of records stamped on different clocks, and of named with unnamed ones', () => {
    const a = run('c1', 'k', 0, 10, { clock: 'boot:one' });
    const b = run('c2', 'k', 5, 15, { clock: 'boot:two' });
    expect(() => checkHistory([a, b])).toThrow(MixedClocksError);
    expect(() => checkHistory([a, b])).toThrow(/different clocks \("boot:one", "boot:two"\)/);
    expect(() => checkHistory([a, run('c2', 'k', 20, 30)])).toThrow(/"boot:one", unnamed/);
    expect(checkHistory([a, run('c2', 'k', 5, 15, { clock: 'boot:one' })]).overlapCount).toBe(1);
  });

  it('rejects malformed records and options, naming what is wrong', () => {
    expect(() => checkHistory([run('c', 'k', 10, 5)])).toThrow(/Run record 0 has an `end` \(5\) that is not a number at or after its `start` \(10\)/);
    expect(() => checkHistory([run('c', 'k', 0, 1), run('c', 'k', Number.NaN, 5)])).toThrow(/Run record 1 has no finite `start`/);
    expect(() => checkHistory([{ ...run('c', 'k', 0, 1), key: 3 } as unknown as RunRecord])).toThrow(/string `key`/);
    expect(() => checkHistory([], { maxListedOverlaps: -1 })).toThrow(/maxListedOverlaps/);
    expect(() => checkHistory([], { endOfHistory: Number.NaN })).toThrow(/endOfHistory/);
  });
});

/** The definition itself: every pair of runs of a key where each started before the other ended. */
function oracle(runs: readonly RunRecord[]): { pairs: Set<string>; same: number } {
  const found = new Set<string>();
  let same = 0;
  const endOf = (r: RunRecord): number => r.end ?? Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs.length; i++) {
    for (let j = i + 1; j < runs.length; j++) {
      const a = runs[i] as RunRecord;
      const b = runs[j] as RunRecord;
      if (a.key !== b.key || !(a.start < endOf(b) && b.start < endOf(a))) continue;
      found.add([a.messageId, b.messageId].sort().join('~'));
      if (a.consumer === b.consumer) same += 1;
    }
  }
  return { pairs: found, same };
}

/** Random runs over a few keys and consumers, short and close together so that many overlap. */
const history = fc
  .array(
    fc.record({
      key: fc.constantFrom('a', 'b'),
      consumer: fc.constantFrom('c1', 'c2', 'c3'),
      start: fc.nat(60),
      length: fc.option(fc.nat(12), { freq: 10 }), // null: open
    }),
    { maxLength: 40 },
  )
  .map((specs) =>
    specs.map((s, i) => ({
      consumer: s.consumer,
      key: s.key,
      messageId: `r${i}`,
      seq: i,
      start: s.start,
      end: s.length === null ? undefined : s.start + s.length,
      ok: s.length !== null,
      token: undefined,
    })),
  );

/** Per key, runs one after another (gaps may be 0: touching), spread over random consumers. */
const sequential = fc
  .array(
    fc.record({ key: fc.constantFrom('a', 'b', 'c'), consumer: fc.constantFrom('c1', 'c2'), gap: fc.nat(3), length: fc.nat(5) }),
    { minLength: 1, maxLength: 50 },
  )
  .map((specs) => {
    const clock = new Map<string, number>();
    return specs.map((s, i): RunRecord => {
      const start = (clock.get(s.key) ?? 0) + s.gap;
      clock.set(s.key, start + s.length);
      return { consumer: s.consumer, key: s.key, messageId: `r${i}`, seq: i, start, end: start + s.length, ok: true, token: undefined };
    });
  });

describe('checkHistory: properties', () => {
  it('reports exactly the overlapping pairs the definition gives, each once, whatever the record order', () => {
    fc.assert(
      fc.property(history.chain((runs) => fc.tuple(fc.constant(runs), fc.shuffledSubarray(runs, { minLength: runs.length }))), ([runs, shuffled]) => {
        const report = checkHistory(shuffled, { maxListedOverlaps: Number.MAX_SAFE_INTEGER });
        const expected = oracle(runs);
        const reported = report.overlaps.map((o) => [o.first.messageId, o.second.messageId].sort().join('~'));
        expect(new Set(reported)).toEqual(expected.pairs);
        expect(reported).toHaveLength(expected.pairs.size);
        expect(report.overlapCount).toBe(expected.pairs.size);
        expect(report.sameConsumerOverlapCount).toBe(expected.same);
        for (const o of report.overlaps) {
          expect(o.sameConsumer).toBe(o.first.consumer === o.second.consumer);
          expect(o.first.start).toBeLessThanOrEqual(o.second.start);
        }
        expect(report.open).toHaveLength(runs.filter((r) => r.end === undefined).length);
      }),
      { numRuns: 300 },
    );
  });

  it('finds nothing in histories whose runs of a key follow each other', () => {
    fc.assert(
      fc.property(sequential, (runs) => {
        const published = runs.map((r) => ({ key: r.key, seq: r.seq as number }));
        const report = checkHistory([...runs].reverse(), { published });
        expect(report).toMatchObject({ overlaps: [], overlapCount: 0, lost: [], duplicates: [], orderViolations: [], open: [] });
      }),
      { numRuns: 300 },
    );
  });

  it('reports exactly the pair of one planted overlap, with who ran it', () => {
    const planted = sequential.chain((runs) =>
      fc.record({
        runs: fc.constant(runs),
        target: fc.nat(runs.length - 1),
        consumer: fc.constantFrom('c1', 'c2'),
        offset: fc.nat(),
        length: fc.nat(),
      }),
    );
    fc.assert(
      fc.property(planted, ({ runs, target, consumer, offset, length }) => {
        const victim = runs[target] as RunRecord;
        const span = (victim.end as number) - victim.start;
        fc.pre(span >= 2);
        // Strictly inside the victim, so that it overlaps the victim and nothing else.
        const start = victim.start + 1 + (offset % (span - 1));
        const intruder: RunRecord = {
          consumer,
          key: victim.key,
          messageId: 'intruder',
          seq: undefined,
          start,
          end: start + (length % ((victim.end as number) - start + 1)),
          ok: true,
          token: undefined,
        };
        const report = checkHistory([...runs, intruder]);
        expect(report.overlaps).toEqual([{ key: victim.key, first: victim, second: intruder, sameConsumer: victim.consumer === consumer }]);
        expect(report.overlapCount).toBe(1);
      }),
      { numRuns: 300 },
    );
  });
});

describe('HistoryRecorder', () => {
  const context = (key: string, seq: number): HandlerContext<{ seq: number }> =>
    ({ consumer: { consumerName: 'c1' }, key, message: { id: `id-${seq}` }, event: { seq }, messages: [{ id: `id-${seq}` }], events: [{ seq }], fencingToken: 7 }) as unknown as HandlerContext<{ seq: number }>;

  it('records a run when it starts, completes it when it ends, and stamps the clock', async () => {
    const recorder = new HistoryRecorder<{ seq: number }>({ seqOf: (e) => e.seq });
    const middleware = recorder.middleware();
    let finish!: () => void;
    const running = middleware(context('k', 1), () => new Promise<void>((resolve) => (finish = resolve)));
    expect(recorder.runs).toEqual([
      { consumer: 'c1', key: 'k', messageId: 'id-1', seq: 1, start: expect.any(Number), end: undefined, ok: false, token: 7, clock: monotonicClockId() },
    ]);
    // Checked now, the run is open, and a run of its key started meanwhile overlaps it.
    while (monotonicMicros() <= (recorder.runs[0]?.start ?? 0)) {
      // The next run must start a microsecond later to be told apart from this one's start.
    }
    await middleware(context('k', 2), async () => undefined);
    const during = recorder.check();
    expect(during.open.map((r) => r.seq)).toEqual([1]);
    expect(during.overlaps.map((o) => [o.first.seq, o.second.seq, o.sameConsumer])).toEqual([[1, 2, true]]);
    finish();
    await running;
    const [first] = recorder.runs;
    expect(first?.ok).toBe(true);
    expect(first?.end).toBeGreaterThanOrEqual(first?.start ?? Infinity);
    await expect(middleware(context('k', 3), () => Promise.reject(new Error('handler failed')))).rejects.toThrow('handler failed');
    expect(recorder.runs[2]).toMatchObject({ seq: 3, ok: false, end: expect.any(Number) });
    expect(recorder.check().open).toEqual([]);
  });

  it('names the clock it was given, so that its records do not merge with another clock’s', async () => {
    const here = new HistoryRecorder<{ seq: number }>();
    const there = new HistoryRecorder<{ seq: number }>({ clock: 'boot:elsewhere' });
    await here.middleware()(context('k', 1), async () => undefined);
    await there.middleware()(context('k', 2), async () => undefined);
    expect(monotonicClockId()).toMatch(/^(boot|host):./);
    expect(() => checkHistory([...here.runs, ...there.runs])).toThrow(MixedClocksError);
  });
});
