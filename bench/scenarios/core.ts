/**
 * Scenario 1 — core pipeline on the memory transport.
 *
 * 10k keys, 1M events (uniformly random keys), no-op handler, messages already published to a fresh
 * topic of a fresh `MemoryBroker` for each run, consumed through the memory transport's
 * subscription. Timed from `start()` until every event was handled and acknowledged.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MemoryBroker } from '../../src/index.js';
import {
  exclusiveConsumer,
  pQueueChain,
  serialLoop,
  type BenchHandler,
  type ContenderFactory,
  type ContenderOptions,
} from '../contenders/index.js';
import { interleave, pairedRatio, row, series, type Measures, type Scenario } from '../lib/scenario.js';
import { formatRate, freshTopic, gc, gcMeter, now, until } from '../lib/util.js';
import { publishWorkload, uniformWorkload } from '../lib/workload.js';

export const KEYS = 10_000;
export const MAX_IN_FLIGHT = 2_000;
export const MAX_CONCURRENCY = 100;

export type Name = 'a-raw' | 'a-json' | 'b-serial' | 'c-pqueue';

interface Spec {
  readonly factory: ContenderFactory;
  readonly options: Partial<ContenderOptions>;
}

const noop: BenchHandler = async () => {};

const SPECS: Readonly<Record<Name, Spec>> = {
  'a-raw': { factory: exclusiveConsumer, options: { codec: 'raw', direct: true } },
  'a-json': { factory: exclusiveConsumer, options: { codec: 'json', direct: true } },
  'b-serial': { factory: serialLoop, options: {} },
  'c-pqueue': { factory: pQueueChain, options: {} },
};

/** Called around the timed window (e.g. to start and stop a CPU profiler). */
export interface RunHooks {
  beforeStart?(): Promise<void> | void;
  afterDone?(): Promise<void> | void;
}

/** One timed run: publish (untimed), GC, then start and wait until all `events` are acknowledged. */
export async function runCore(
  name: Name,
  events: number,
  workload = uniformWorkload(events, KEYS, 1),
  maxInFlight = MAX_IN_FLIGHT,
  hooks: RunHooks = {},
): Promise<Measures> {
  const spec = SPECS[name];
  const broker = new MemoryBroker();
  const topic = freshTopic('core');
  publishWorkload(broker, topic, workload);
  const contender = spec.factory({
    transport: broker.transport(),
    topic,
    maxInFlight,
    maxConcurrency: MAX_CONCURRENCY,
    handler: noop,
    ...spec.options,
  });
  gc();
  try {
    await hooks.beforeStart?.();
    const meter = gcMeter();
    const began = now();
    await contender.start();
    await until(() => contender.acked() >= events, 120_000, `${name} to acknowledge ${events} events`);
    const ms = now() - began;
    const gcs = meter.stop();
    await hooks.afterDone?.();
    if (contender.acked() !== events) throw new Error(`${name} acknowledged ${contender.acked()} of ${events}`);
    return { rate: (events / ms) * 1000, ms, gcMs: gcs.ms, gcCount: gcs.count };
  } finally {
    await contender.stop().catch(() => undefined);
    await broker.close();
  }
}

const ISOLATED = join(dirname(fileURLToPath(import.meta.url)), '..', 'isolated.ts');

/** Run `name` `runs` times in a fresh child process (same node flags), where nothing else ran. */
async function runIsolated(name: Name, events: number, runs: number): Promise<Measures[]> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [...process.execArgv, ISOLATED, name, String(events), String(runs)],
    { timeout: 180_000, maxBuffer: 1 << 20 },
  );
  const lines = stdout.trim().split('\n');
  const out = JSON.parse(lines[lines.length - 1]!) as { rate: number[]; ms: number[]; gcMs: number[] };
  return out.rate.map((rate, i) => ({ rate, ms: out.ms[i]!, gcMs: out.gcMs[i]! }));
}

function gcShare(runs: readonly Measures[]): number[] {
  return pairedRatio(series(runs, 'gcMs'), series(runs, 'ms'));
}

