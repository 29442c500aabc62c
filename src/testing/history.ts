import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { MixedClocksError } from '../errors/mixed-clocks-error.js';
import { hostname } from 'node:os';
import type { Middleware } from '../consumer/types.js';

/**
 * One handler run, as recorded. Plain data, so that records can be written as JSON lines by many
 * processes and merged before a check.
 *
 * Stamps are whole microseconds, floored, on one machine's monotonic clock ({@link monotonicMicros}),
 * named by `clock`. Flooring keeps them exact integers in JSON for centuries of uptime; what it
 * costs is said at {@link checkHistory}.
 */
export interface RunRecord {
  readonly consumer: string;
  readonly key: string;
  readonly messageId: string;
  /** Application sequence number of the event, when the recorder could read one. */
  readonly seq: number | undefined;
  /** Microsecond the run started. */
  readonly start: number;
  /**
   * Microsecond the run ended; `undefined` (`null` or absent in JSON) for a run that has not ended:
   * still running, hung, abandoned by a stop timeout, or cut short by the death of its process.
   * {@link checkHistory} counts such a run as running until the end of the history.
   */
  readonly end: number | undefined;
  /** Whether the run ended successfully; `false` while it has not ended. */
  readonly ok: boolean;
  /** Fencing token the run held, if any. */
  readonly token: number | undefined;
  /**
   * The clock `start` and `end` were read on ({@link monotonicClockId}). Stamps of two clocks cannot
   * be compared, so {@link checkHistory} rejects a history that mixes them.
   */
  readonly clock?: string | undefined;
  /**
   * Set on the records of one batch run (one record per event, same stamps): records that share it
   * are one run, never an overlap of each other.
   */
  readonly run?: string | undefined;
}

/** Two runs of one key that overlapped in time. */
export interface Overlap {
  readonly key: string;
  /** The run that started first (of two that started in the same microsecond, the one that ended first). */
  readonly first: RunRecord;
  readonly second: RunRecord;
  /** Whether both runs were in the same consumer (an engine bug) or in two (a routing window). */
  readonly sameConsumer: boolean;
}

/** A key whose events completed out of publish order. */
export interface OrderViolation {
  readonly key: string;
  /** Sequence numbers in the order their first successful run completed. */
  readonly completed: readonly number[];
}

/**
 * What {@link checkHistory} found. Every list empty means the history is clean; the counts are
 * exact even where the list of overlaps is cut short.
 */
export interface HistoryReport {
  /** Records checked: those that started before the end of the history. */
  readonly runs: number;
  /** Runs that had not ended by the end of the history (hung, abandoned, killed, or still running). */
  readonly open: readonly RunRecord[];
  /**
   * Overlapping pairs of runs of one key: every pair within one consumer, and pairs across two
   * consumers up to `maxListedOverlaps`. Each pair appears once, whatever else overlaps it.
   */
  readonly overlaps: readonly Overlap[];
  /** Overlapping pairs found, listed or not. */
  readonly overlapCount: number;
  /** Overlapping pairs found within one consumer (all of them are listed). */
  readonly sameConsumerOverlapCount: number;
  readonly orderViolations: readonly OrderViolation[];
  /** Published sequence numbers that never ran successfully and were not dead-lettered. */
  readonly lost: readonly number[];
  /** Sequence numbers that ran successfully more than once (allowed by at-least-once; reported). */
  readonly duplicates: readonly number[];
}

/**
 * The clock runs are stamped with: CLOCK_MONOTONIC in whole microseconds (floored), shared by the
 * processes of one machine, not comparable across machines or reboots.
 */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** The name of the wall clock ({@link wallClockMicros}) in run records. */
export const WALL_CLOCK = 'wall' as const;

/**
 * The wall clock in whole microseconds since the Unix epoch (floored): the time origin of this
 * process plus its monotonic time, so it never steps back within a process. Comparable across
 * processes and machines only as far as their clocks are synchronised (NTP: typically within a
 * millisecond on one network); an overlap shorter than the skew can be missed or reported falsely.
 */
export function wallClockMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

let clockId: string | undefined;

/**
 * Names the clock {@link monotonicMicros} reads, so that records stamped on different clocks are
 * never compared. On Linux it is the boot id, the same in every process and container of one
 * machine for one boot (unless a time namespace offsets the monotonic clock); elsewhere the host
 * name, which does not tell two boots apart.
 */
export function monotonicClockId(): string {
  if (clockId === undefined) {
    let boot = '';
    try {
      boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      // Not Linux: fall back to the host name.
    }
    clockId = boot === '' ? `host:${hostname()}` : `boot:${boot}`;
  }
  return clockId;
}

/** What one published event was. */
export interface PublishedEvent {
  readonly key: string;
  readonly seq: number;
}

