/**
 * Scenario 7 — churn on a real Pulsar broker, per transport: what reconnects cost.
 *
 * Three consumer processes on a 4-partition topic, 1,000 keys, events published at 2,000/s, every
 * handler appending its event to the key's fenced state in Redis (the churn test's harness,
 * test/pulsar/churn/driver.ts). Side by side in one run:
 * - **steady**: no fault;
 * - **unloads**: eight topic unloads one second apart (the load manager's routine bundle moves);
 *   repeated handler runs per unload, with the consumers' record of completed messages and without
 *   it (`rememberCompleted: 0`, what the consumer did before it had one);
 * - **pauses** (`shared-locked`, 50 hot keys, 20 ms handlers): one of the three consumers stopped
 *   with SIGSTOP for 8 s, twice; the time to handle everything against the same run without pauses.
 * Also counted: per-key order breaks, events lost, and keys whose fenced state is wrong.
 * The pulsar-client transport runs where its native addon loads.
 */
import { createRequire } from 'node:module';
import type { ConsumerMode } from '../../src/index.js';
import { runChurn, type ChurnOptions, type ChurnResult, type Fault } from '../../test/pulsar/churn/driver.js';
import type { Row } from '../lib/report.js';
import { row, type Scenario } from '../lib/scenario.js';
import { now } from '../lib/util.js';

type Transport = ChurnOptions['transport'];

async function brokerUnavailable(url: string): Promise<string | undefined> {
  try {
    const response = await fetch(`${url}/admin/v2/namespaces/public/default`, { signal: AbortSignal.timeout(2000) });
    return response.ok ? undefined : `${url} answered ${response.status}`;
  } catch (error) {
    return `no Pulsar broker at ${url} (${(error as Error).message}); start one with scripts/pulsar/pulsar.sh start`;
  }
}

function nativeLoads(): boolean {
  try {
    createRequire(import.meta.url)('pulsar-client');
    return true;
  } catch {
    return false;
  }
}

