import { performance } from 'node:perf_hooks';

/** The last answer of a {@link pollLatest} poller and how old it is. */
export interface Latest<T> {
  readonly value: T;
  /** Seconds since the answer came. */
  readonly ageS: number;
}

/** @internal A poller started by {@link pollLatest}. */
export interface LatestPoller<T> {
  /** The last answer, or `undefined` before the first one. */
  current(): Latest<T> | undefined;
  /** Stop polling; idempotent. */
  stop(): void;
}

/**
 * @internal Calls `fetch` now and every `intervalMs`, one call at a time, on a timer that does not
 * keep the process alive: observable instruments are read synchronously, so what they report from
 * an asynchronous source is its last answer. A failed call (a rejection, or a throw of `fetch`,
 * which is how it refuses a malformed answer) is counted by `failed`, never thrown; the last good
 * answer stays. An answer of `undefined` (nothing to report, e.g. a deleted topic) clears it.
 */
export function pollLatest<T>(fetch: () => Promise<T | undefined>, intervalMs: number, failed: () => void): LatestPoller<T> {
  let latest: T | undefined;
  let at = 0;
  let inFlight = false;
  let stopped = false;
  const poll = async (): Promise<void> => {
    if (inFlight || stopped) return;
    inFlight = true;
    try {
      const value = await fetch();
      if (stopped) return;
      latest = value;
      at = performance.now();
    } catch {
      if (!stopped) failed();
    } finally {
      inFlight = false;
    }
  };
  void poll();
  const timer = setInterval(() => void poll(), intervalMs);
  timer.unref?.();
  return {
    current: () => (latest === undefined ? undefined : { value: latest, ageS: (performance.now() - at) / 1000 }),
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
