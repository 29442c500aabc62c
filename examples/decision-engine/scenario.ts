/**
 * One row of the table: a fresh topic (on a fresh embedded broker, or on a live Pulsar broker), four
 * consumers on one subscription plus one joining mid-run, the shoppers' events published on
 * schedule, then a graceful stop and the bookkeeping.
 */
import { setImmediate, setTimeout as sleep } from 'node:timers/promises';
import {
  MemoryCounterStore,
  MemoryLock,
  MemoryOutbox,
  createExclusiveConsumer,
  createProducer,
  exclusivityCounter,
  type ConsumerMode,
  type ExclusiveConsumer,
  type StopReport,
} from '../../src/index.js';
import type { Backend } from './backend.js';
import { PlainStore, decisionEngine, type Send, type ShopperState } from './decision.js';
import { Dispatch, Gateway, type DispatchReport } from './gateway.js';
import { eventsPerShopper, type Burst, type ShopperEvent, type Workload } from './workload.js';

export const SUBSCRIPTION = 'decision-engine';
export const PARTITIONS = 4;
export const CONSUMERS = 4;
/** Failover hand-over delay of the embedded broker (Pulsar's default is 1 s; the runs are short). */
export const FAILOVER_DELAY_MS = 150;
/** Lease of `shared-locked` (renewed every third of it); a stall expires it on purpose. */
export const LEASE_TTL_MS = 150;
/** A stalled shopper's first event pauses this long between reading and writing. */
export const STALL_MS = 80;
/** Every event of the slow shopper takes this long. */
export const SLOW_EVENT_MS = 100;

export interface ScenarioSpec {
  /** Row label. */
  readonly label: string;
  /** The broker the row runs on. */
  readonly backend: Backend;
  readonly mode: ConsumerMode;
  /** Keys handled at once per consumer (1: a serial listener, as pulsar-client's). */
  readonly maxConcurrency: number;
  readonly workload: Workload;
  /** When the fifth consumer joins, as a fraction of the publish window. */
  readonly joinAt: number;
  /** When the outbox's first dispatcher dies (fenced modes), as a fraction of the publish window. */
  readonly crashAt: number;
  readonly timeoutMs: number;
  /** The consumers are up; publishing starts. */
  readonly onStart?: () => void;
  /** Progress: events settled so far. */
  readonly onProgress?: (settled: number) => void;
}

export interface ScenarioResult {
  readonly spec: ScenarioSpec;
  readonly published: number;
  /** From the first publish to the last event handled. */
  readonly elapsedMs: number;
  /** From the last publish to the last event handled: how far behind the consumers ended. */
  readonly drainMs: number;
  /** From the first publish to the last. */
  readonly publishedInMs: number;
  readonly eventsPerSecond: number;
  /** Publishing rate of the workload. */
  readonly offeredPerSecond: number;
  /** Shoppers whose events reach the send threshold: each should get exactly one message. */
  readonly shouldMessage: number;
  readonly violations: number;
  /** Messages shoppers received: distinct idempotency keys the gateway accepted. */
  readonly sends: number;
  /** Calls to the gateway, repeats and refused ones included. */
  readonly gatewayCalls: number;
  /** Accepted calls beyond the first of their idempotency key: deduplicated by the gateway. */
  readonly repeatsDeduped: number;
  /** Messages received beyond the first per shopper. */
  readonly duplicateSends: number;
  readonly shoppersMessagedTwice: number;
  /** Shoppers that should have been messaged and were not (lost updates hide the intent). */
  readonly missedSends: number;
  /** Shoppers whose final state is missing some of their events (lost updates). */
  readonly lostUpdates: number;
  /** Commits the outbox rejected as stale (`undefined` in naive mode: nothing checks). */
  readonly staleRejected: number | undefined;
  /** The outbox's dispatch, with its fault phase (`undefined` in naive mode: no outbox). */
  readonly dispatch: DispatchReport | undefined;
  /** Effects still pending after the row (must be 0). */
  readonly pendingEffects: number;
  /** Events whose only ending was a fenced-off run (their effect comes from the key's new owner). */
  readonly onlyFencedOff: number;
  readonly handlerRuns: number;
  /** Handler runs beyond one per event: retries and events handled twice (redeliveries). */
  readonly redundantRuns: number;
  readonly retries: number;
  readonly deadLettered: number;
  /**
   * Events neither handled (their decision recorded by some run) nor dead-lettered. Must be 0.
   * An event whose every run was fenced off counts here: its effect never happened.
   */
  readonly lost: number;
  readonly latencyP50: number;
  readonly latencyP99: number;
  /** Handler start − publish, over the shoppers that are neither slow nor stalled. */
  readonly fastWaitP99: number;
  readonly stopReports: readonly StopReport[];
  readonly stoppedGracefully: boolean;
  readonly errors: readonly string[];
  /** Failed handler attempts by error name. */
  readonly failures: ReadonlyMap<string, number>;
  /** The run did not settle within `timeoutMs`. */
  readonly timedOut: boolean;
}

