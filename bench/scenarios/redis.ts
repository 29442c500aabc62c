/**
 * Scenario 5 — lock mode on real Redis.
 *
 * `shared-locked` (SHARED subscription, a Redis lease per key: `redisLock`) against `key-shared`
 * (the broker routes keys; no Redis at all), both on the memory transport, same process, same
 * input, interleaved rounds. The input: 10,000 events (2,000 with `--quick`) over `KEYS` keys that
 * arrive in bursts (a random key, then 5 to 15 of its events in a row, ~10 on average),
 * pre-published to a fresh topic.
 * Each side runs `CONSUMERS` consumers on one subscription (each shared-locked consumer with its own
 * Redis connection, as separate processes would have), `maxConcurrency` 100 each. The handler
 * simulates a call to another service: it waits `WORK_MS` (a timer, not CPU).
 *
 * Figures:
 * - throughput shared-locked / key-shared, per round (target ≥ 0.5, DESIGN.md §7);
 * - Redis round trips per event: `EVALSHA` + `EVAL` calls in `INFO commandstats` over the timed
 *   window ÷ events (target ≤ 1.2 with bursts). Every operation of the adapter is one script call,
 *   so this counts its round trips; the commands the scripts run inside are counted again by
 *   commandstats, and shown apart. The consumers' own count of script calls is kept as a check
 *   (the shared Redis may serve others meanwhile);
 * - `tryAcquire` round trip p50/p99 as the consumer sees it (event-loop delay included), and the
 *   lease wait per acquired key (time a key waited for another consumer's lease) p50/p99;
 * - Node CPU time per event on each side (less noisy than wall-clock rates on a shared machine);
 * - for information: shared-locked without `lease.lingerMs`; with ioredis `enableAutoPipelining`
 *   (a client option that batches the commands of one tick; the adapters already send the script
 *   calls of one event-loop turn as one pipeline on a standalone client, so this compares the
 *   two); both sides with one consumer (bursts are then never split between consumers); both sides
 *   with a no-op handler.
 *
 * Redis: `EC_BENCH_REDIS_URL` (default redis://127.0.0.1:6379). Keys go under a fresh prefix per run
 * and are deleted after it (untimed). Skipped, saying why, when Redis does not answer.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { MemoryBroker, createExclusiveConsumer, rawCodec, type Codec, type ExclusiveConsumer, type Lock } from '../../src/index.js';
import { redisLock, type RedisLike, type RedisPipelineLike } from '../../src/redis/index.js';
import { interleave, pairedRatio, row, series, type Measures, type Scenario } from '../lib/scenario.js';
import { formatRate, freshTopic, gc, now, prng, sleep, until } from '../lib/util.js';

const KEYS = 1_000;
const CONSUMERS = 2;
const MAX_CONCURRENCY = 100;
const MAX_IN_FLIGHT = 2_000;
const WORK_MS = 1;
const LINGER_MS = 5;
const RETRY_DELAY_MS = 10;

/** What one run does. */
export interface RunConfig {
  readonly locked: boolean;
  readonly consumers: number;
  readonly workMs: number;
  /** `lease.lingerMs` (shared-locked only). */
  readonly lingerMs: number;
  /** `lease.retryDelayMs` (shared-locked only). @default RETRY_DELAY_MS */
  readonly retryDelayMs?: number;
  /** Use the clients built with ioredis `enableAutoPipelining` (shared-locked only). */
  readonly autoPipelining?: boolean;
  /** Hide the client's `pipeline()` from the lock, so that every script call is its own write. */
  readonly unpipelined?: boolean;
  /** With `locked`: key-shared with the lock (strict exclusivity) instead of shared-locked. */
  readonly strict?: boolean;
}

type Name = 'ks' | 'ks-strict' | 'sl' | 'sl-no-linger' | 'sl-autopipe' | 'sl-unpiped' | 'ks-1' | 'sl-1' | 'ks-noop' | 'sl-noop';

