import { performance } from 'node:perf_hooks';

/** How often the watch beats; a gap well beyond it means the event loop did not run meanwhile. */
const BEAT_MS = 100;
/**
 * A standstill longer than this makes what arrived meanwhile wait for proof that the connection
 * outlived it: longer than a GC pause, shorter than a broker's hand-over.
 */
const STALL_MS = 250;

let lastBeat = performance.now();
let timer: NodeJS.Timeout | undefined;
let watchers = 0;

/**
 * @internal Whether this process's event loop stood still for longer than `STALL_MS` since the
 * watch last beat: the process was paused (SIGSTOP, a VM freeze), or blocked. After such a stall,
 * I/O that queued up meanwhile is handled before any timer, so a transport asking this from its
 * receive path learns of the stall before it hands what arrived to the consumer.
 */
export function stalled(): boolean {
  return performance.now() - lastBeat > STALL_MS;
}

/** @internal Keep the watch beating while at least one user holds it; returns the release. */
export function holdStallWatch(): () => void {
  watchers += 1;
  if (timer === undefined) {
    lastBeat = performance.now();
    timer = setInterval(() => {
      lastBeat = performance.now();
    }, BEAT_MS);
    timer.unref();
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    watchers -= 1;
    if (watchers === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}
