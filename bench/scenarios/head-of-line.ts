/**
 * Scenario 2 — head-of-line immunity.
 *
 * 10k fast keys (no-op handler) plus one slow key whose handler takes 50 ms per event, events
 * spread uniformly at random (the slow key gets ~1/10,001 of them). Fast-key throughput is the
 * number of fast events divided by the time until the last fast event finished. The same input
 * without the slow key's events is the reference: ratio with / without, same rounds.
 *
 * Beside it, a serial consumer in the style of pulsar-client's listener (one message at a time,
 * awaiting each handler) on a smaller input where the slow key gets 1/100 of the events, and the
 * exclusive consumer on that same input.
 */
import { MemoryBroker } from '../../src/index.js';
import {
  ackOnReceipt,
  exclusiveConsumer,
  pQueueChain,
  serialLoop,
  type BenchHandler,
  type ContenderFactory,
} from '../contenders/index.js';
import { interleave, pairedRatio, row, series, type Measures, type Scenario } from '../lib/scenario.js';
import { formatRate, freshTopic, gc, gcMeter, now, sleep, until } from '../lib/util.js';
import { countKey, publishWorkload, type Workload } from '../lib/workload.js';
import { prng } from '../lib/util.js';
import { KEYS, MAX_CONCURRENCY, MAX_IN_FLIGHT } from './core.js';

const SLOW_KEY = 'slow';
const SLOW_MS = 50;
/** A gap between two fast completions longer than this counts as a stall of the fast keys. */
const STALL_MS = 5;

/** `events` events: the slow key with probability `slowShare`, else one of `KEYS` fast keys. */
export function holWorkload(events: number, slowShare: number, seed: number): Workload {
  const keys: string[] = [];
  for (let i = 0; i < KEYS; i++) keys.push(`key-${i}`);
  keys.push(SLOW_KEY);
  const encoder = new TextEncoder();
  const payloads = keys.map((key) => encoder.encode(JSON.stringify({ key })));
  const random = prng(seed);
  const sequence = new Int32Array(events);
  for (let i = 0; i < events; i++) {
    sequence[i] = random() < slowShare ? KEYS : Math.floor(random() * KEYS);
  }
  return { keys, payloads, sequence };
}

/**
 * One run: publish (with or without the slow key's events), start, wait for the last fast event;
 * then stop (running slow handlers finish, the slow key's queued events are released unrun).
 */
export async function runHol(
  factory: ContenderFactory,
  workload: Workload,
  withSlow: boolean,
  timeoutMs: number,
  slowAckedOnReceipt = false,
): Promise<Measures> {
  const broker = new MemoryBroker();
  const topic = freshTopic('hol');
  const slowIndex = workload.keys.indexOf(SLOW_KEY);
  const slowTotal = countKey(workload, slowIndex);
  const published = publishWorkload(broker, topic, workload, withSlow ? undefined : (k) => k === slowIndex);
  const fastTotal = published - (withSlow ? slowTotal : 0);

  let fastDone = 0;
  let slowDone = 0;
  let lastFast = 0;
  let stallMs = 0;
  let maxGapMs = 0;
  let began = 0;
  const handler: BenchHandler = async (key) => {
    if (key === SLOW_KEY) {
      await sleep(SLOW_MS);
      slowDone += 1;
      return;
    }
    const t = now();
    const gap = t - lastFast;
    if (gap > maxGapMs) maxGapMs = gap;
    if (gap > STALL_MS) stallMs += gap;
    lastFast = t;
    fastDone += 1;
  };
  const transport = broker.transport();
  const contender = factory({
    transport: slowAckedOnReceipt ? ackOnReceipt(transport, (d) => d.partitionKey === SLOW_KEY) : transport,
    topic,
    maxInFlight: MAX_IN_FLIGHT,
    maxConcurrency: MAX_CONCURRENCY,
    handler,
  });
  gc();
  try {
    const meter = gcMeter();
    began = now();
    lastFast = began;
    await contender.start();
    await until(() => fastDone >= fastTotal, timeoutMs, `the last of ${fastTotal} fast events`);
    const ms = lastFast - began;
    const gcs = meter.stop();
    return {
      fastRate: (fastTotal / ms) * 1000,
      ms,
      fastEvents: fastTotal,
      slowPublished: withSlow ? slowTotal : 0,
      slowDoneMeanwhile: slowDone,
      stallMs,
      maxGapMs,
      gcMs: gcs.ms,
    };
  } finally {
    await contender.stop().catch(() => undefined);
    await broker.close();
  }
}

function describe(_: string, m: Measures): string {
  return (
    `fast ${formatRate(m.fastRate!)} in ${m.ms!.toFixed(0)} ms, slow events ${m.slowDoneMeanwhile}/${m.slowPublished} done meanwhile, ` +
    `longest fast stall ${m.maxGapMs!.toFixed(1)} ms, GC ${m.gcMs!.toFixed(0)} ms`
  );
}

