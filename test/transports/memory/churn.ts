/**
 * Churn on the embedded broker, in one process: consumers on one partitioned topic while a producer
 * publishes at a steady rate and the fault kit (`brokerFaults`) strikes on a schedule. Each run
 * appends its event's sequence number to the key's fenced state (idempotently, under the run's
 * fence); every run is recorded. The run is then checked from the recorded history and the fenced
 * state: nothing lost, per-key order, every event in its key's state exactly once and in order, no
 * overlap within a consumer; repeats are counted. The embedded counterpart of
 * `test/pulsar/churn/driver.ts` (the broker cannot be shared across processes).
 */
import {
  MemoryBroker,
  MemoryFencedStore,
  MemoryLock,
  createExclusiveConsumer,
  updateFenced,
  type ConsumerStats,
  type ExclusiveConsumer,
} from '../../../src/index.js';
import { HistoryRecorder, brokerFaults, type BrokerFaults, type HistoryReport, type PublishedEvent } from '../../../src/testing/index.js';

/** One fault, `atMs` after publishing started (or once the fault before it is over, if later). */
export type MemoryFault = { readonly atMs: number } & (
  | { readonly do: 'drop'; readonly consumer: number; readonly reconnectDelayMs?: number }
  | { readonly do: 'unload' }
  | { readonly do: 'restart'; readonly downMs: number }
  | { readonly do: 'pause'; readonly forMs: number }
  | { readonly do: 'lose-acks'; readonly forMs: number }
);

export interface MemoryChurnOptions {
  readonly mode: 'key-shared' | 'failover' | 'shared-locked';
  readonly events: number;
  readonly ratePerSecond: number;
  readonly keys: number;
  readonly partitions: number;
  readonly consumers: number;
  readonly handlerMs: number;
  readonly faults: readonly MemoryFault[];
  readonly drainTimeoutMs: number;
}

export interface MemoryChurnResult {
  readonly report: HistoryReport;
  readonly runs: number;
  /** Successful runs of an event that had succeeded before. */
  readonly repeatedRuns: number;
  /** Of those, runs on a consumer other than every one that had run it before. */
  readonly repeatedElsewhere: number;
  /** Keys whose fenced state misses an event, holds one twice, or lists two out of order. */
  readonly fenced: { readonly missing: number; readonly duplicated: number; readonly outOfOrder: number; readonly examples: readonly string[] };
  readonly stats: readonly ConsumerStats[];
  /** Time from the last publish or fault until every event was in the fenced state. */
  readonly drainMs: number;
}

