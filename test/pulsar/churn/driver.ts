/**
 * Churn on a live broker: consumer processes (see `worker.ts`) on one partitioned topic while a
 * producer publishes at a steady rate and faults happen on a schedule — topic unloads, kill -9 of a
 * consumer (a replacement joins), SIGSTOP and SIGCONT of one, a broker restart. The run is then
 * checked from what the processes recorded (their run logs) and from the fenced state in Redis:
 * nothing lost, per-key order, every event's append in its key's state exactly once and in order,
 * repeats. Used by the churn tests and by `npm run bench`'s churn scenario.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { createProducer, type ConsumerMode, type ConsumerStats } from '../../../src/index.js';
import { pulsarAdmin, pulsarWebSocketTransport } from '../../../src/pulsar/index.js';
import { redisFencedStore } from '../../../src/redis/index.js';
import { partitionOf } from '../../../src/pulsar/websocket/message-id.js';
import { checkHistory, monotonicMicros, uniqueName, type HistoryReport, type RunRecord } from '../../../src/testing/index.js';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));
const SUBSCRIPTION = 'churn';

/** One fault, `atMs` after publishing started. */
export type Fault =
  | { readonly atMs: number; readonly do: 'unload' }
  | { readonly atMs: number; readonly do: 'kill'; readonly worker: number }
  | { readonly atMs: number; readonly do: 'pause'; readonly worker: number; readonly forMs: number }
  | { readonly atMs: number; readonly do: 'restart'; readonly restart: () => Promise<void> };

export interface ChurnOptions {
  readonly transport: 'websocket' | 'native';
  readonly mode: ConsumerMode;
  readonly webUrl: string;
  readonly serviceUrl: string;
  readonly redisUrl: string;
  readonly events: number;
  readonly ratePerSecond: number;
  readonly keys: number;
  readonly partitions: number;
  readonly workers: number;
  readonly handlerMs: number;
  readonly faults: readonly Fault[];
  /** How long after the last publish the run may take to drain. */
  readonly drainTimeoutMs: number;
  /** The consumers' `rememberCompleted` (their default when unset). */
  readonly rememberCompleted?: number;
}

export interface ChurnResult {
  /** The partitioned topic of the run. */
  readonly topic: string;
  /** Every event published, in publish order. */
  readonly published: ReadonlyArray<{ readonly key: string; readonly seq: number }>;
  readonly report: HistoryReport;
  readonly records: readonly RunRecord[];
  /** Successful runs of an event that had succeeded before (work done again). */
  readonly repeatedRuns: number;
  /** Of those, runs on a consumer other than every one that had run it before. */
  readonly repeatedElsewhere: number;
  /** Keys whose fenced state misses an event, holds one twice, or lists two out of order. */
  readonly fenced: { readonly missing: number; readonly duplicated: number; readonly outOfOrder: number; readonly examples: readonly string[] };
  /**
   * Publishing time, and time from the last publish (or the last fault, if later) until everything
   * was in the fenced state (infinite when it never was within `drainTimeoutMs`).
   */
  readonly publishMs: number;
  readonly drainMs: number;
  /** Stats of the consumers stopped gracefully at the end. */
  readonly stats: readonly ConsumerStats[];
}

