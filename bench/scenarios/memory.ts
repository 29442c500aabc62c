/**
 * Scenario 3 — memory with 1M distinct keys.
 *
 * 1M events, each with a key never seen before, fed through the exclusive consumer. A feeder
 * publishes in slices while the consumer runs, keeping at most `AHEAD` events unconsumed, so the
 * broker's backlog stays small and what is measured is the consumer's own footprint: per-key state
 * must go away once a key is idle.
 *
 * heapUsed is read after a forced GC at start (consumer subscribed, nothing published), sampled
 * every 50 ms during the run (no GC: the peak includes garbage not yet collected), and read after
 * a forced GC at the end (everything acknowledged, consumer still running), then again after stop.
 */
import { MemoryBroker } from '../../src/index.js';
import { exclusiveConsumer, type Contender } from '../contenders/index.js';
import { row, type Measures, type Scenario } from '../lib/scenario.js';
import { formatBytes, formatRate, freshTopic, heapAfterGc, now, tick, until } from '../lib/util.js';
import { MAX_CONCURRENCY, MAX_IN_FLIGHT } from './core.js';

/** Most events published and not yet acknowledged. */
const AHEAD = 20_000;
const SLICE = 5_000;
const SAMPLE_MS = 50;

const payload = new TextEncoder().encode('{}');
const noop = async (): Promise<void> => {};

async function feedAndMeasure(events: number, label: string): Promise<Measures> {
  const broker = new MemoryBroker();
  const topic = freshTopic(`mem-${label}`);
  broker.createTopic(topic);
  const contender: Contender = exclusiveConsumer({
    transport: broker.transport(),
    topic,
    maxInFlight: MAX_IN_FLIGHT,
    maxConcurrency: MAX_CONCURRENCY,
    handler: noop,
    codec: 'raw',
    direct: true,
  });
  try {
    await contender.start();
    await tick();
    const start = heapAfterGc();
    let peak = start;
    const sampler = setInterval(() => {
      const used = process.memoryUsage().heapUsed;
      if (used > peak) peak = used;
    }, SAMPLE_MS);
    let published = 0;
    const began = now();
    try {
      await until(
        () => {
          // Feed: keep up to AHEAD events unconsumed, a slice at a time, each with a new key.
          const acked = contender.acked();
          while (published < events && published - acked < AHEAD) {
            const end = Math.min(events, published + SLICE);
            for (; published < end; published++) broker.publish(topic, { data: payload, partitionKey: `k-${published}` });
          }
          return acked >= events;
        },
        120_000,
        `${events} events with distinct keys`,
      );
    } finally {
      clearInterval(sampler);
    }
    const ms = now() - began;
    const used = process.memoryUsage().heapUsed;
    if (used > peak) peak = used;
    const end = heapAfterGc();
    await contender.stop();
    await broker.close();
    const afterStop = heapAfterGc();
    return {
      start,
      peak,
      end,
      afterStop,
      endDelta: end - start,
      peakDelta: peak - start,
      afterStopDelta: afterStop - start,
      rate: (events / ms) * 1000,
      ms,
    };
  } finally {
    await contender.stop().catch(() => undefined);
    await broker.close();
  }
}

export const memoryScenario: Scenario = {
  name: 'memory',
  title: '3. Memory: 1M events with 1M distinct keys',
  async run(ctx) {
    const began = now();
    const events = ctx.quick ? 100_000 : 1_000_000;
    const rounds = ctx.quick ? 1 : 3;
    // Warm-up, so that code compiled during the first run does not count as growth.
    await feedAndMeasure(Math.min(events, 50_000), 'warmup');
    const runs: Measures[] = [];
    for (let i = 0; i < rounds; i++) {
      let m: Measures = {};
      try {
        m = await feedAndMeasure(events, String(i));
        ctx.log(
          `  run ${i + 1}: start ${formatBytes(m.start!)}, peak +${formatBytes(m.peakDelta!)}, end ${formatBytes(m.endDelta!)}, ` +
            `after stop ${formatBytes(m.afterStopDelta!)}, ${formatRate(m.rate!)}`,
        );
      } catch (error) {
        ctx.log(`  run ${i + 1}: ERROR ${error instanceof Error ? error.message : String(error)}`);
      }
      runs.push(m);
    }
    const s = (key: string): number[] => runs.map((m) => m[key] ?? Number.NaN);
    const endDeltas = s('endDelta');
    const worst = Math.max(...endDeltas);
    return {
      name: 'memory',
      title: this.title,
      params: { events, distinctKeys: events, feederAhead: AHEAD, maxInFlight: MAX_IN_FLIGHT, maxConcurrency: MAX_CONCURRENCY, runs: rounds },
      durationMs: now() - began,
      rows: [
        row('mem.start', 'heapUsed at start (after GC)', 'bytes', s('start')),
        row('mem.peak', 'peak heapUsed − start (sampled every 50 ms, no GC)', 'bytes', s('peakDelta')),
        row(
          'mem.end',
          'heapUsed at end (after GC, consumer running) − start',
          'bytes',
          endDeltas,
          { text: '≤ 10 MB (every run)', ok: () => Number.isFinite(worst) && worst <= 10 * 1024 * 1024 },
        ),
        row('mem.after-stop', 'heapUsed after stop and broker close (after GC) − start', 'bytes', s('afterStopDelta')),
        row('mem.rate', 'throughput with 1M distinct keys', 'events/s', s('rate'), undefined, 'feeder publishes while consuming'),
      ],
      notes: [
        `A feeder publishes slices of ${SLICE.toLocaleString('en-US')} events, keeping at most ${AHEAD.toLocaleString('en-US')} unacknowledged, so the broker's backlog stays bounded and the figures are the consumer's footprint.`,
        'The end target is judged on the worst run, not the median.',
      ],
    };
  },
};
