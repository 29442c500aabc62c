/**
 * Scenario 6 — the fenced outbox on real Redis and real PostgreSQL.
 *
 * The cost per event, on each store, of:
 * - **write**: a plain fenced write (`redisFencedStore.put` / `postgresFencedStore.put`);
 * - **commit**: a fenced commit of the key's state with one effect (`outbox.commit`);
 * - **commit+dispatch**: the same commits with a dispatcher running beside them (no-op send),
 *   timed until every effect was sent and marked done: the whole cost of an effect, claim and
 *   completion included.
 *
 * Each run makes `EVENTS` operations (2,000 with `--quick`) over `KEYS` keys, `CONCURRENCY` in
 * flight at a time (as a consumer with that `maxConcurrency` would), one client per store (an
 * ioredis connection; a `pg` pool of `CONCURRENCY` connections). The six contenders run in
 * interleaved rounds; the figures are µs per event (wall clock ÷ events) and, per store, the ratios
 * commit / write and commit+dispatch / write from the runs of one round.
 *
 * Redis: `EC_BENCH_REDIS_URL` (default redis://127.0.0.1:6379), keys under a fresh prefix per run,
 * deleted after it. PostgreSQL: `EC_BENCH_POSTGRES_URL` (default
 * postgres://postgres@127.0.0.1:5432/postgres); the scenario creates a database of its own, fresh
 * tables per run, and drops the database at the end. A store that does not answer is skipped,
 * saying why.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createOutboxDispatcher, type FencedStore, type Outbox } from '../../src/index.js';
import { createPostgresTables, postgresFencedStore, postgresOutbox } from '../../src/postgres/index.js';
import { redisFencedStore, redisOutbox } from '../../src/redis/index.js';
import type { Row } from '../lib/report.js';
import { interleave, pairedRatio, row, series, type Measures, type Scenario } from '../lib/scenario.js';
import { gc, now, until } from '../lib/util.js';

const KEYS = 1_000;
const CONCURRENCY = 16;

type Store = 'redis' | 'postgres';
type Kind = 'write' | 'commit' | 'dispatch';
type Name = `${Store}-${Kind}`;

interface State {
  readonly n: number;
  readonly last: string;
}
interface Sms {
  readonly to: string;
  readonly text: string;
}

/** What one run needs from its store: a fenced store and an outbox on fresh keys or tables. */
interface Target {
  fresh(): Promise<{ store: FencedStore<State>; outbox: Outbox<State, Sms>; cleanup: () => Promise<void> }>;
}

function redisUrl(): string {
  return process.env.EC_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
}

function postgresUrl(): string {
  return process.env.EC_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

async function deletePrefix(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== '0');
}

/** Runs `op(i)` for i in [0, events), `CONCURRENCY` at a time. */
async function drive(events: number, op: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < events) await op(next++);
    }),
  );
}

async function runOnce(kind: Kind, target: Target, events: number): Promise<Measures> {
  const { store, outbox, cleanup } = await target.fresh();
  const fence = { token: 1, owner: 'bench' };
  const keyOf = (i: number): string => `shopper-${i % KEYS}`;
  const value = (i: number): State => ({ n: i, last: 'add-to-cart' });
  const effect = (i: number): Sms => ({ to: `+3361234${String(i % KEYS).padStart(4, '0')}`, text: 'Your cart misses you' });
  const dispatcher =
    kind === 'dispatch'
      ? createOutboxDispatcher(outbox, () => undefined, { concurrency: CONCURRENCY, pollIntervalMs: 2, purgeIntervalMs: 0 })
      : undefined;
  gc();
  try {
    const cpu = process.cpuUsage();
    const began = now();
    dispatcher?.start();
    if (kind === 'write') await drive(events, (i) => store.put(keyOf(i), value(i), fence));
    else await drive(events, (i) => outbox.commit(keyOf(i), value(i), fence, [{ payload: effect(i) }], { messageId: `m-${i}` }));
    if (dispatcher !== undefined) await until(() => dispatcher.stats().sent >= events, 120_000, `${events} effects sent`);
    const ms = now() - began;
    const used = process.cpuUsage(cpu);
    return { usPerEvent: (ms * 1000) / events, cpuUsPerEvent: (used.user + used.system) / events };
  } finally {
    await dispatcher?.stop({ timeoutMs: 5_000 });
    await cleanup();
  }
}

async function redisTarget(): Promise<{ target: Target; close: () => Promise<void> } | string> {
  const client = new Redis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    client.disconnect();
    return `no Redis at ${redisUrl()} (${(error as Error).message}); set EC_BENCH_REDIS_URL`;
  }
  return {
    target: {
      async fresh() {
        const prefix = `ec-bench-outbox-${randomBytes(4).toString('hex')}:`;
        return {
          store: redisFencedStore<State>(client, { prefix }),
          outbox: redisOutbox<State, Sms>(client, { prefix }),
          cleanup: () => deletePrefix(client, prefix),
        };
      },
    },
    close: async () => client.disconnect(),
  };
}

