import type { Middleware } from '../consumer/types.js';

/** One handler run, as recorded. Times are microseconds on the machine's monotonic clock. */
export interface RunRecord {
  readonly consumer: string;
  readonly key: string;
  readonly messageId: string;
  /** Application sequence number of the event, when the recorder could read one. */
  readonly seq: number | undefined;
  readonly start: number;
  readonly end: number;
  readonly ok: boolean;
  /** Fencing token the run held, if any. */
  readonly token: number | undefined;
}

/** Two runs of one key that overlapped in time. */
export interface Overlap {
  readonly key: string;
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

/** What {@link checkHistory} found. Every list empty means the history is clean. */
export interface HistoryReport {
  readonly runs: number;
  readonly overlaps: readonly Overlap[];
  readonly orderViolations: readonly OrderViolation[];
  /** Published sequence numbers that never ran successfully and were not dead-lettered. */
  readonly lost: readonly number[];
  /** Sequence numbers that ran successfully more than once (allowed by at-least-once; reported). */
  readonly duplicates: readonly number[];
}

/** The clock runs are stamped with: CLOCK_MONOTONIC in microseconds, shared by processes of one machine. */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
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
}

/**
 * Check a recorded history: no two runs of one key overlap (within or across consumers), each key's
 * events first completed in publish order, every published event ran successfully or was
 * dead-lettered. An independent checker: it only reads records, never the engine's state.
 */
export function checkHistory(runs: readonly RunRecord[], options: CheckHistoryOptions = {}): HistoryReport {
  const byKey = new Map<string, RunRecord[]>();
  for (const run of runs) {
    const list = byKey.get(run.key);
    if (list === undefined) byKey.set(run.key, [run]);
    else list.push(run);
  }

  const overlaps: Overlap[] = [];
  for (const [key, list] of byKey) {
    list.sort((a, b) => a.start - b.start || a.end - b.end);
    let latest: RunRecord | undefined;
    for (const run of list) {
      if (latest !== undefined && run.start < latest.end) {
        overlaps.push({ key, first: latest, second: run, sameConsumer: latest.consumer === run.consumer });
      }
      if (latest === undefined || run.end > latest.end) latest = run;
    }
  }

  const firstOk = new Map<number, RunRecord>();
  const duplicates: number[] = [];
  for (const run of runs) {
    if (!run.ok || run.seq === undefined) continue;
    const seen = firstOk.get(run.seq);
    if (seen === undefined) firstOk.set(run.seq, run);
    else {
      duplicates.push(run.seq);
      if (run.end < seen.end) firstOk.set(run.seq, run);
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
      if (dead.has(event.seq) || exempt.has(event.seq)) continue;
      const list = perKey.get(event.key);
      if (list === undefined) perKey.set(event.key, [event.seq]);
      else list.push(event.seq);
    }
    for (const [key, seqs] of perKey) {
      const completed = seqs
        .filter((seq) => firstOk.has(seq))
        .sort((a, b) => (firstOk.get(a)?.end ?? 0) - (firstOk.get(b)?.end ?? 0));
      // Publish order is the order of `seqs`; completion order must match it.
      const expected = seqs.filter((seq) => firstOk.has(seq));
      if (completed.some((seq, i) => seq !== expected[i])) orderViolations.push({ key, completed });
    }
  }

  return { runs: runs.length, overlaps, orderViolations, lost, duplicates: [...new Set(duplicates)] };
}

/** Options of {@link HistoryRecorder}. */
export interface HistoryRecorderOptions<T> {
  /** Reads the application sequence number of an event, for order and loss checks. */
  readonly seqOf?: (event: T) => number | undefined;
}

/**
 * Records every handler run of the consumers it is installed in (as middleware, innermost so that
 * it times the handler itself). Share one recorder between consumers to check exclusivity across
 * them; use {@link checkHistory} on `runs`.
 */
export class HistoryRecorder<T = unknown> {
  readonly runs: RunRecord[] = [];
  readonly #seqOf: ((event: T) => number | undefined) | undefined;

  constructor(options: HistoryRecorderOptions<T> = {}) {
    this.#seqOf = options.seqOf;
  }

  /** The recording middleware. */
  middleware(): Middleware<T> {
    const runs = this.runs;
    const seqOf = this.#seqOf;
    return async function historyRecorder(ctx, next) {
      const start = monotonicMicros();
      let ok = false;
      try {
        await next();
        ok = true;
      } finally {
        runs.push({
          consumer: ctx.consumer.consumerName,
          key: ctx.key,
          messageId: ctx.message.id,
          seq: seqOf?.(ctx.event),
          start,
          end: monotonicMicros(),
          ok,
          token: ctx.fencingToken,
        });
      }
    };
  }

  /** Check the recorded runs. */
  check(options?: CheckHistoryOptions): HistoryReport {
    return checkHistory(this.runs, options);
  }
}