interface Worker {
  readonly name: string;
  readonly child: ChildProcess;
  readonly messages: Array<Record<string, unknown>>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`churn: timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Run one churn scenario; processes and the topic are cleaned up whatever happens. */
export async function runChurn(o: ChurnOptions): Promise<ChurnResult> {
  const dir = mkdtempSync(join(tmpdir(), 'ec-churn-'));
  const topic = uniqueName(`churn-${o.mode}`);
  const prefix = `${uniqueName('ec-churn')}:`;
  const admin = pulsarAdmin(o.webUrl);
  const redis = new Redis(o.redisUrl, { maxRetriesPerRequest: 3 });
  const workers: Worker[] = [];
  const logs: string[] = [];
  let index = 0;

  const spawnWorker = async (): Promise<Worker> => {
    const name = `w${index++}`;
    const log = join(dir, `${name}.jsonl`);
    writeFileSync(log, '');
    logs.push(log);
    const child = fork(WORKER, [], {
      execArgv: ['--import', 'tsx'],
      env: {
        ...process.env,
        CHURN_NAME: name,
        CHURN_MODE: o.mode,
        CHURN_TRANSPORT: o.transport,
        CHURN_WEB_URL: o.webUrl,
        CHURN_SERVICE_URL: o.serviceUrl,
        CHURN_TOPIC: topic,
        CHURN_SUBSCRIPTION: SUBSCRIPTION,
        CHURN_REDIS_URL: o.redisUrl,
        CHURN_PREFIX: prefix,
        CHURN_LOG: log,
        CHURN_HANDLER_MS: String(o.handlerMs),
        ...(o.rememberCompleted === undefined ? {} : { CHURN_REMEMBER: String(o.rememberCompleted) }),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const worker: Worker = { name, child, messages: [] };
    child.on('message', (m) => worker.messages.push(m as Record<string, unknown>));
    workers.push(worker);
    await until(`${name} ready`, () => {
      const fatal = worker.messages.find((m) => m.event === 'fatal');
      if (fatal !== undefined) throw new Error(`${name} failed: ${String(fatal.error)}`);
      if (child.exitCode !== null) throw new Error(`${name} exited`);
      return worker.messages.some((m) => m.event === 'ready');
    }, 60_000);
    return worker;
  };

  const producerTransport = pulsarWebSocketTransport({ url: o.webUrl, reconnect: { initialDelayMs: 50, maxDelayMs: 1000 } });
  try {
    await admin.createPartitionedTopic(topic, o.partitions);
    for (let i = 0; i < o.workers; i++) await spawnWorker();
    // Failover: let the broker settle who is active on each partition before the clock starts.
    if (o.mode === 'failover') await sleep(1500);

    const producer = createProducer<{ key: string; seq: number }>({ transport: producerTransport, topic, key: (e) => e.key });
    const published: Array<{ key: string; seq: number }> = [];
    for (let seq = 0; seq < o.events; seq++) published.push({ key: `k${seq % o.keys}`, seq });

    const began = Date.now();
    let lastFaultEnd = 0;
    const faultRuns = o.faults.map(async (fault) => {
      await sleep(fault.atMs);
      if (fault.do === 'unload') await admin.unloadTopic(topic);
      else if (fault.do === 'kill') {
        workers[fault.worker]?.child.kill('SIGKILL');
        await spawnWorker();
      } else if (fault.do === 'pause') {
        const child = workers[fault.worker]?.child;
        child?.kill('SIGSTOP');
        await sleep(fault.forMs);
        child?.kill('SIGCONT');
      } else {
        await fault.restart();
      }
      lastFaultEnd = Math.max(lastFaultEnd, Date.now());
    });

    // A send lost with its connection (a restart) is sent again: at least once, as a producer does.
    const sendSurely = async (event: { key: string; seq: number }): Promise<void> => {
      for (let attempt = 0; ; attempt++) {
        try {
          await producer.send(event);
          return;
        } catch (error) {
          if (attempt > 300) throw error;
          await sleep(100);
        }
      }
    };
    // Each key's sends are chained, so that a send retried after a failure cannot land after the
    // key's next event: the broker's order of a key is its sequence order.
    const chains = new Map<string, Promise<void>>();
    const perTick = Math.max(1, Math.round(o.ratePerSecond / 100));
    for (let i = 0; i < published.length; i += perTick) {
      for (const event of published.slice(i, i + perTick)) {
        chains.set(event.key, (chains.get(event.key) ?? Promise.resolve()).then(() => sendSurely(event)));
      }
      const due = began + ((i + perTick) / o.ratePerSecond) * 1000;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
    }
    await Promise.all(chains.values());
    const published_ = Date.now();
    await Promise.all(faultRuns);
    await producer.close();

    const store = redisFencedStore<number[]>(redis, { prefix });
    const states = async (): Promise<Map<string, number[]>> => {
      const keys = Array.from({ length: o.keys }, (_, k) => `k${k}`);
      // One pipeline: the store sends the calls of one turn together.
      const records = await Promise.all(keys.map((k) => store.get(k)));
      return new Map(keys.map((k, i) => [k, records[i]?.value ?? []]));
    };
    const appended = async (): Promise<number> => [...(await states()).values()].reduce((n, list) => n + new Set(list).size, 0);
    // A run that does not drain is reported (what is missing shows in the checks), not thrown.
    const drained = await until('every event in the fenced state', async () => (await appended()) >= o.events, o.drainTimeoutMs, 200).then(
      () => true,
      () => false,
    );
    const drainMs = drained ? Date.now() - Math.max(published_, lastFaultEnd) : Number.POSITIVE_INFINITY;

    const stats: ConsumerStats[] = [];
    for (const worker of workers) {
      if (worker.child.exitCode !== null || worker.child.signalCode !== null) continue;
      worker.child.send({ cmd: 'stop' });
      await until(`${worker.name} stopped`, () => worker.messages.some((m) => m.event === 'stopped'), 30_000);
      stats.push(worker.messages.find((m) => m.event === 'stopped')?.stats as ConsumerStats);
    }

    const records = readRecords(logs);
    const report = checkHistory(records, { published, endOfHistory: monotonicMicros() });
    const finals = await states();
    const fenced = { missing: 0, duplicated: 0, outOfOrder: 0, examples: [] as string[] };
    const expected = new Map<string, number[]>();
    for (const e of published) expected.set(e.key, [...(expected.get(e.key) ?? []), e.seq]);
    for (const [key, seqs] of expected) {
      const list = finals.get(key) ?? [];
      const missing = seqs.filter((s) => !list.includes(s));
      const duplicated = list.length !== new Set(list).size;
      const outOfOrder = list.some((s, i) => i > 0 && s < (list[i - 1] as number));
      if (missing.length > 0) fenced.missing += 1;
      if (duplicated) fenced.duplicated += 1;
      if (outOfOrder) fenced.outOfOrder += 1;
      if ((missing.length > 0 || duplicated || outOfOrder) && fenced.examples.length < 5) {
        fenced.examples.push(`${key}: [${list.join(',')}] (missing ${missing.join(',') || 'none'})`);
      }
    }
    const okBy = new Map<number, string[]>();
    for (const r of [...records].sort((a, b) => a.start - b.start)) {
      if (r.ok && r.seq !== undefined) okBy.set(r.seq, [...(okBy.get(r.seq) ?? []), r.consumer]);
    }
    let repeatedRuns = 0;
    let repeatedElsewhere = 0;
    for (const consumers of okBy.values()) {
      for (let i = 1; i < consumers.length; i++) {
        repeatedRuns += 1;
        if (!consumers.slice(0, i).includes(consumers[i] as string)) repeatedElsewhere += 1;
      }
    }
    return { topic, published, report, records, repeatedRuns, repeatedElsewhere, fenced, publishMs: published_ - began, drainMs, stats };
  } finally {
    for (const worker of workers) {
      if (worker.child.exitCode === null && worker.child.signalCode === null) {
        worker.child.kill('SIGCONT');
        worker.child.kill('SIGKILL');
      }
    }
    await producerTransport.close().catch(() => undefined);
    await admin.deleteTopic(topic, { force: true }).catch(() => undefined);
    const keys = await redis.keys(`${prefix}*`).catch(() => [] as string[]);
    if (keys.length > 0) await redis.del(...keys).catch(() => undefined);
    redis.disconnect();
    // For whoever studies a run: its consumers' run logs, kept in that directory.
    if (process.env.EC_CHURN_KEEP !== undefined) cpSync(dir, join(process.env.EC_CHURN_KEEP, topic), { recursive: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The run logs' start and end lines as run records; a start without an end is a run still open. */
function readRecords(logs: readonly string[]): RunRecord[] {
  const records: RunRecord[] = [];
  for (const log of logs) {
    const started = new Map<string, Record<string, unknown>>();
    const ended = new Map<string, Record<string, unknown>>();
    for (const text of readFileSync(log, 'utf8').split('\n')) {
      if (text.length === 0) continue;
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(text) as Record<string, unknown>;
      } catch {
        continue; // a line cut short by kill -9
      }
      if (entry.t === 's') started.set(entry.id as string, entry);
      else ended.set(entry.id as string, entry);
    }
    for (const [id, s] of started) {
      const e = ended.get(id);
      records.push({
        consumer: s.consumer as string,
        key: s.key as string,
        messageId: s.messageId as string,
        seq: s.seq as number,
        start: s.start as number,
        end: e === undefined ? undefined : (e.end as number),
        ok: e?.ok === true,
        token: s.token as number | undefined,
        clock: s.clock as string,
      });
    }
  }
  return records;
}

/**
 * What a run that lost events shows of them, for its log: per partition, the events lost, who ran
 * its events last and when; the consumers' final stats; and what the broker logged of the topic's
 * hand-overs and redelivery requests (from the local broker's log, when it is where
 * `scripts/pulsar/pulsar.sh` keeps it).
 */
export function explainLoss(r: ChurnResult, brokerLog = join(process.env.PULSAR_DATA_DIR ?? '.pulsar-data', 'logs', 'pulsar.log')): string[] {
  const lines: string[] = [];
  const lost = new Set(r.report.lost);
  const t0 = Math.min(...r.records.map((x) => x.start));
  const at = (us: number): string => `${((us - t0) / 1000).toFixed(0)} ms`;
  // A key's partition, from the WebSocket id of any run of one of its events (-1: none ran, or
  // the id is another transport's).
  const partitionOfKey = new Map<string, number>();
  for (const x of r.records) if (!partitionOfKey.has(x.key)) partitionOfKey.set(x.key, partitionOf(x.messageId));
  const keyOfSeq = new Map(r.published.map((e) => [e.seq, e.key]));
  const byPartition = new Map<number, number[]>();
  for (const seq of lost) {
    const key = keyOfSeq.get(seq);
    const partition = key === undefined ? -1 : (partitionOfKey.get(key) ?? -1);
    byPartition.set(partition, [...(byPartition.get(partition) ?? []), seq]);
  }
  for (const [partition, seqs] of byPartition) {
    const runs = r.records.filter((x) => partitionOfKey.get(x.key) === partition);
    const last = new Map<string, number>();
    for (const x of runs) last.set(x.consumer, Math.max(last.get(x.consumer) ?? 0, x.end ?? x.start));
    const who = [...last].map(([consumer, us]) => `${consumer} until ${at(us)}`).join(', ');
    lines.push(`partition ${partition < 0 ? 'unknown' : partition}: ${seqs.length} lost (seq ${Math.min(...seqs)}..${Math.max(...seqs)}); its runs: ${who || 'none'}`);
  }
  for (const s of r.stats) {
    lines.push(`stats: inFlight=${s.inFlight} processed=${s.processed} released=${s.released} repeatsSkipped=${s.repeatsSkipped} staleTokens=${s.staleTokens} failed=${s.failed}`);
  }
  let log = '';
  try {
    log = readFileSync(brokerLog, 'utf8');
  } catch {
    lines.push(`(no broker log at ${brokerLog})`);
  }
  const name = r.topic.split('/').at(-1) as string;
  const events = log.split('\n').filter((l) => l.includes(name) && /Ignoring|active consumer|Rewind|rewind/.test(l));
  for (const l of events.slice(-60)) lines.push(`broker: ${l.slice(0, 400)}`);
  return lines;
}