async function postgresTarget(): Promise<{ target: Target; close: () => Promise<void> } | string> {
  const admin = new pg.Client({ connectionString: postgresUrl(), connectionTimeoutMillis: 3_000 });
  admin.on('error', () => undefined);
  const database = `ec_bench_${randomBytes(4).toString('hex')}`;
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
  } catch (error) {
    await admin.end().catch(() => undefined);
    return `no PostgreSQL at ${postgresUrl()} (${(error as Error).message}); set EC_BENCH_POSTGRES_URL`;
  }
  const url = new URL(postgresUrl());
  url.pathname = `/${database}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: CONCURRENCY });
  pool.on('error', () => undefined);
  let run = 0;
  return {
    target: {
      async fresh() {
        run += 1;
        const tables = { table: `state_${run}`, outboxTable: `outbox_${run}` };
        await createPostgresTables(pool, tables);
        return {
          store: postgresFencedStore<State>(pool, tables),
          outbox: postgresOutbox<State, Sms>(pool, tables),
          cleanup: async () => {
            await pool.query(`DROP TABLE ${tables.table}, ${tables.outboxTable}`);
          },
        };
      },
    },
    async close() {
      await pool.end();
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.end();
    },
  };
}

export const outboxScenario: Scenario = {
  name: 'outbox',
  title: '6. The fenced outbox on real Redis and PostgreSQL (write vs commit with an effect vs commit + dispatch)',
  async run(ctx) {
    const began = now();
    const events = ctx.quick ? 2_000 : 10_000;
    const params = { events, keys: KEYS, concurrency: CONCURRENCY, redis: redisUrl(), postgres: postgresUrl(), rounds: ctx.rounds };
    const targets: Partial<Record<Store, Target>> = {};
    const closers: Array<() => Promise<void>> = [];
    const notes: string[] = [];
    for (const [store, open] of [
      ['redis', redisTarget],
      ['postgres', postgresTarget],
    ] as const) {
      const opened = await open();
      if (typeof opened === 'string') {
        ctx.log(`  ${store} skipped: ${opened}`);
        notes.push(`${store} skipped: ${opened}.`);
      } else {
        targets[store] = opened.target;
        closers.push(opened.close);
      }
    }
    try {
      const stores = (['redis', 'postgres'] as const).filter((s) => targets[s] !== undefined);
      const names: Name[] = stores.flatMap((s) => [`${s}-write`, `${s}-commit`, `${s}-dispatch`] as const);
      const split = (name: Name): [Store, Kind] => name.split('-') as [Store, Kind];
      // Warm-up (untimed): loads the scripts, fills the pools, compiles the hot paths.
      for (const name of names) {
        const [store, kind] = split(name);
        await runOnce(kind, targets[store] as Target, Math.min(events, 1_000));
      }
      const runs = await interleave(
        ctx,
        names,
        (name) => {
          const [store, kind] = split(name);
          return runOnce(kind, targets[store] as Target, events);
        },
        (_name, m) => `${m.usPerEvent!.toFixed(1)} µs/event (CPU ${m.cpuUsPerEvent!.toFixed(1)} µs/event)`,
      );
      const rows: Row[] = [];
      for (const store of stores) {
        const cost = (kind: Kind): number[] => series(runs[`${store}-${kind}`], 'usPerEvent');
        rows.push(
          row(`outbox.${store}.write`, `${store}: plain fenced write, wall time per event`, 'count', cost('write'), undefined, 'µs'),
          row(`outbox.${store}.commit`, `${store}: fenced commit with one effect, wall time per event`, 'count', cost('commit'), undefined, 'µs'),
          row(`outbox.${store}.dispatch`, `${store}: commit with one effect + dispatch (claim, send, mark done), wall time per event`, 'count', cost('dispatch'), undefined, 'µs'),
          row(`outbox.${store}.commit/write`, `${store}: cost of a commit with an effect / a plain fenced write`, 'ratio', pairedRatio(cost('commit'), cost('write'))),
          row(`outbox.${store}.dispatch/write`, `${store}: cost of commit + dispatch / a plain fenced write`, 'ratio', pairedRatio(cost('dispatch'), cost('write'))),
          row(`outbox.${store}.cpu-dispatch`, `${store}: Node CPU per event, commit + dispatch`, 'count', series(runs[`${store}-dispatch`], 'cpuUsPerEvent'), undefined, 'µs, for information'),
        );
      }
      notes.push(
        `Every run: ${events} operations over ${KEYS} keys, ${CONCURRENCY} in flight, one token for the whole run (every write accepted). A dispatch costs a claim (shared by up to ${CONCURRENCY / 2}–${CONCURRENCY} effects) and one completion per effect; the send itself is a no-op.`,
      );
      return { name: 'outbox', title: this.title, params, rows, notes, durationMs: now() - began };
    } finally {
      for (const close of closers) await close();
    }
  },
};