const CONFIGS: Readonly<Record<Name, RunConfig>> = {
  ks: { locked: false, consumers: CONSUMERS, workMs: WORK_MS, lingerMs: 0 },
  'ks-strict': { locked: true, strict: true, consumers: CONSUMERS, workMs: WORK_MS, lingerMs: LINGER_MS },
  sl: { locked: true, consumers: CONSUMERS, workMs: WORK_MS, lingerMs: LINGER_MS },
  'sl-no-linger': { locked: true, consumers: CONSUMERS, workMs: WORK_MS, lingerMs: 0 },
  'sl-autopipe': { locked: true, consumers: CONSUMERS, workMs: WORK_MS, lingerMs: LINGER_MS, autoPipelining: true },
  'sl-unpiped': { locked: true, consumers: CONSUMERS, workMs: WORK_MS, lingerMs: LINGER_MS, unpipelined: true },
  'ks-1': { locked: false, consumers: 1, workMs: WORK_MS, lingerMs: 0 },
  'sl-1': { locked: true, consumers: 1, workMs: WORK_MS, lingerMs: LINGER_MS },
  'ks-noop': { locked: false, consumers: CONSUMERS, workMs: 0, lingerMs: 0 },
  'sl-noop': { locked: true, consumers: CONSUMERS, workMs: 0, lingerMs: LINGER_MS },
};

/** Keys, one payload per key, and the key index of each event in publish order. */
export interface BurstWorkload {
  readonly keys: readonly string[];
  readonly payloads: readonly Uint8Array[];
  readonly sequence: Int32Array;
}

/** `events` events in bursts: a random key, then 5–15 of its events in a row (seeded). */
export function burstWorkload(events: number, seed: number): BurstWorkload {
  const keys = Array.from({ length: KEYS }, (_, i) => `shopper-${i}`);
  const encoder = new TextEncoder();
  const payloads = keys.map((key) => encoder.encode(JSON.stringify({ key })));
  const random = prng(seed);
  const sequence = new Int32Array(events);
  for (let i = 0; i < events; ) {
    const key = Math.floor(random() * KEYS);
    const length = 5 + Math.floor(random() * 11);
    for (let j = 0; j < length && i < events; j++) sequence[i++] = key;
  }
  return { keys, payloads, sequence };
}

function redisUrl(): string {
  return process.env.EC_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/** Calls counted by `INFO commandstats`: script calls, and every command (INFO itself excluded). */
async function commandStats(admin: Redis): Promise<{ scripts: number; all: number }> {
  const text = await admin.info('commandstats');
  let scripts = 0;
  let all = 0;
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    const name = match[1]!;
    const calls = Number(match[2]);
    if (name === 'info') continue;
    all += calls;
    if (name === 'evalsha' || name === 'eval') scripts += calls;
  }
  return { scripts, all };
}

async function deletePrefix(admin: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await admin.del(...keys);
  } while (cursor !== '0');
}

