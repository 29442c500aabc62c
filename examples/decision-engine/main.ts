/**
 * The decision engine of the article, on the embedded broker or a live Pulsar broker: thousands of
 * shoppers, a topic with four partitions, four consumers plus one joining mid-run, in each
 * subscription mode in turn.
 *
 *   npm start                      # ~6,000 events per mode
 *   npm start -- --quick           # ~1,500 events per mode
 *   npm start -- --events 20000
 *   npm start -- --pulsar http://127.0.0.1:8080   # a live broker, over its WebSocket API
 */
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import type { ConsumerMode } from '../../src/index.js';
import { memoryBackend, pulsarBackend, type Backend } from './backend.js';
import { conclusions, details, table } from './report.js';
import {
  CONSUMERS,
  FAILOVER_DELAY_MS,
  LEASE_TTL_MS,
  PARTITIONS,
  SLOW_EVENT_MS,
  STALL_MS,
  runScenario,
  type ScenarioResult,
} from './scenario.js';
import { makeWorkload, thinOut, type Workload } from './workload.js';

const USAGE = `Usage: npm start -- [--quick] [--events N] [--pulsar <url>]

  --quick         a smaller run (~1,500 events per mode)
  --events N      events per mode (default 6000; the serial row gets a quarter of them)
  --pulsar <url>  run on a live Pulsar broker: its HTTP URL (admin and WebSocket API), e.g.
                  http://127.0.0.1:8080 (scripts/pulsar/pulsar.sh start runs one); a fresh
                  partitioned topic per mode, deleted afterwards
  --help          this text`;

/** Offered load: the default run publishes 6,000 events in 1.2 s… */
const EVENTS_PER_MS = 5;
/** …and no run publishes in less than this, so that the slow shopper's events do not pile up. */
const MIN_PUBLISH_MS = 600;
/** The serial row keeps one shopper in this many: it is the slow row, and it says so. */
const SERIAL_THIN = 4;
/** When the fifth consumer joins, as a fraction of the publish window. */
const JOIN_AT = 0.4;
/** When the outbox's first dispatcher dies with sends in flight (fenced modes). */
const CRASH_AT = 0.5;

function fail(message: string, code = 2): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

function options(): { events: number; pulsar: string | undefined } {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        events: { type: 'string' },
        pulsar: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    fail(`${(error as Error).message}\n\n${USAGE}`);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (v.pulsar !== undefined && !/^(https?|wss?):\/\/[^/]+/.test(v.pulsar)) {
    fail(`--pulsar: expected the broker's HTTP URL (admin and WebSocket API), e.g. http://127.0.0.1:8080, got ${v.pulsar}`);
  }
  let events = v.quick ? 1500 : 6000;
  if (v.events !== undefined) {
    const n = Number(v.events);
    if (!Number.isSafeInteger(n) || n < 100 || n > 1_000_000) fail(`--events: expected an integer from 100 to 1000000, got ${v.events}`);
    events = n;
  }
  return { events, pulsar: v.pulsar };
}

interface Row {
  readonly label: string;
  readonly mode: ConsumerMode;
  readonly maxConcurrency: number;
  readonly workload: Workload;
}

