/** Shared helpers of the benchmarks: timing, GC, statistics, deterministic input. */
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

/** Force a full collection (the bench runs with --expose-gc); twice, so finalizers' garbage goes too. */
export function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g === undefined) throw new Error('Run the bench with node --expose-gc (npm run bench)');
  g();
  g();
}

/** Heap in use after a forced full collection, in bytes. */
export function heapAfterGc(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

export const now = (): number => performance.now();

/** Resolve on the next turn of the event loop (after I/O, timers and pending immediates). */
export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `done` once per event-loop turn (cheap: one check per setImmediate) until it holds. */
export async function until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = now() + timeoutMs;
  while (!done()) {
    await tick();
    if (now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly samples: readonly number[];
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, samples };
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, samples };
}

/** Mulberry32: a small, fast, seeded PRNG so every run and contender gets the same input. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let topicSeq = 0;
/** A topic name never used before in this process. */
export function freshTopic(prefix: string): string {
  topicSeq += 1;
  return `bench-${prefix}-${topicSeq}`;
}

export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return String(perSecond);
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)} M/s`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)} k/s`;
  return `${perSecond.toFixed(1)} /s`;
}

export function formatBytes(bytes: number): string {
  const sign = bytes < 0 ? '-' : '';
  const abs = Math.abs(bytes);
  if (abs >= 1024 * 1024) return `${sign}${(abs / 1024 / 1024).toFixed(1)} MB`;
  if (abs >= 1024) return `${sign}${(abs / 1024).toFixed(1)} kB`;
  return `${sign}${abs} B`;
}

/** Counts GC pauses (count and total milliseconds) between its creation and `stop()`. */
export function gcMeter(): { stop(): { count: number; ms: number } } {
  let count = 0;
  let ms = 0;
  const add = (entries: readonly PerformanceEntry[]): void => {
    for (const e of entries) {
      count += 1;
      ms += e.duration;
    }
  };
  const observer = new PerformanceObserver((list) => add(list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  return {
    stop() {
      add(observer.takeRecords());
      observer.disconnect();
      return { count, ms };
    },
  };
}