/** A Redis lock that times its `tryAcquire` round trips and counts the script calls it sends. */
function measuredLock(client: RedisLike, prefix: string, latencies: number[], calls: { n: number }, pipelined: boolean): Lock {
  const counted: RedisLike = {
    evalsha: (...args) => {
      calls.n += 1;
      return client.evalsha(...args);
    },
    eval: (...args) => {
      calls.n += 1;
      return client.eval(...args);
    },
    // Forwarded, so that the lock pipelines the calls of one turn as it would on the client itself.
    ...(client.pipeline === undefined || !pipelined
      ? {}
      : {
          isCluster: client.isCluster,
          pipeline: (): RedisPipelineLike => {
            const pipeline = (client.pipeline as () => RedisPipelineLike).call(client);
            return {
              evalsha: (...args) => {
                calls.n += 1;
                return pipeline.evalsha(...args);
              },
              exec: () => pipeline.exec(),
            };
          },
        }),
  };
  const lock = redisLock(counted, { prefix });
  return {
    name: lock.name,
    async tryAcquire(key, owner, ttlMs) {
      const began = now();
      const lease = await lock.tryAcquire(key, owner, ttlMs);
      latencies.push(now() - began);
      return lease;
    },
    extend: (lease, ttlMs) => lock.extend(lease, ttlMs),
    release: (lease) => lock.release(lease),
  };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Redis connections for the consumers: one per consumer, plain and with auto-pipelining. */
export interface BenchClients {
  readonly plain: readonly Redis[];
  readonly autoPipelining: readonly Redis[];
}

/** One timed run of `config` on `w` (published untimed to a fresh topic). */
export async function runOnce(config: RunConfig, w: BurstWorkload, connections: BenchClients, admin: Redis): Promise<Measures> {
  const clients = config.autoPipelining === true ? connections.autoPipelining : connections.plain;
  const { locked, workMs, lingerMs } = config;
  const broker = new MemoryBroker();
  const topic = freshTopic('redis');
  broker.createTopic(topic);
  for (let i = 0; i < w.sequence.length; i++) {
    const k = w.sequence[i]!;
    broker.publish(topic, { data: w.payloads[k]!, partitionKey: w.keys[k]! });
  }
  const events = w.sequence.length;
  const prefix = `ec-bench-${randomBytes(4).toString('hex')}:`;
  const latencies: number[] = [];
  const waits: number[] = [];
  const calls = { n: 0 };
  const handler = workMs === 0 ? async () => {} : () => sleep(workMs);
  const consumers: ExclusiveConsumer[] = [];
  for (let i = 0; i < config.consumers; i++) {
    const client = clients[i];
    if (client === undefined) throw new Error(`runOnce needs a Redis client per consumer (${config.consumers})`);
    const c = createExclusiveConsumer<unknown>(topic, (_, m) => m.partitionKey!, handler, {
      transport: broker.transport(),
      mode: locked && config.strict !== true ? 'shared-locked' : 'key-shared',
      subscription: 'bench',
      consumerName: `bench-redis-${i}`,
      initialPosition: 'earliest',
      codec: rawCodec() as Codec<unknown>,
      maxConcurrency: MAX_CONCURRENCY,
      maxInFlight: MAX_IN_FLIGHT,
      ...(locked
        ? {
            lock: measuredLock(client, prefix, latencies, calls, config.unpipelined !== true),
            lease: { ttlMs: 10_000, lingerMs, retryDelayMs: config.retryDelayMs ?? RETRY_DELAY_MS },
          }
        : {}),
    });
    if (locked) c.on('lease.acquired', (e) => waits.push(e.waitMs));
    consumers.push(c);
  }
  const processed = (): number => consumers.reduce((n, c) => n + c.stats().processed, 0);
  gc();
  try {
    const before = locked ? await commandStats(admin) : { scripts: 0, all: 0 };
    const cpu = process.cpuUsage();
    const began = now();
    await Promise.all(consumers.map((c) => c.start()));
    await until(() => processed() >= events, 120_000, `${events} events`);
    const ms = now() - began;
    const used = process.cpuUsage(cpu);
    // Lingering leases are released after the window; those releases are not counted.
    const after = locked ? await commandStats(admin) : { scripts: 0, all: 0 };
    const acquires = [...latencies].sort((a, b) => a - b);
    const waited = [...waits].sort((a, b) => a - b);
    return {
      rate: (events / ms) * 1000,
      ms,
      cpuUsPerEvent: (used.user + used.system) / events,
      ...(locked
        ? {
            roundTrips: (after.scripts - before.scripts) / events,
            // The closing INFO is counted by the server before it answers.
            allCommands: (after.all - before.all - 1) / events,
            clientCalls: calls.n / events,
            acquireP50: percentile(acquires, 50),
            acquireP99: percentile(acquires, 99),
            acquireCalls: latencies.length,
            waitP50: percentile(waited, 50),
            waitP99: percentile(waited, 99),
          }
        : {}),
    };
  } finally {
    await Promise.all(consumers.map((c) => c.stop({ drain: true, timeoutMs: 5_000 }).catch(() => undefined)));
    await broker.close();
    if (locked) await deletePrefix(admin, prefix);
  }
}

function describeRun(name: Name, m: Measures): string {
  const base = `${formatRate(m.rate!)} (${m.ms!.toFixed(0)} ms, CPU ${m.cpuUsPerEvent!.toFixed(1)} µs/event)`;
  if (!CONFIGS[name].locked) return base;
  return (
    `${base}, ${m.roundTrips!.toFixed(3)} round trips/event (client ${m.clientCalls!.toFixed(3)}), ` +
    `${m.allCommands!.toFixed(2)} commands/event, ${m.acquireCalls} acquires p50 ${m.acquireP50!.toFixed(2)} ms ` +
    `p99 ${m.acquireP99!.toFixed(2)} ms, lease wait p50 ${m.waitP50!.toFixed(1)} ms p99 ${m.waitP99!.toFixed(1)} ms`
  );
}

export const redisScenario: Scenario = {
  name: 'redis',
  title: '5. Lock mode on real Redis (shared-locked vs key-shared, keys in bursts)',
  async run(ctx) {
    const began = now();
    const events = ctx.quick ? 2_000 : 10_000;
    const params = {
      events,
      keys: KEYS,
      burst: '5–15 events (mean 10)',
      consumers: CONSUMERS,
      maxConcurrency: MAX_CONCURRENCY,
      workMs: WORK_MS,
      lingerMs: LINGER_MS,
      retryDelayMs: RETRY_DELAY_MS,
      redis: redisUrl(),
      rounds: ctx.rounds,
    };
    const admin = new Redis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    try {
      await admin.connect();
      await admin.ping();
    } catch (error) {
      admin.disconnect();
      const why = `no Redis at ${redisUrl()} (${(error as Error).message}); set EC_BENCH_REDIS_URL`;
      ctx.log(`  skipped: ${why}`);
      // As the Pulsar scenario: no rows, the reason in the notes.
      return { name: 'redis', title: this.title, params, rows: [], notes: [`Skipped: ${why}.`], durationMs: now() - began };
    }
    const clients: BenchClients = {
      plain: Array.from({ length: CONSUMERS }, () => new Redis(redisUrl(), { maxRetriesPerRequest: 2 })),
      autoPipelining: Array.from(
        { length: CONSUMERS },
        () => new Redis(redisUrl(), { maxRetriesPerRequest: 2, enableAutoPipelining: true }),
      ),
    };
    try {
      const w = burstWorkload(events, 7);
      // Warm-up (untimed): loads the scripts into Redis and compiles the hot paths.
      const warm = burstWorkload(Math.min(events, 2_000), 8);
      await runOnce(CONFIGS.sl, warm, clients, admin);
      await runOnce(CONFIGS.ks, warm, clients, admin);
      await runOnce(CONFIGS['sl-autopipe'], warm, clients, admin);
      // Each pair whose ratio is a figure runs back to back (see `interleave`).
      const names: Name[] = ['ks-strict', 'ks', 'sl', 'sl-unpiped', 'sl-no-linger', 'sl-autopipe', 'ks-1', 'sl-1', 'ks-noop', 'sl-noop'];
      const runs = await interleave(ctx, names, (name) => runOnce(CONFIGS[name], w, clients, admin), describeRun);
      const rate = (name: Name): number[] => series(runs[name], 'rate');
      const sl = runs.sl;
      return {
        name: 'redis',
        title: this.title,
        params,
        durationMs: now() - began,
        rows: [
          row('redis.ks', `key-shared, memory transport, ${CONSUMERS} consumers, ${WORK_MS} ms handler`, 'events/s', rate('ks')),
          row('redis.sl', `shared-locked, Redis lock, ${CONSUMERS} consumers, lingerMs ${LINGER_MS}`, 'events/s', rate('sl')),
          row('redis.sl/ks', 'throughput shared-locked / key-shared', 'ratio', pairedRatio(rate('sl'), rate('ks')), {
            text: '≥ 0.5×',
            ok: (v) => v >= 0.5,
          }),
          row('redis.rtt', 'Redis round trips per event (EVALSHA + EVAL calls in INFO commandstats ÷ events)', 'ratio', series(sl, 'roundTrips'), {
            text: '≤ 1.2',
            ok: (v) => v <= 1.2,
          }),
          row('redis.rtt-client', 'script calls the consumers sent ÷ events (client-side check)', 'ratio', series(sl, 'clientCalls'), undefined, 'for information'),
          row('redis.commands', 'all Redis commands per event, those run inside the scripts included', 'ratio', series(sl, 'allCommands'), undefined, 'for information'),
          row('redis.acquire-p50', 'tryAcquire round trip p50 (event-loop delay included)', 'ms', series(sl, 'acquireP50')),
          row('redis.acquire-p99', 'tryAcquire round trip p99', 'ms', series(sl, 'acquireP99')),
          row('redis.wait-p50', 'lease wait per acquired key p50 (another consumer held it)', 'ms', series(sl, 'waitP50'), undefined, 'for information'),
          row('redis.wait-p99', 'lease wait per acquired key p99', 'ms', series(sl, 'waitP99'), undefined, 'for information'),
          row('redis.cpu-ks', 'Node CPU per event, key-shared', 'count', series(runs.ks, 'cpuUsPerEvent'), undefined, 'µs, for information'),
          row('redis.cpu-sl', 'Node CPU per event, shared-locked', 'count', series(sl, 'cpuUsPerEvent'), undefined, 'µs, for information'),
          row('redis.sl0/ks', 'throughput without lingerMs / key-shared', 'ratio', pairedRatio(rate('sl-no-linger'), rate('ks')), undefined, 'for information'),
          row('redis.rtt0', 'round trips per event without lingerMs', 'ratio', series(runs['sl-no-linger'], 'roundTrips'), undefined, 'for information'),
          row('redis.sl/unpiped', 'throughput shared-locked / the same without pipelining', 'ratio', pairedRatio(rate('sl'), rate('sl-unpiped')), undefined, 'for information: without pipelining each script call is its own socket write'),
          row('redis.unpiped/ks', 'throughput without pipelining / key-shared', 'ratio', pairedRatio(rate('sl-unpiped'), rate('ks')), undefined, 'for information'),
          row('redis.cpu-unpiped', 'Node CPU per event, shared-locked without pipelining', 'count', series(runs['sl-unpiped'], 'cpuUsPerEvent'), undefined, 'µs, for information'),
          row('redis.slap/ks', 'throughput with ioredis enableAutoPipelining / key-shared', 'ratio', pairedRatio(rate('sl-autopipe'), rate('ks')), undefined, 'for information: commands of one event-loop turn share one socket write'),
          row('redis.cpu-slap', 'Node CPU per event, shared-locked with enableAutoPipelining', 'count', series(runs['sl-autopipe'], 'cpuUsPerEvent'), undefined, 'µs, for information'),
          row('redis.sl1/ks1', 'throughput with one consumer on each side', 'ratio', pairedRatio(rate('sl-1'), rate('ks-1')), undefined, 'for information: bursts never split'),
          row('redis.rtt1', 'round trips per event with one consumer', 'ratio', series(runs['sl-1'], 'roundTrips'), undefined, 'for information'),
          row('redis.strict/ks', 'throughput key-shared with the lock (strict) / key-shared, same run', 'ratio', pairedRatio(rate('ks-strict'), rate('ks')), undefined, 'for information: one lease round trip per burst of a key'),
          row('redis.rtt-strict', 'Redis round trips per event, key-shared with the lock', 'ratio', series(runs['ks-strict'], 'roundTrips'), undefined, 'for information'),
          row('redis.noop', 'throughput shared-locked / key-shared, no-op handler', 'ratio', pairedRatio(rate('sl-noop'), rate('ks-noop')), undefined, 'for information: a Redis round trip against an in-memory no-op'),
        ],
        notes: [
          "The memory broker's Shared dispatch, as Pulsar's, hands each consumer runs of up to 20 consecutive messages (`dispatcherMaxRoundRobinBatchSize`): a burst that straddles two runs is split between the two shared-locked consumers, one holding the key's lease while the other waits (lease wait) and then takes it over, which costs extra acquires. With one consumer on each side bursts are never split (the one-consumer rows).",
          'The Redis lock sends the script calls of one event-loop turn as one pipeline (standalone clients); the enableAutoPipelining row is the client\'s own batching on top of that.',
          `lingerMs ${LINGER_MS}: a consumer keeps a key's lease that long after the key's last queued event, so the rest of a burst costs no acquire; with every event already queued it matters little here (compare the rows without it).`,
        ],
      };
    } finally {
      for (const c of [...clients.plain, ...clients.autoPipelining]) c.disconnect();
      admin.disconnect();
    }
  },
};