async function main(): Promise<void> {
  const { events, pulsar } = options();
  let backend: Backend = memoryBackend(FAILOVER_DELAY_MS);
  if (pulsar !== undefined) {
    try {
      backend = await pulsarBackend(pulsar);
    } catch (error) {
      fail(`--pulsar ${pulsar}: the broker does not answer (${(error as Error).message}). Start one with scripts/pulsar/pulsar.sh start.`);
    }
  }
  const workload = makeWorkload(events, Math.max(MIN_PUBLISH_MS, Math.round(events / EVENTS_PER_MS)));
  const serialWorkload = thinOut(workload, SERIAL_THIN);
  const rows: Row[] = [
    { label: 'shared', mode: 'shared', maxConcurrency: 100, workload },
    { label: 'shared-locked', mode: 'shared-locked', maxConcurrency: 100, workload },
    { label: 'failover', mode: 'failover', maxConcurrency: 100, workload },
    { label: 'key-shared', mode: 'key-shared', maxConcurrency: 100, workload },
    { label: 'failover, serial', mode: 'failover', maxConcurrency: 1, workload: serialWorkload },
  ];

  const out = (line = ''): void => void process.stdout.write(`${line}\n`);
  out('Decision engine: "should we message this shopper now?" — at most one message per shopper.');
  out(
    `${workload.shoppers.toLocaleString('en-US')} shoppers, ${workload.events.toLocaleString('en-US')} events in bursts, ` +
      `published over ${(workload.publishMs / 1000).toFixed(1)} s to a topic with ${PARTITIONS} partitions; ` +
      `${CONSUMERS} consumers per mode, a 5th joins at ${JOIN_AT * 100}% of the way; on ${backend.description}.`,
  );
  out(
    `One slow shopper (${SLOW_EVENT_MS} ms per event); ${workload.stalledShoppers.size} shoppers stall ${STALL_MS} ms ` +
      `between reading their state and writing the decision (in shared-locked their ${LEASE_TTL_MS} ms lease expires ` +
      `meanwhile, as in a GC pause longer than the lease); failover hand-over delay ${backend.failoverDelayMs} ms.`,
  );
  out(
    `In the fenced modes the decision and its message commit together to the fenced outbox (MemoryOutbox), and a dispatcher ` +
      `sends from it to a gateway that deduplicates by idempotency key; at ${CRASH_AT * 100}% of the way the dispatcher dies with ` +
      `sends in flight and a second one takes over, and the gateway refuses 1 message in 25 on its first attempt.`,
  );
  out(
    `"failover, serial" is one key at a time per consumer (a pulsar-client listener), on every ${SERIAL_THIN}th shopper ` +
      `(${serialWorkload.events.toLocaleString('en-US')} events) at the same rate.`,
  );
  out();

  const results: ScenarioResult[] = [];
  const began = performance.now();
  for (const row of rows) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `${row.label.padEnd(16)} |{bar}| {value}/{total} events | {duration_formatted}`,
        barsize: 30,
        hideCursor: true,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    try {
      results.push(
        await runScenario({
          label: row.label,
          backend,
          mode: row.mode,
          maxConcurrency: row.maxConcurrency,
          workload: row.workload,
          joinAt: JOIN_AT,
          crashAt: CRASH_AT,
          timeoutMs: 60_000,
          onStart: () => {
            started = true;
            bar.start(row.workload.events, 0);
          },
          onProgress: (settled) => {
            if (started) bar.update(settled);
          },
        }),
      );
    } finally {
      if (started) bar.stop();
    }
  }
  const totalS = (performance.now() - began) / 1000;

  out();
  out(table(results));
  out(
    'violations: overlapping runs of one shopper seen by the exclusivity counter (one store for all consumers); ' +
      'latency: publish → decision recorded; fast-key wait: publish → handler start, for every shopper but the slow and stalled ones; ' +
      'duplicate sends: messages a shopper received beyond the first (distinct idempotency keys the gateway accepted).',
  );
  out();
  out(details(results));
  out();
  for (const line of conclusions(results)) out(`- ${line}`);
  out();

  // Nothing lost, everything stopped: the run fails loudly otherwise.
  const problems: string[] = [];
  for (const r of results) {
    if (r.lost > 0) {
      problems.push(
        `${r.spec.label}: ${r.lost} of ${r.published} events were neither handled nor dead-lettered` +
          (r.onlyFencedOff > 0
            ? ` (${r.onlyFencedOff} of them ran only in runs whose fenced write was rejected, so their decision was never recorded)`
            : ''),
      );
    }
    if (r.timedOut) problems.push(`${r.spec.label}: events still unsettled after 60 s`);
    if (r.dispatch !== undefined) {
      if (r.duplicateSends > 0) problems.push(`${r.spec.label}: ${r.duplicateSends} duplicate sends through the fenced outbox`);
      if (r.pendingEffects > 0) problems.push(`${r.spec.label}: ${r.pendingEffects} committed messages never sent`);
      if (r.dispatch.deadLettered > 0) problems.push(`${r.spec.label}: ${r.dispatch.deadLettered} messages dead-lettered by the dispatcher`);
    }
    if (!r.stoppedGracefully) problems.push(`${r.spec.label}: a consumer did not stop gracefully (${JSON.stringify(r.stopReports)})`);
    if (r.published !== r.spec.workload.events) problems.push(`${r.spec.label}: published ${r.published} of ${r.spec.workload.events}`);
    for (const e of r.errors) problems.push(`${r.spec.label}: consumer error: ${e}`);
  }
  const handled = results.reduce((sum, r) => sum + r.published - r.deadLettered, 0);
  const dead = results.reduce((sum, r) => sum + r.deadLettered, 0);
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`FAILED: ${p}\n`);
    process.exitCode = 1;
    return;
  }
  const reports = results.flatMap((r) => r.stopReports);
  const slowestStop = Math.max(...reports.map((r) => r.durationMs));
  const released = reports.reduce((sum, r) => sum + r.released, 0);
  out(
    `Checked: all ${results.reduce((s, r) => s + r.published, 0).toLocaleString('en-US')} published events were handled ` +
      `(${handled.toLocaleString('en-US')}) or dead-lettered (${dead}); all ${reports.length} consumers stopped gracefully ` +
      `(slowest stop() ${slowestStop.toFixed(1)} ms, ${released} messages released, none abandoned). Total ${totalS.toFixed(1)} s.`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