/** Options of {@link checkHistory}. */
export interface CheckHistoryOptions {
  /** Every event published, in publish order. Enables the lost and order checks. */
  readonly published?: readonly PublishedEvent[];
  /** Sequence numbers that were dead-lettered (not lost; excluded from the order check). */
  readonly deadLettered?: Iterable<number>;
  /** Sequence numbers whose order may legitimately change (e.g. retried after a failure). */
  readonly reordered?: Iterable<number>;
  /**
   * Where the history ends, on the records' clock: the history as it stood then. Records that
   * started at or after it are left out; a run that ended after it, or never, is open — running
   * until it, and not a success. Without it, every record counts as recorded and an open run runs
   * for ever.
   */
  readonly endOfHistory?: number;
  /**
   * Most pairs across two consumers listed in `overlaps` (the counts stay exact). Pairs within one
   * consumer are always listed: they are engine bugs, never to be hidden behind routing windows.
   * @default 1000
   */
  readonly maxListedOverlaps?: number;
}

/** A record as the checker sees it: its end resolved against the end of the history. */
interface Span {
  readonly record: RunRecord;
  readonly start: number;
  /** Infinity, or the end of the history, for an open run. */
  readonly end: number;
  readonly open: boolean;
}

function validate(record: RunRecord, index: number): void {
  const where = `Run record ${index}`;
  if (typeof record !== 'object' || record === null) throw new TypeError(`${where} is not an object`);
  if (typeof record.key !== 'string') throw new TypeError(`${where} has no string \`key\``);
  if (typeof record.consumer !== 'string') throw new TypeError(`${where} has no string \`consumer\``);
  if (typeof record.start !== 'number' || !Number.isFinite(record.start)) {
    throw new TypeError(`${where} has no finite \`start\`, got ${String(record.start)}`);
  }
  const end = record.end as number | null | undefined;
  if (end !== undefined && end !== null && (typeof end !== 'number' || !(end >= record.start))) {
    throw new TypeError(`${where} has an \`end\` (${String(end)}) that is not a number at or after its \`start\` (${record.start})`);
  }
}

/**
 * Check a recorded history: no two runs of one key overlap (within or across consumers), each key's
 * events first completed in publish order, every published event ran successfully or was
 * dead-lettered. An independent checker: a pure function of plain records, it never reads an
 * engine's state, so it can check records written by any process (merged, on one clock).
 *
 * How stamps are read:
 * - A run covers `[start, end)`. Two runs overlap when each started before the other ended; a run
 *   that starts in the microsecond another ended (`end === start`) touches it and does not overlap
 *   it. Flooring to microseconds never makes two runs that were apart overlap, so every overlap
 *   reported happened; an overlap shorter than the microsecond that holds both its ends can go
 *   unseen, and two runs that both start and end within one microsecond are taken as apart. A
 *   strict comparison is deliberate: a fast engine runs a key's next event in the microsecond the
 *   previous one ended.
 * - A run without `end` is open: it counts as running until the end of the history
 *   (`endOfHistory`, or for ever), overlaps every later run of its key, is listed in `open`, and is
 *   no success.
 * - All records must name the same `clock`, or none may name one (hand-written histories); a mix
 *   throws {@link MixedClocksError}. Stamps of one machine's monotonic clock are comparable across
 *   its processes; across machines nothing is.
 *
 * Every overlapping pair is reported (each run against every run of its key still running when it
 * started), so an overlap within one consumer is never hidden behind a longer run of another.
 *
 * @throws TypeError when a record is malformed (no key or consumer, no finite start, an end before
 * its start), or an option is.
 * @throws MixedClocksError when records were stamped on different clocks.
 */
