import { integerOption, optionNames, optionsArgument } from '../../internal/validate.js';
import type { CounterStore, RunOverlaps } from './types.js';

const OPTION_NAMES = optionNames<MemoryCounterStoreOptions>({ ttlMs: true, retainMs: true, now: true });

/** Options of {@link MemoryCounterStore}. */
export interface MemoryCounterStoreOptions {
  /**
   * How long a run stays counted as in progress without renewal, in milliseconds. The middleware
   * renews its runs every third of this.
   * @default 3_000
   */
  readonly ttlMs?: number;
  /**
   * How long a run that stopped renewing is still remembered after its `ttlMs` ran out, in
   * milliseconds: a run that resumes within `ttlMs + retainMs` still collects the runs of its key
   * that started meanwhile.
   * @default 600_000
   */
  readonly retainMs?: number;
  /** The clock, in milliseconds. For tests with virtual time. @default performance.now */
  readonly now?: () => number;
}

interface Entry {
  expiresAt: number;
  overlaps: number;
  concurrent: number;
}

const FORGOTTEN: RunOverlaps = Object.freeze({ overlaps: 0, concurrent: 0, forgotten: true });
const NONE: RunOverlaps = Object.freeze({ overlaps: 0, concurrent: 0, forgotten: false });

/**
 * A {@link CounterStore} in this process's memory: sees violations between the consumers that share
 * the instance (the `exclusivityCounter` middleware's default), not across processes. It keeps the
 * semantics of the Redis store, on its own clock: entries live `ttlMs` unless renewed, a start
 * records an overlap on every other entry of its key, the other run collects it.
 *
 * A key whose last run finished is deleted, and entries that stopped renewing are forgotten
 * `retainMs` after their expiry, so memory is bounded by the runs in flight, not by the keys ever seen.
 */
export class MemoryCounterStore implements CounterStore {
  /** Adapter name for logs and telemetry. */
  readonly name = 'memory';
  /** Time to live of a run's entry without renewal, in milliseconds. */
  readonly ttlMs: number;
  /** How long an entry that stopped renewing is remembered after it expired, in milliseconds. */
  readonly retainMs: number;
  readonly #now: () => number;
  readonly #runs = new Map<string, Map<string, Entry>>();

  /** Throws a `ConfigurationError` on a bad option. */
  constructor(options: MemoryCounterStoreOptions = {}) {
    optionsArgument(options, OPTION_NAMES);
    this.ttlMs = integerOption('ttlMs', options.ttlMs, 3_000, 1);
    this.retainMs = integerOption('retainMs', options.retainMs, 600_000, 0);
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Count `holder`'s run of `key` as started and record it on the key's other runs. Resolves with
   * the number of other runs of the key in progress; counting the same holder twice renews it.
   */
  async increment(key: string, holder: string): Promise<number> {
    const now = this.#now();
    let entries = this.#runs.get(key);
    if (entries === undefined) {
      entries = new Map();
      this.#runs.set(key, entries);
    }
    let alive = 0;
    for (const [other, entry] of entries) {
      if (entry.expiresAt + this.retainMs <= now) entries.delete(other);
      else if (other !== holder && entry.expiresAt > now) alive += 1;
    }
    const mine = entries.get(holder);
    if (mine !== undefined) {
      mine.expiresAt = now + this.ttlMs;
      return alive;
    }
    for (const entry of entries.values()) {
      entry.overlaps += 1;
      // The runs in progress as this entry sees them: itself, the new run, and the others alive.
      const concurrent = entry.expiresAt > now ? alive + 1 : alive + 2;
      if (concurrent > entry.concurrent) entry.concurrent = concurrent;
    }
    entries.set(holder, { expiresAt: now + this.ttlMs, overlaps: 0, concurrent: 0 });
    return alive;
  }

  /** Keep `holder`'s run counted for another `ttlMs` and collect its overlaps. */
  async renew(key: string, holder: string): Promise<RunOverlaps> {
    const entry = this.#runs.get(key)?.get(holder);
    if (entry === undefined) return FORGOTTEN;
    entry.expiresAt = this.#now() + this.ttlMs;
    return collect(entry);
  }

  /** Count `holder`'s run of `key` as finished and collect its overlaps. Idempotent. */
  async decrement(key: string, holder: string): Promise<RunOverlaps> {
    const entries = this.#runs.get(key);
    const entry = entries?.get(holder);
    if (entries === undefined || entry === undefined) return FORGOTTEN;
    entries.delete(holder);
    if (entries.size === 0) this.#runs.delete(key);
    return collect(entry);
  }

  /** For tests: number of keys with runs in progress (or remembered). */
  get size(): number {
    return this.#runs.size;
  }
}

function collect(entry: Entry): RunOverlaps {
  if (entry.overlaps === 0) return NONE;
  const overlaps = { overlaps: entry.overlaps, concurrent: entry.concurrent, forgotten: false };
  entry.overlaps = 0;
  entry.concurrent = 0;
  return overlaps;
}