export const coreScenario: Scenario = {
  name: 'core',
  title: '1. Core pipeline (memory transport, 10k keys, no-op handler)',
  async run(ctx) {
    const began = now();
    const events = ctx.quick ? 100_000 : 1_000_000;
    const workload = uniformWorkload(events, KEYS, 1);
    const names: Name[] = ['b-serial', 'a-raw', 'c-pqueue', 'a-json'];
    const runs = await interleave(ctx, names, (name) => runCore(name, events, workload), (_, m) =>
      `${formatRate(m.rate!)} (${m.ms!.toFixed(0)} ms, GC ${m.gcMs!.toFixed(0)} ms in ${m.gcCount} pauses)`,
    );

    // The same a and c, each in a fresh process (nothing else compiled or run in it), interleaved
    // by process: for information, next to the in-process figures above.
    ctx.log('  fresh processes:');
    const fresh = { a: [] as Measures[], c: [] as Measures[] };
    const freshRounds = ctx.quick ? 1 : 2;
    const freshRuns = 2;
    for (let round = 0; round < freshRounds; round++) {
      for (const [key, name] of [
        ['a', 'a-raw'],
        ['c', 'c-pqueue'],
      ] as const) {
        try {
          const ms = await runIsolated(name, events, freshRuns);
          fresh[key].push(...ms);
          ctx.log(`  round ${round + 1} ${name} (fresh process): ${ms.map((m) => formatRate(m.rate!)).join(', ')}`);
        } catch (error) {
          ctx.log(`  round ${round + 1} ${name} (fresh process): ERROR ${error instanceof Error ? error.message : String(error)}`);
          for (let i = 0; i < freshRuns; i++) fresh[key].push({});
        }
      }
    }

    const a = series(runs['a-raw'], 'rate');
    const aj = series(runs['a-json'], 'rate');
    const b = series(runs['b-serial'], 'rate');
    const c = series(runs['c-pqueue'], 'rate');
    return {
      name: 'core',
      title: this.title,
      params: { events, keys: KEYS, maxInFlight: MAX_IN_FLIGHT, maxConcurrency: MAX_CONCURRENCY, rounds: ctx.rounds },
      durationMs: now() - began,
      rows: [
        row('core.a', 'a. exclusive consumer, rawCodec', 'events/s', a, {
          text: '≥ 1,000,000 ev/s',
          ok: (v) => v >= 1_000_000,
        }),
        row('core.a-json', "a'. exclusive consumer, default JSON codec", 'events/s', aj, undefined, 'for information'),
        row('core.b', 'b. bare serial async loop (raw subscription)', 'events/s', b, undefined, 'floor of per-message cost'),
        row('core.c', 'c. p-queue(100) + per-key promise chain', 'events/s', c),
        row('core.a/c', 'ratio a / c', 'ratio', pairedRatio(a, c), { text: '≥ 1.5×', ok: (v) => v >= 1.5 }),
        row('core.a/b', 'ratio a / b', 'ratio', pairedRatio(a, b), undefined, 'share of the bare floor kept'),
        row('core.a-json/a', "ratio a' / a (JSON decode cost)", 'ratio', pairedRatio(aj, a)),
        row(
          'core.fresh.a',
          'a in a fresh process (nothing else run in it)',
          'events/s',
          series(fresh.a, 'rate'),
          undefined,
          `${freshRounds}×${freshRuns} runs, for information`,
        ),
        row('core.fresh.c', 'c in a fresh process', 'events/s', series(fresh.c, 'rate')),
        row('core.fresh.a/c', 'ratio a / c, fresh processes', 'ratio', pairedRatio(series(fresh.a, 'rate'), series(fresh.c, 'rate'))),
        row('core.a.gc', 'a: share of the timed window spent in GC pauses', 'share', gcShare(runs['a-raw'])),
        row('core.b.gc', 'b: share of the timed window spent in GC pauses', 'share', gcShare(runs['b-serial'])),
        row('core.c.gc', 'c: share of the timed window spent in GC pauses', 'share', gcShare(runs['c-pqueue'])),
      ],
      notes: [
        'Ratios are computed per round (contenders run back to back) and then summarized.',
        'Targets are judged on the in-process interleaved figures (a, c). The fresh-process rows show the same contenders where no other contender ran first: sharing a process with earlier runs costs some 10–25%, because optimized broker/engine code is thrown away as earlier instances die and re-optimized more generically (node --trace-deopt: "weak objects", "code dependencies"), see bench/README.md.',
        `Every contender uses receiverQueueSize = ${MAX_IN_FLIGHT} on a Key_Shared subscription; a and c run up to ${MAX_CONCURRENCY} handlers at once, b one.`,
      ],
    };
  },
};
