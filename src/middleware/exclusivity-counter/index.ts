import { randomBytes } from 'node:crypto';
import type { HandlerContext, Middleware, Violation } from '../../consumer/types.js';
import { adapterOption, optionNames, optionsArgument } from '../../internal/validate.js';
import { MemoryCounterStore } from './memory-store.js';
import { COUNTER_SOURCE, type CounterStore, type RunOverlaps } from './types.js';

const OPTION_NAMES = optionNames<ExclusivityCounterOptions>({ store: true, onViolation: true });

/** Options of {@link exclusivityCounter}. */
export interface ExclusivityCounterOptions {
  /**
   * Where runs in progress are recorded. Share one store (or one middleware instance) between every
   * consumer to watch; a Redis store watches a whole fleet.
   * @default a new MemoryCounterStore (this middleware instance only)
   */
  readonly store?: CounterStore;
  /** Called for each violation, besides the consumer's `violation` event and stat. Must not throw. */
  readonly onViolation?: (violation: Violation) => void;
}

let holderSequence = 0;
const processId = randomBytes(4).toString('hex');

/** A run this middleware counted and has not yet finished. */
interface OpenRun {
  readonly ctx: HandlerContext<unknown>;
  readonly holder: string;
  /** `performance.now()` when its entry was last written (start or renewal). */
  refreshedAt: number;
  /** Set once the store said it no longer knew the run: reported once, no longer renewed. */
  forgotten: boolean;
}

/**
 * The mutual-exclusivity counter: record a key's run as started before the handler, as finished
 * in `finally`, and report every overlap with another run of the key, wherever it ran. A safety net
 * that measures exclusivity, it does not enforce it. A store that fails never fails the handler:
 * the error is reported and the run goes on uncounted.
 *
 * Each middleware instance is a session: while its runs are in progress it renews their entries
 * every third of the store's `ttlMs` (its heartbeat). A run that starts records itself on the
 * key's other runs; each of those reports the overlap when it next renews or when it ends. The
 * report therefore comes from the run that was already in progress, once, and only if its process
 * was alive after the overlap began: a process killed mid-run (kill -9, OOM) never renews again and
 * causes no report, while a process paused past `ttlMs` (SIGSTOP, a frozen VM) reports on resuming
 * the runs of its keys that started during the pause.
 */
export function exclusivityCounter(options: ExclusivityCounterOptions = {}): Middleware {
  optionsArgument(options, OPTION_NAMES);
  if (options.store !== undefined) adapterOption('store', options.store, ['increment', 'renew', 'decrement']);
  const store = options.store ?? new MemoryCounterStore();
  const { onViolation } = options;

  const report = (run: OpenRun, overlaps: RunOverlaps): void => {
    const { ctx } = run;
    if (overlaps.forgotten) {
      if (!run.forgotten) {
        run.forgotten = true;
        ctx.reportError(
          new Error(
            `The counter store no longer knew this run (not renewed for longer than it remembers runs, or its data was lost): overlaps of its key meanwhile are unknown`,
          ),
          'exclusivity-counter:forgotten',
        );
      }
      return;
    }
    for (let i = 0; i < overlaps.overlaps; i++) {
      const violation = { key: ctx.key, concurrent: Math.max(2, overlaps.concurrent), source: COUNTER_SOURCE };
      ctx.reportViolation(violation);
      if (onViolation !== undefined) {
        try {
          onViolation({ ...violation, messageId: ctx.message.id });
        } catch (error) {
          ctx.reportError(error, 'exclusivity-counter:onViolation');
        }
      }
    }
  };
  const heartbeat = new Heartbeat(store, report);

  return async function exclusivityCounter(ctx, next) {
    holderSequence = (holderSequence + 1) % Number.MAX_SAFE_INTEGER;
    const holder = `${processId}:${holderSequence}`;
    let run: OpenRun | undefined;
    try {
      await store.increment(ctx.key, holder);
      run = { ctx, holder, refreshedAt: performance.now(), forgotten: false };
      heartbeat.open(run);
    } catch (error) {
      ctx.reportError(error, 'exclusivity-counter:increment');
    }
    try {
      await next();
    } finally {
      if (run !== undefined) {
        heartbeat.close(run);
        try {
          report(run, await store.decrement(ctx.key, holder));
        } catch (error) {
          ctx.reportError(error, 'exclusivity-counter:decrement');
        }
      }
    }
  };
}

/**
 * One timer for all the runs in progress of a middleware instance, running while there are some:
 * each tick renews the runs not refreshed for half a tick, so an entry is renewed at most half its
 * time to live after it was written, and a run shorter than that is never renewed. Renewals of one
 * tick are made in one turn (the Redis client pipelines them). Unref'd: it never keeps a process up.
 */
class Heartbeat {
  readonly #store: CounterStore;
  readonly #report: (run: OpenRun, overlaps: RunOverlaps) => void;
  readonly #intervalMs: number;
  readonly #runs = new Set<OpenRun>();
  #timer: NodeJS.Timeout | undefined;

  constructor(store: CounterStore, report: (run: OpenRun, overlaps: RunOverlaps) => void) {
    this.#store = store;
    this.#report = report;
    this.#intervalMs = Math.max(1, Math.floor(store.ttlMs / 3));
  }

  open(run: OpenRun): void {
    this.#runs.add(run);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
      this.#timer.unref();
    }
  }

  close(run: OpenRun): void {
    this.#runs.delete(run);
    if (this.#runs.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #tick(): void {
    const now = performance.now();
    for (const run of this.#runs) {
      if (run.forgotten || now - run.refreshedAt < this.#intervalMs / 2) continue;
      run.refreshedAt = now;
      // A failed renewal is not fatal: the entry expires, stays remembered, and the next renewal
      // or the run's end still collects its overlaps.
      this.#store.renew(run.ctx.key, run.holder).then(
        (overlaps) => this.#report(run, overlaps),
        (error: unknown) => run.ctx.reportError(error, 'exclusivity-counter:renew'),
      );
    }
  }
}