export const churnScenario: Scenario = {
  name: 'churn',
  title: '7. Churn on real Pulsar: repeats per topic unload, recovery after pauses, per transport',
  async run(ctx) {
    const began = now();
    const webUrl = process.env.EC_PULSAR_WEB_URL ?? 'http://127.0.0.1:8080';
    const serviceUrl = process.env.EC_PULSAR_SERVICE_URL ?? 'pulsar://127.0.0.1:6650';
    const redisUrl = process.env.EC_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
    const events = ctx.quick ? 6_000 : 20_000;
    const unloads = ctx.quick ? 3 : 8;
    const params = { broker: webUrl, events, ratePerSecond: 2000, keys: 1000, partitions: 4, consumers: 3, unloads };
    const unavailable = await brokerUnavailable(webUrl);
    if (unavailable !== undefined) {
      ctx.log(`  skipped: ${unavailable}`);
      return { name: 'churn', title: this.title, params, rows: [], notes: [`Skipped: ${unavailable}.`], durationMs: now() - began };
    }
    const transports: Transport[] = nativeLoads() ? ['websocket', 'native'] : ['websocket'];
    const base = (transport: Transport, mode: ConsumerMode, faults: readonly Fault[]): ChurnOptions => ({
      transport,
      mode,
      webUrl,
      serviceUrl,
      redisUrl,
      events,
      ratePerSecond: 2000,
      keys: 1000,
      partitions: 4,
      workers: 3,
      handlerMs: 1,
      faults,
      drainTimeoutMs: 180_000,
    });
    const unloadFaults: Fault[] = Array.from({ length: unloads }, (_, i) => ({ atMs: 500 + i * 1000, do: 'unload' as const }));
    const pauseFaults: Fault[] = ctx.quick
      ? [{ atMs: 1000, do: 'pause', worker: 0, forMs: 3000 }]
      : [
          { atMs: 1000, do: 'pause', worker: 0, forMs: 8000 },
          { atMs: 10_000, do: 'pause', worker: 0, forMs: 8000 },
        ];
    const describe = (label: string, r: ChurnResult, ms: number): void =>
      ctx.log(
        `  ${label}: ${Math.round(ms)} ms, repeats ${r.repeatedRuns}, order breaks ${r.report.orderViolations.length}, lost ${r.report.lost.length}, ` +
          `fenced wrong ${r.fenced.missing + r.fenced.duplicated + r.fenced.outOfOrder}, drain ${Number.isFinite(r.drainMs) ? `${r.drainMs} ms` : 'never'}`,
      );
    const timed = async (label: string, options: ChurnOptions): Promise<{ r: ChurnResult; ms: number }> => {
      const t0 = now();
      const r = await runChurn(options);
      const ms = now() - t0;
      describe(label, r, ms);
      return { r, ms };
    };

    const rows: Row[] = [];
    for (const t of transports) {
      const steady = await timed(`${t} key-shared, steady`, base(t, 'key-shared', []));
      const churned = await timed(`${t} key-shared, ${unloads} unloads`, base(t, 'key-shared', unloadFaults));
      const forgetful = await timed(`${t} key-shared, ${unloads} unloads, rememberCompleted 0`, {
        ...base(t, 'key-shared', unloadFaults),
        rememberCompleted: 0,
      });
      const wrong = (r: ChurnResult): number => r.fenced.missing + r.fenced.duplicated + r.fenced.outOfOrder;
      rows.push(
        row(`churn.${t}.steady.repeats`, `${t}: repeated runs without faults`, 'count', [steady.r.repeatedRuns]),
        row(`churn.${t}.unload.repeats`, `${t}: repeated runs per topic unload`, 'count', [churned.r.repeatedRuns / unloads], {
          text: '≤ 100',
          ok: (v) => v <= 100,
        }),
        row(
          `churn.${t}.unload.repeats-forgetful`,
          `${t}: repeated runs per topic unload, without the record of completions (rememberCompleted: 0)`,
          'count',
          [forgetful.r.repeatedRuns / unloads],
        ),
        row(`churn.${t}.unload.order`, `${t}: per-key order breaks across the unloads`, 'count', [churned.r.report.orderViolations.length], {
          text: '0',
          ok: (v) => v === 0,
        }),
        row(`churn.${t}.unload.lost`, `${t}: events lost, or wrong in the fenced state`, 'count', [churned.r.report.lost.length + wrong(churned.r)], {
          text: '0',
          ok: (v) => v === 0,
        }),
        row(`churn.${t}.unload/steady`, `${t}: time with the unloads / time without`, 'ratio', [churned.ms / steady.ms]),
      );

      const hot = (faults: readonly Fault[]): ChurnOptions => ({ ...base(t, 'shared-locked', faults), keys: 50, handlerMs: 20 });
      const calm = await timed(`${t} shared-locked, 50 hot keys`, hot([]));
      const paused = await timed(`${t} shared-locked, 50 hot keys, SIGSTOP`, hot(pauseFaults));
      rows.push(
        row(`churn.${t}.pause.total`, `${t}: shared-locked, 50 hot keys, handling everything with the pauses`, 'ms', [paused.ms]),
        row(`churn.${t}.pause.calm`, `${t}: the same without the pauses`, 'ms', [calm.ms]),
        row(`churn.${t}.pause.drain`, `${t}: drain after the last pause ended (given-back messages back)`, 'ms', [paused.r.drainMs], {
          text: '≤ 5,000 ms',
          ok: (v) => v <= 5000,
        }),
        row(`churn.${t}.pause.lost`, `${t}: events lost, or wrong in the fenced state, with the pauses`, 'count', [paused.r.report.lost.length + paused.r.fenced.missing + paused.r.fenced.duplicated], {
          text: '0',
          ok: (v) => v === 0,
        }),
      );
    }
    return {
      name: 'churn',
      title: this.title,
      params,
      rows,
      notes: [
        'Each figure is one run (a churn run takes tens of seconds); repeats are successful handler runs of an event that had already succeeded.',
        'The record of completions lets a consumer acknowledge a message that comes back after its acknowledgement was lost with a connection, instead of running it again.',
        transports.includes('native') ? 'pulsar-client: the native addon built from source for this run.' : 'pulsar-client: not run (its native addon does not load here).',
      ],
      durationMs: now() - began,
    };
  },
};