/** Nearest-rank percentile of `values` (NaN when empty). */
export function percentile(values: Float64Array | number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export async function runScenario(spec: ScenarioSpec): Promise<ScenarioResult> {
  const w = spec.workload;
  const row = await spec.backend.open(spec.label, PARTITIONS);
  const topic = row.topic;
  const fenced = spec.mode !== 'shared';

  // ---- bookkeeping, by event index
  const n = w.events;
  const publishedAt = new Float64Array(n).fill(Number.NaN);
  const firstStart = new Float64Array(n).fill(Number.NaN);
  const doneAt = new Float64Array(n).fill(Number.NaN);
  const decided = new Uint16Array(n);
  const fencedOff = new Uint16Array(n);
  const fast = new Uint8Array(n);
  const byMessageId = new Map<string, number>();
  let runs = 0;
  let settled = 0;
  const gateway = new Gateway();
  let naiveSends = 0;
  const errors: string[] = [];
  const failures = new Map<string, number>();
  const finish = (event: ShopperEvent, at: number): void => {
    if (Number.isNaN(doneAt[event.n]!)) {
      doneAt[event.n] = at;
      settled += 1;
    }
  };

  // ---- one of each per mode, shared by every consumer of the mode
  const counterStore = new MemoryCounterStore();
  const lock = new MemoryLock();
  const plain = new PlainStore();
  const outbox = new MemoryOutbox<ShopperState, Send>();
  const dispatch = fenced ? new Dispatch(outbox, gateway) : undefined;
  const handler = decisionEngine({
    writes: fenced ? 'fenced' : 'naive',
    plain,
    outbox,
    lock: spec.mode === 'shared-locked' ? lock : undefined,
    slowShopper: w.slowShopper,
    slowEventMs: SLOW_EVENT_MS,
    stalledShoppers: w.stalledShoppers,
    stallMs: STALL_MS,
    hooks: {
      started(event, at) {
        runs += 1;
        if (Number.isNaN(firstStart[event.n]!)) firstStart[event.n] = at;
      },
      decided(event, at) {
        decided[event.n] = decided[event.n]! + 1;
        finish(event, at);
      },
      fencedOff(event, at) {
        fencedOff[event.n] = fencedOff[event.n]! + 1;
        finish(event, at);
      },
      send(send, via) {
        // Fenced: the dispatcher sends from the outbox. Naive: each call is its own message, and
        // nothing ties two sends of one decision together.
        if (via === 'outbox') return;
        naiveSends += 1;
        gateway.accept(`${send.consumer}:${send.eventId}:${naiveSends}`, send, send.consumer);
      },
    },
  });

  const deadLetteredIds = new Set<string>();
  const makeConsumer = (name: string): ExclusiveConsumer => {
    const consumer = createExclusiveConsumer<ShopperEvent>(
      topic,
      (event) => event.shopperId,
      async (event, ctx) => {
        byMessageId.set(ctx.message.id, event.n);
        await handler(event, ctx);
      },
      {
        transport: row.transport(),
        mode: spec.mode,
        subscription: SUBSCRIPTION,
        consumerName: name,
        initialPosition: 'earliest',
        maxConcurrency: spec.maxConcurrency,
        middleware: [exclusivityCounter({ store: counterStore })],
        retry: { maxAttempts: 6, initialDelayMs: 20, maxDelayMs: 500 },
        nackRedeliveryDelayMs: 100,
        ...(spec.mode === 'shared-locked' ? { lock, lease: { ttlMs: LEASE_TTL_MS } } : {}),
        ...(fenced && spec.mode !== 'shared-locked' ? { tokenSource: lock } : {}),
      },
    );
    consumer.on('message.dead-lettered', ({ messageId }) => {
      if (deadLetteredIds.has(messageId)) return;
      deadLetteredIds.add(messageId);
      const index = byMessageId.get(messageId);
      if (index !== undefined && Number.isNaN(doneAt[index]!)) settled += 1;
    });
    consumer.on('message.failed', ({ error }) => {
      failures.set(error.name, (failures.get(error.name) ?? 0) + 1);
    });
    consumer.on('error', ({ error, phase }) => {
      if (errors.length < 20) errors.push(`${name} ${phase}: ${error.message}`);
    });
    return consumer;
  };

  // Pulsar orders Failover consumers by name: the newcomer sorts first, so every partition changes
  // hands when it joins (the usual case with generated pod names), which is the window to watch.
  const consumers: ExclusiveConsumer[] = [];
  for (let i = 1; i <= CONSUMERS; i++) consumers.push(makeConsumer(`decider-${i}`));
  await Promise.all(consumers.map((c) => c.start()));
  // Failover: the first consumer to connect is active on every partition until the hand-over delay
  // has passed; start from the settled assignment, so that the window measured is the scale-up's.
  if (spec.mode === 'failover') await sleep(spec.backend.failoverDelayMs + (spec.backend.failoverDelayMs >= 1000 ? 300 : 50));
  await setImmediate(); // let the library's start-up warnings reach stderr before the progress bar
  spec.onStart?.();

  // ---- publish on schedule, the newcomer joining on the way
  const producer = createProducer<ShopperEvent>({ transport: row.transport(), topic, key: (event) => event.shopperId });
  const t0 = performance.now();
  let joined: Promise<void> | undefined;
  const joinAtMs = spec.joinAt * w.publishMs;
  let crashed: Promise<void> | undefined;
  const crashAtMs = spec.crashAt * w.publishMs;
  let next = 0;
  let index = 0;
  while (next < w.bursts.length) {
    const elapsed = performance.now() - t0;
    if (joined === undefined && elapsed >= joinAtMs) {
      const newcomer = makeConsumer('decider-0');
      consumers.push(newcomer);
      joined = newcomer.start();
    }
    if (crashed === undefined && dispatch !== undefined && elapsed >= crashAtMs) crashed = dispatch.crash();
    // Bursts due by now, their events interleaved: a shopper's events land close together.
    const due: Burst[] = [];
    while (next < w.bursts.length && w.bursts[next]!.at <= elapsed) due.push(w.bursts[next++]!);
    const sending: Promise<string>[] = [];
    for (let k = 0; due.length > 0; k++) {
      for (let b = 0; b < due.length; b++) {
        const burst = due[b]!;
        const type = burst.types[k];
        if (type === undefined) {
          due.splice(b--, 1);
          continue;
        }
        const at = performance.now();
        publishedAt[index] = at;
        fast[index] = burst.shopperId !== w.slowShopper && !w.stalledShoppers.has(burst.shopperId) ? 1 : 0;
        sending.push(
          producer.send({
            shopperId: burst.shopperId,
            eventId: `${burst.shopperId}#${burst.offset + k}`,
            n: index,
            type,
            publishedAt: at,
          }),
        );
        index += 1;
      }
    }
    await Promise.all(sending);
    spec.onProgress?.(settled);
    await sleep(5);
  }
  const lastPublishAt = performance.now();
  await joined;
  await producer.close();
  const published = index;

  // ---- wait until the subscription has nothing unacknowledged and the consumers are idle (the
  // broker's view, so that an event acknowledged without a decision shows up as lost, not as a hang)
  const deadline = performance.now() + spec.timeoutMs;
  const quiet = async (): Promise<boolean> => {
    const idle = consumers.every((c) => {
      const s = c.stats();
      return s.inFlight === 0 && s.running === 0;
    });
    return idle && (await row.backlog(SUBSCRIPTION)) === 0;
  };
  let done = await quiet();
  while (!done && performance.now() < deadline) {
    spec.onProgress?.(settled);
    await sleep(spec.backend.pollMs);
    done = await quiet();
  }
  const timedOut = !done;
  spec.onProgress?.(settled);
  const lastDone = doneAt.reduce((max, t) => (t > max ? t : max), t0);

  const statsBefore = consumers.map((c) => c.stats());
  const stopReports = await Promise.all(consumers.map((c) => c.stop()));
  await crashed;
  const dispatchReport = await dispatch?.finish(spec.timeoutMs);
  const pendingEffects = (await outbox.counts()).pending;
  const stoppedGracefully =
    consumers.every((c) => c.stats().state === 'stopped') && stopReports.every((r) => r.abandoned === 0);

  // ---- what happened
  const deadLetters = await row.deadLetters(SUBSCRIPTION, deadLetteredIds.size);
  const dead = new Uint8Array(n);
  for (const data of deadLetters) {
    const event = JSON.parse(new TextDecoder().decode(data)) as ShopperEvent;
    dead[event.n] = 1;
  }
  await row.close();

  let lost = 0;
  let onlyFencedOff = 0;
  for (let i = 0; i < published; i++) {
    if (decided[i] === 0 && dead[i] === 0) lost += 1;
    if (decided[i] === 0 && fencedOff[i]! > 0) onlyFencedOff += 1;
  }

  const perShopper = gateway.receivedByShopper();
  let sends = 0;
  for (const count of perShopper.values()) sends += count;
  let duplicateSends = 0;
  let shoppersMessagedTwice = 0;
  for (const count of perShopper.values()) {
    if (count > 1) {
      duplicateSends += count - 1;
      shoppersMessagedTwice += 1;
    }
  }
  let missedSends = 0;
  for (const shopper of w.shouldMessage) if (!perShopper.has(shopper)) missedSends += 1;

  const expected = eventsPerShopper(w.bursts);
  let lostUpdates = 0;
  const finalStates = fenced
    ? await Promise.all([...expected.keys()].map(async (k) => [k, (await outbox.get(k))?.value] as const))
    : [...expected.keys()].map((k) => [k, undefined] as const);
  const plainStates = new Map(plain.entries());
  for (const [shopper, state] of finalStates) {
    const seen = (fenced ? state : plainStates.get(shopper))?.seen.length ?? 0;
    if (seen < expected.get(shopper)!) lostUpdates += 1;
  }

  const latencies: number[] = [];
  const fastWaits: number[] = [];
  for (let i = 0; i < published; i++) {
    const p = publishedAt[i]!;
    if (!Number.isNaN(doneAt[i]!)) latencies.push(doneAt[i]! - p);
    if (fast[i] === 1 && !Number.isNaN(firstStart[i]!)) fastWaits.push(firstStart[i]! - p);
  }
  const elapsedMs = lastDone - t0;
  return {
    spec,
    published,
    elapsedMs,
    drainMs: Math.max(0, lastDone - lastPublishAt),
    publishedInMs: lastPublishAt - t0,
    eventsPerSecond: (published / elapsedMs) * 1000,
    offeredPerSecond: (w.events / w.publishMs) * 1000,
    shouldMessage: w.shouldMessage.size,
    violations: statsBefore.reduce((sum, s) => sum + s.violations, 0),
    sends,
    gatewayCalls: gateway.calls.length,
    repeatsDeduped: gateway.repeats,
    duplicateSends,
    shoppersMessagedTwice,
    missedSends,
    lostUpdates,
    staleRejected: fenced ? outbox.rejected : undefined,
    dispatch: dispatchReport,
    pendingEffects,
    onlyFencedOff,
    handlerRuns: runs,
    redundantRuns: runs - published,
    retries: statsBefore.reduce((sum, s) => sum + s.retried, 0),
    deadLettered: deadLetters.length,
    lost,
    latencyP50: percentile(latencies, 50),
    latencyP99: percentile(latencies, 99),
    fastWaitP99: percentile(fastWaits, 99),
    stopReports,
    stoppedGracefully,
    errors,
    failures,
    timedOut,
  };
}