interface ChurnEvent {
  readonly key: string;
  readonly seq: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const encoder = new TextEncoder();

async function strike(faults: BrokerFaults, fault: MemoryFault, topic: string, names: readonly string[]): Promise<void> {
  switch (fault.do) {
    case 'drop':
      await faults.dropConnection(names[fault.consumer % names.length]!, { reconnectDelayMs: fault.reconnectDelayMs ?? 100 });
      return;
    case 'unload':
      await faults.unloadTopic(topic);
      return;
    case 'restart':
      await faults.restart({ downMs: fault.downMs });
      return;
    case 'pause':
      await faults.pauseDispatch(fault.forMs);
      return;
    case 'lose-acks':
      await faults.loseAcks({ forMs: fault.forMs });
      return;
  }
}

/** Run one scenario; consumers and the broker are closed whatever happens. */
export async function runMemoryChurn(o: MemoryChurnOptions): Promise<MemoryChurnResult> {
  const broker = new MemoryBroker({ nackRedeliveryDelayMs: 50, activeConsumerFailoverDelayMs: 100 });
  const topic = `churn-${o.mode}`;
  broker.createTopic(topic, { partitions: o.partitions });
  // Before the transports: their consumers are told that acknowledgements can be lost.
  const faults = brokerFaults(broker);
  const transport = broker.transport();
  const lock = new MemoryLock();
  const store = new MemoryFencedStore<number[]>();
  const recorder = new HistoryRecorder<ChurnEvent>({ seqOf: (e) => e.seq });
  const names = Array.from({ length: o.consumers }, (_, i) => `c${i}`);
  const consumers: ExclusiveConsumer[] = names.map((name) =>
    createExclusiveConsumer<ChurnEvent>(
      topic,
      (e) => e.key,
      async (event, ctx) => {
        if (o.handlerMs > 0) await sleep(o.handlerMs);
        await updateFenced(store, ctx.key, ctx.fence, (list) => (list?.includes(event.seq) === true ? list : [...(list ?? []), event.seq]));
      },
      {
        transport,
        mode: o.mode,
        subscription: 'churn',
        consumerName: name,
        initialPosition: 'earliest',
        maxConcurrency: 100,
        maxInFlight: 500,
        retry: { maxAttempts: 5, initialDelayMs: 10, maxDelayMs: 100 },
        middleware: [recorder.middleware()],
        ...(o.mode === 'shared-locked' ? { lock, lease: { ttlMs: 2000 } } : { tokenSource: lock }),
      },
    ),
  );
  try {
    await Promise.all(consumers.map((c) => c.start()));
    const producer = await transport.createProducer(topic);
    const published: PublishedEvent[] = [];
    const sends: Array<Promise<unknown>> = [];
    const began = performance.now();
    // In order, each once the one before it is over (the kit refuses two restarts at once).
    let previous: Promise<unknown> = Promise.resolve();
    const struck = o.faults.map((fault) => {
      const done = previous.then(async () => {
        const wait = began + fault.atMs - performance.now();
        if (wait >= 1) await sleep(wait);
        await strike(faults, fault, topic, names);
        return performance.now();
      });
      previous = done;
      return done;
    });
    for (let seq = 0; seq < o.events; seq++) {
      const due = began + (seq * 1000) / o.ratePerSecond;
      const wait = due - performance.now();
      if (wait >= 1) await sleep(wait);
      const event = { key: `k${seq % o.keys}`, seq };
      published.push(event);
      // Not awaited: a send waits out a restart, and the publisher keeps its rate meanwhile.
      sends.push(producer.send({ data: encoder.encode(JSON.stringify(event)), partitionKey: event.key }));
    }
    await Promise.all(sends);
    const lastAt = Math.max(performance.now(), ...(await Promise.all(struck)));

    const complete = async (): Promise<boolean> => {
      for (let k = 0; k < o.keys; k++) {
        const expected = published.filter((e) => e.key === `k${k}`).length;
        const record = await store.get(`k${k}`);
        if ((record?.value.length ?? 0) < expected) return false;
      }
      return true;
    };
    const deadline = performance.now() + o.drainTimeoutMs;
    while (!(await complete()) && performance.now() < deadline) await sleep(20);
    const drainMs = (await complete()) ? Math.round(performance.now() - lastAt) : Infinity;
    await Promise.all(consumers.map((c) => c.stop({ timeoutMs: 5000 })));

    const report = recorder.check({ published });
    const fenced = { missing: 0, duplicated: 0, outOfOrder: 0, examples: [] as string[] };
    for (let k = 0; k < o.keys; k++) {
      const key = `k${k}`;
      const expected = published.filter((e) => e.key === key).map((e) => e.seq);
      const list = (await store.get(key))?.value ?? [];
      const missing = expected.filter((s) => !list.includes(s)).length;
      const duplicated = list.length - new Set(list).size;
      const outOfOrder = list.some((s, i) => i > 0 && s < list[i - 1]!) ? 1 : 0;
      if (missing + duplicated + outOfOrder > 0 && fenced.examples.length < 5) fenced.examples.push(`${key}: ${list.join(',')}`);
      fenced.missing += missing > 0 ? 1 : 0;
      fenced.duplicated += duplicated > 0 ? 1 : 0;
      fenced.outOfOrder += outOfOrder;
    }

    let repeatedRuns = 0;
    let repeatedElsewhere = 0;
    const ranOn = new Map<number, Set<string>>();
    for (const run of [...recorder.runs].filter((r) => r.ok && r.end !== undefined).sort((a, b) => a.end! - b.end!)) {
      if (run.seq === undefined) continue;
      const before = ranOn.get(run.seq);
      if (before === undefined) ranOn.set(run.seq, new Set([run.consumer]));
      else {
        repeatedRuns += 1;
        if (!before.has(run.consumer)) repeatedElsewhere += 1;
        before.add(run.consumer);
      }
    }
    return { report, runs: recorder.runs.length, repeatedRuns, repeatedElsewhere, fenced, stats: consumers.map((c) => c.stats()), drainMs };
  } finally {
    await Promise.all(consumers.map((c) => c.stop({ timeoutMs: 1000 }).catch(() => undefined)));
    await broker.close();
  }
}