export function checkHistory(runs: readonly RunRecord[], options: CheckHistoryOptions = {}): HistoryReport {
  const endOfHistory = options.endOfHistory ?? Number.POSITIVE_INFINITY;
  if (typeof endOfHistory !== 'number' || Number.isNaN(endOfHistory)) {
    throw new TypeError(`Expected \`endOfHistory\` to be a number, got ${String(options.endOfHistory)}`);
  }
  const maxListed = options.maxListedOverlaps ?? 1000;
  if (!Number.isInteger(maxListed) || maxListed < 0) {
    throw new TypeError(`Expected \`maxListedOverlaps\` to be an integer ≥ 0, got ${String(maxListed)}`);
  }

  const clocks = new Set<string | undefined>();
  const spans: Span[] = [];
  runs.forEach((record, index) => {
    validate(record, index);
    clocks.add(record.clock ?? undefined);
    if (record.start >= endOfHistory) return;
    const end = (record.end as number | null | undefined) ?? undefined;
    const open = end === undefined || end > endOfHistory;
    spans.push({ record, start: record.start, end: open ? endOfHistory : end, open });
  });
  if (clocks.size > 1) throw new MixedClocksError([...clocks]);

  const byKey = new Map<string, Span[]>();
  for (const span of spans) {
    const list = byKey.get(span.record.key);
    if (list === undefined) byKey.set(span.record.key, [span]);
    else list.push(span);
  }

  const overlaps: Overlap[] = [];
  let overlapCount = 0;
  let sameConsumerOverlapCount = 0;
  let listedAcross = 0;
  for (const [key, list] of byKey) {
    // Sort is stable: runs equal in both stamps keep the order they were recorded in.
    list.sort((a, b) => a.start - b.start || a.end - b.end);
    // The runs of the key that have not ended by the current start: few, unless runs hang.
    let running: Span[] = [];
    for (const span of list) {
      running = running.filter((other) => other.end > span.start);
      for (const other of running) {
        // `other` started no later than `span`; they overlap unless `span` is empty and starts with it.
        if (!(other.start < span.end)) continue;
        if (span.record.run !== undefined && other.record.run === span.record.run) continue;
        overlapCount += 1;
        const sameConsumer = other.record.consumer === span.record.consumer;
        if (sameConsumer) sameConsumerOverlapCount += 1;
        if (sameConsumer || listedAcross < maxListed) {
          if (!sameConsumer) listedAcross += 1;
          overlaps.push({ key, first: other.record, second: span.record, sameConsumer });
        }
      }
      running.push(span);
    }
  }

  // The first successful run of each event, by end.
  const firstOk = new Map<number, Span>();
  const duplicates = new Set<number>();
  const open: RunRecord[] = [];
  for (const span of spans) {
    if (span.open) {
      open.push(span.record);
      continue;
    }
    const seq = span.record.seq;
    if (!span.record.ok || seq === undefined) continue;
    const seen = firstOk.get(seq);
    if (seen === undefined) firstOk.set(seq, span);
    else {
      duplicates.add(seq);
      if (span.end < seen.end) firstOk.set(seq, span);
    }
  }

  const lost: number[] = [];
  const orderViolations: OrderViolation[] = [];
  if (options.published !== undefined) {
    const dead = new Set(options.deadLettered ?? []);
    const exempt = new Set(options.reordered ?? []);
    const perKey = new Map<string, number[]>();
    for (const event of options.published) {
      if (!firstOk.has(event.seq) && !dead.has(event.seq)) lost.push(event.seq);
      if (dead.has(event.seq) || exempt.has(event.seq) || !firstOk.has(event.seq)) continue;
      const list = perKey.get(event.key);
      if (list === undefined) perKey.set(event.key, [event.seq]);
      else list.push(event.seq);
    }
    for (const [key, seqs] of perKey) {
      // Stable sort: events that completed in the same microsecond keep publish order.
      const completed = [...seqs].sort((a, b) => (firstOk.get(a)?.end ?? 0) - (firstOk.get(b)?.end ?? 0));
      if (completed.some((seq, i) => seq !== seqs[i])) orderViolations.push({ key, completed });
    }
  }

  return {
    runs: spans.length,
    open,
    overlaps,
    overlapCount,
    sameConsumerOverlapCount,
    orderViolations,
    lost,
    duplicates: [...duplicates],
  };
}

/** Options of {@link HistoryRecorder}. */
export interface HistoryRecorderOptions<T> {
  /** Reads the application sequence number of an event, for order and loss checks. */
  readonly seqOf?: (event: T) => number | undefined;
  /** The name of the clock records are stamped on. @default monotonicClockId() */
  readonly clock?: string;
}

type Writable<R> = { -readonly [K in keyof R]: R[K] };

/**
 * Records every handler run of the consumers it is installed in (as middleware, innermost so that
 * it times the handler itself). A run is recorded when it starts, without `end`, and completed when
 * it ends: a run that never ends stays open in `runs` and in the report. Share one recorder between
 * consumers to check exclusivity across them; use {@link checkHistory} on `runs`.
 */
export class HistoryRecorder<T = unknown> {
  /** Every run so far, in start order; a run still going has no `end` yet. */
  readonly runs: RunRecord[] = [];
  readonly #seqOf: ((event: T) => number | undefined) | undefined;
  readonly #clock: string;

  constructor(options: HistoryRecorderOptions<T> = {}) {
    this.#seqOf = options.seqOf;
    this.#clock = options.clock ?? monotonicClockId();
  }

  /** The recording middleware. */
  middleware(): Middleware<T> {
    const runs = this.runs;
    const seqOf = this.#seqOf;
    const clock = this.#clock;
    let batches = 0;
    return async function historyRecorder(ctx, next) {
      const start = monotonicMicros();
      const record = (event: T, messageId: string, run: string | undefined): Writable<RunRecord> => ({
        consumer: ctx.consumer.consumerName,
        key: ctx.key,
        messageId,
        seq: seqOf?.(event),
        start,
        end: undefined,
        ok: false,
        token: ctx.fencingToken,
        clock,
        ...(run === undefined ? {} : { run }),
      });
      // A batch run is recorded as one record per event, marked as one run.
      const { events, messages } = ctx;
      const run = events.length > 1 ? `${ctx.consumer.consumerName}#${batches++}` : undefined;
      const records = events.map((event, i) => record(event, (messages[i] ?? ctx.message).id, run));
      runs.push(...records);
      try {
        await next();
        for (const r of records) r.ok = true;
      } finally {
        const end = monotonicMicros();
        for (const r of records) r.end = end;
      }
    };
  }

  /** Check the recorded runs. */
  check(options?: CheckHistoryOptions): HistoryReport {
    return checkHistory(this.runs, options);
  }
}