export const headOfLineScenario: Scenario = {
  name: 'hol',
  title: '2. Head-of-line: one 50 ms key among 10k fast keys',
  async run(ctx) {
    const began = now();
    const events = ctx.quick ? 100_000 : 500_000;
    const workload = holWorkload(events, 1 / (KEYS + 1), 2);
    const runs = await interleave(
      ctx,
      ['a-with-slow', 'a-without-slow', 'a-with-slow-acked', 'c-without-slow', 'c-with-slow'] as const,
      (name) =>
        runHol(
          name.startsWith('a-') ? exclusiveConsumer : pQueueChain,
          workload,
          name.includes('-with-slow'),
          60_000,
          name === 'a-with-slow-acked',
        ),
      describe,
    );
    const withSlowAcked = series(runs['a-with-slow-acked'], 'fastRate');
    const withSlow = series(runs['a-with-slow'], 'fastRate');
    const without = series(runs['a-without-slow'], 'fastRate');
    const cWithSlow = series(runs['c-with-slow'], 'fastRate');
    const cWithout = series(runs['c-without-slow'], 'fastRate');

    // The serial listener: one run each (it is slow by design), exclusive consumer on the same input.
    const serialEvents = ctx.quick ? 2_000 : 20_000;
    const serialWorkload = holWorkload(serialEvents, 1 / 100, 3);
    const slowCount = countKey(serialWorkload, KEYS);
    ctx.log(`  serial comparison: ${serialEvents} events, ${slowCount} of them on the slow key (${slowCount * SLOW_MS} ms of slow work)`);
    const side = await interleave(
      { ...ctx, rounds: 1 },
      ['serial-listener', 'exclusive'] as const,
      (name) => runHol(name === 'serial-listener' ? serialLoop : exclusiveConsumer, serialWorkload, true, 60_000),
      describe,
    );
    const serial = side['serial-listener'];
    const excl = side.exclusive;

    return {
      name: 'hol',
      title: this.title,
      params: {
        events,
        fastKeys: KEYS,
        slowHandlerMs: SLOW_MS,
        slowShare: `1/${KEYS + 1}`,
        maxInFlight: MAX_IN_FLIGHT,
        maxConcurrency: MAX_CONCURRENCY,
        rounds: ctx.rounds,
        serialEvents,
        serialSlowShare: '1/100',
      },
      durationMs: now() - began,
      rows: [
        row('hol.without', 'exclusive: fast-key throughput without the slow key', 'events/s', without),
        row('hol.with', 'exclusive: fast-key throughput with the slow key', 'events/s', withSlow),
        row('hol.ratio', 'ratio with / without', 'ratio', pairedRatio(withSlow, without), {
          text: '≥ 0.95×',
          ok: (v) => v >= 0.95,
        }),
        row(
          'hol.slow-progress',
          'exclusive: slow-key events finished while fast keys ran',
          'count',
          series(runs['a-with-slow'], 'slowDoneMeanwhile'),
          undefined,
          `of ${series(runs['a-with-slow'], 'slowPublished')[0]} published on the slow key`,
        ),
        row('hol.with.max-gap', 'exclusive: longest gap between fast completions, with slow key', 'ms', series(runs['a-with-slow'], 'maxGapMs')),
        row('hol.without.gc', 'exclusive: GC pause time until the last fast event, without slow key', 'ms', series(runs['a-without-slow'], 'gcMs')),
        row('hol.with.gc', 'exclusive: GC pause time until the last fast event, with slow key', 'ms', series(runs['a-with-slow'], 'gcMs')),
        row(
          'hol.acked.ratio',
          'diagnostic: ratio with / without, slow-key messages acked at the broker on receipt',
          'ratio',
          pairedRatio(withSlowAcked, without),
          undefined,
          'same input; the memory broker no longer retains every record behind the unacked slow message',
        ),
        row('hol.acked.gc', 'diagnostic: GC pause time, slow key acked on receipt', 'ms', series(runs['a-with-slow-acked'], 'gcMs')),
        row('hol.c.without', 'control, p-queue + chain: fast-key throughput without the slow key', 'events/s', cWithout),
        row('hol.c.with', 'control, p-queue + chain: fast-key throughput with the slow key', 'events/s', cWithSlow),
        row('hol.c.ratio', 'control, p-queue + chain: ratio with / without', 'ratio', pairedRatio(cWithSlow, cWithout)),
        row('hol.serial.rate', `serial listener (${serialEvents} events, slow key 1/100): fast-key throughput`, 'events/s', series(serial, 'fastRate')),
        row('hol.serial.ms', 'serial listener: time until the last fast event', 'ms', series(serial, 'ms')),
        row(
          'hol.serial.stall',
          'serial listener: time fast keys waited (sum of gaps > 5 ms between fast completions)',
          'ms',
          series(serial, 'stallMs'),
        ),
        row('hol.serial.max-gap', 'serial listener: longest gap between fast completions', 'ms', series(serial, 'maxGapMs')),
        row('hol.serial.exclusive.rate', 'exclusive consumer on the same input: fast-key throughput', 'events/s', series(excl, 'fastRate')),
        row('hol.serial.exclusive.ms', 'exclusive consumer on the same input: time until the last fast event', 'ms', series(excl, 'ms')),
        row(
          'hol.serial.exclusive.stall',
          'exclusive consumer on the same input: time fast keys waited (gaps > 5 ms)',
          'ms',
          series(excl, 'stallMs'),
        ),
        row(
          'hol.serial.ratio',
          'ratio exclusive / serial listener, fast-key throughput',
          'ratio',
          pairedRatio(series(excl, 'fastRate'), series(serial, 'fastRate')),
        ),
      ],
      notes: [
        'Fast-key throughput = fast events ÷ time from start() until the last fast event finished; the slow key keeps running after that and is stopped.',
        'The serial listener and the exclusive consumer on the smaller input run once each (the serial one takes seconds by design).',
        'The p-queue + chain control runs the same inputs: a drop it shares with the exclusive consumer comes from the transport, not from the scheduler.',
        "Diagnostic row: a transport wrapper acknowledges the slow key's messages at the broker when they arrive (the consumer still runs them, 50 ms each, with a no-op ack). It isolates the cost of an ack hole in the broker: entries acknowledged behind an unacknowledged slow message are kept as one shared marker each (a pointer), so the ratio matches the run without the hole.",
      ],
    };
  },
};
