/**
 * Shared records of the handler runs in progress per key, for the exclusivity counter. Fleet-wide
 * stores (Redis) make a violation between two processes visible. Check yours with
 * `counterStoreContract` from `exclusive-consumer/testing`.
 *
 * Every run is an entry that lives `ttlMs` unless renewed: the `exclusivityCounter` middleware
 * renews the entries of its runs in progress (its session's heartbeat), so an entry that stopped
 * being renewed belongs to a process that crashed, or is paused, or lost the store. A run that
 * starts records itself as an overlap on every other entry of its key, alive or not; only the
 * other run collects that record, by renewing its entry or ending its run. So an overlap is
 * reported once, by a run whose process is shown alive after the overlap began, and a crashed
 * process, which never renews again, never causes a report.
 */
export interface CounterStore {
  /** Short name for logs and telemetry. */
  readonly name: string;
  /**
   * How long a run's entry stays counted as in progress without renewal, in milliseconds. The
   * middleware renews its runs in progress every third of this.
   */
  readonly ttlMs: number;
  /**
   * Count one run of `key` by `holder` (unique per run) as started, and record it as an overlap on
   * every other run of the key the store still remembers (renewed or not). Resolves with the
   * number of other runs of the key counted as in progress (renewed within `ttlMs`), the article's
   * "counter value before increment". Counting the same holder again only renews it.
   */
  increment(key: string, holder: string): Promise<number>;
  /**
   * Keep `holder`'s run counted for another `ttlMs`, and collect the overlaps recorded on it since
   * it started or was last renewed or collected. A run the store no longer remembers resolves
   * `forgotten` (and is not added back).
   */
  renew(key: string, holder: string): Promise<RunOverlaps>;
  /**
   * Count `holder`'s run of `key` as finished and collect the overlaps recorded on it and not yet
   * collected. Idempotent: a run that is not (or no longer) known resolves `forgotten`.
   */
  decrement(key: string, holder: string): Promise<RunOverlaps>;
}

/** The overlaps a store recorded on one run of a key, collected by `renew` or `decrement`. */
export interface RunOverlaps {
  /** Runs of the key that started while this one was in progress (and had not been collected). */
  readonly overlaps: number;
  /** The most runs of the key in progress at one of those starts, this one included; 0 without overlaps. */
  readonly concurrent: number;
  /**
   * The store did not know the run: it was never counted, already ended, stopped renewing for
   * longer than the store remembers runs, or the store lost its data. Its overlaps are unknown.
   */
  readonly forgotten: boolean;
}

/** @internal The `source` of the violations the exclusivity counter reports. */
export const COUNTER_SOURCE = 'exclusivity-counter';
