/**
 * Fault tests of the outbox with separate Node processes, on the real Redis and the real
 * PostgreSQL: a dispatcher killed (SIGKILL) with sends in flight, deciding processes and a
 * dispatcher killed mid-run, and a lease holder paused (SIGSTOP) past its lease while another
 * process commits the same event. Every check reads what the fake gateway received and what the
 * outbox holds: every committed effect dispatched, no decision ever sent under two idempotency keys,
 * and nothing of the stale worker committed.
 */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { commitDecision, createOutboxDispatcher, effectIdempotencyKey, type Outbox } from '../../src/index.js';
import { acquireLease } from '../../src/adapters.js';
import { createPostgresTables, postgresOutbox } from '../../src/postgres/index.js';
import { redisLock, redisOutbox } from '../../src/redis/index.js';
import { uniqueName } from '../../src/testing/index.js';
import { waitFor } from '../helpers/index.js';
import { forkFixture, type FixtureProcess } from '../helpers/processes.js';
import { postgresUrl } from '../postgres/helpers.js';
import { deletePrefix, redisUrl, testPrefix } from '../redis/helpers.js';
import type { Decision, FaultEvent, Seen } from './fixtures/outbox-worker.js';
import { startGateway, type Gateway, type GatewayCall } from './gateway.js';

const fixture = join(import.meta.dirname, 'fixtures', 'outbox-worker.ts');
let redis: Redis;
let pool: pg.Pool;
let gateway: Gateway;
const prefixes: string[] = [];

beforeAll(() => {
  redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
  pool = new pg.Pool({ connectionString: postgresUrl, max: 4 });
  pool.on('error', () => undefined);
});
afterAll(async () => {
  for (const prefix of prefixes) await deletePrefix(redis, prefix);
  redis.disconnect();
  await pool.end();
});
beforeEach(async () => {
  gateway = await startGateway();
});
afterEach(async () => {
  await gateway.close();
});

/** Where one test's outbox lives, the same for the test and its processes. */
interface Setup {
  readonly outbox: Outbox<Seen, Decision>;
  readonly prefix: string;
  spawn(name: string): FixtureProcess;
}

async function setUp(backend: 'redis' | 'postgres'): Promise<Setup> {
  const prefix = testPrefix(`outbox-faults-${backend}`);
  prefixes.push(prefix);
  const tables = { table: uniqueName('state').replace(/-/g, '_'), outboxTable: uniqueName('fx').replace(/-/g, '_') };
  if (backend === 'postgres') await createPostgresTables(pool, tables);
  const outbox =
    backend === 'redis'
      ? redisOutbox<Seen, Decision>(redis, { prefix, shards: 2 })
      : postgresOutbox<Seen, Decision>(pool, { ...tables, tokenCounter: redisLock(redis, { prefix }) });
  const env = {
    EC_BACKEND: backend,
    EC_REDIS_URL: redisUrl,
    EC_POSTGRES_URL: postgresUrl,
    EC_PREFIX: prefix,
    EC_TABLES: JSON.stringify(tables),
    EC_GATEWAY: gateway.url,
  };
  return { outbox, prefix, spawn: (name) => forkFixture(fixture, name, { ...env, EC_WORKER: name }) };
}

const from = (sender: string): GatewayCall[] => gateway.calls.filter((c) => c.sender === sender);

/** Each decision and the idempotency keys it was ever sent under. */
function keysByDecision(): Map<string, Set<string>> {
  const byDecision = new Map<string, Set<string>>();
  for (const call of gateway.calls) {
    const keys = byDecision.get(call.payload.decision) ?? new Set<string>();
    keys.add(call.idempotencyKey);
    byDecision.set(call.payload.decision, keys);
  }
  return byDecision;
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** Wait until the outbox holds no pending effect (what was sent is then checked from the gateway). */
async function drained(outbox: Outbox<Seen, Decision>, timeoutMs = 30_000): Promise<void> {
  await waitFor('no pending effect', async () => (await outbox.counts()).pending === 0, timeoutMs);
}

for (const backend of ['redis', 'postgres'] as const) {
  describe(`outbox on ${backend}, separate processes`, () => {
    it('a dispatcher killed (SIGKILL) with sends in flight: every effect is sent, those in flight again under the same key', { timeout: 60_000 }, async () => {
      const { outbox, spawn } = await setUp(backend);
      const events: FaultEvent[] = [];
      for (let i = 0; i < 40; i++) {
        const key = `shopper-${i % 4}`;
        events.push({ key, messageId: `${key}:${i}` });
      }
      for (const { key, messageId } of events) {
        await outbox.commit(key, { seen: [messageId] }, { token: 1, owner: 'decider' }, [{ payload: { decision: messageId, by: 'decider', token: 1 } }], {
          messageId,
        });
      }
      const expected = new Map(events.map((e) => [e.messageId, effectIdempotencyKey(e.key, e.messageId, 0)]));

      gateway.hang.add('dispatcher-a');
      const a = spawn('dispatcher-a');
      a.child.send({ cmd: 'dispatch', visibilityMs: 1_500, concurrency: 5 });
      await a.next('started');
      await waitFor('five sends of dispatcher-a in flight', () => from('dispatcher-a').length >= 5, 20_000);
      a.child.kill('SIGKILL');
      await a.exited();
      const inFlight = from('dispatcher-a').map((c) => c.idempotencyKey);

      const b = spawn('dispatcher-b');
      b.child.send({ cmd: 'dispatch', visibilityMs: 1_500, concurrency: 5 });
      await b.next('started');
      await drained(outbox);
      b.child.send({ cmd: 'stop' });
      await b.next('stopped');

      const answered = new Set(gateway.calls.filter((c) => c.answered).map((c) => c.idempotencyKey));
      expect([...answered].sort(), 'every committed effect was accepted by the gateway').toEqual([...expected.values()].sort());
      expect(gateway.calls.every((c) => c.header === c.idempotencyKey), 'sent under its idempotency key').toBe(true);
      for (const [decision, keys] of keysByDecision()) expect([...keys], decision).toEqual([expected.get(decision)]);
      for (const key of inFlight) {
        expect(from('dispatcher-b').some((c) => c.idempotencyKey === key && c.attempt >= 2), `${key} sent again after the kill`).toBe(true);
      }
      for (const key of expected.values()) expect((await outbox.effect(key))?.status).toBe('done');
      const repeats = gateway.calls.length - expected.size;
      console.info(`${backend}: dispatcher killed with ${inFlight.length} sends in flight; ${repeats} repeated sends, each under its own key`);
    });

    it('deciding processes and a dispatcher killed (SIGKILL) mid-run: every event decided once, every decision sent, none under two keys', { timeout: 90_000 }, async () => {
      const { outbox, spawn } = await setUp(backend);
      const keys = [uniqueName('k'), uniqueName('k'), uniqueName('k')];
      const events: FaultEvent[] = keys.flatMap((key) => Array.from({ length: 15 }, (_, i) => ({ key, messageId: `${key}:${i}` })));
      // The first dispatcher's fourth send, and every later one, never gets an answer: it dies mid-send.
      gateway.hangAfter.set('dispatcher-1', 3);
      const d1 = spawn('dispatcher-1');
      d1.child.send({ cmd: 'dispatch', visibilityMs: 1_500, concurrency: 4 });
      await d1.next('started');
      // Every decider runs every event (as redeliveries would), each in its own order.
      const deciders = ['decider-0', 'decider-1', 'decider-2'].map((name) => {
        const w = spawn(name);
        w.child.send({ cmd: 'decide', events: shuffled(events), ttlMs: 1_000 });
        return w;
      });
      const decided = (w: FixtureProcess): number => w.received.filter((m) => m.event === 'decided').length;
      const [w0, w1, w2] = deciders as [FixtureProcess, FixtureProcess, FixtureProcess];
      await waitFor('decider-0 decided 5 events', () => decided(w0) >= 5, 30_000);
      w0.child.kill('SIGKILL');
      await waitFor('a send of dispatcher-1 in flight', () => from('dispatcher-1').some((c) => !c.answered), 30_000);
      d1.child.kill('SIGKILL');
      const d2 = spawn('dispatcher-2');
      d2.child.send({ cmd: 'dispatch', visibilityMs: 1_500, concurrency: 4 });
      await d2.next('started');
      await waitFor('decider-1 decided 10 events', () => decided(w1) >= 10, 30_000);
      w1.child.kill('SIGKILL');
      await w2.next('done', 60_000);
      await drained(outbox);
      d2.child.send({ cmd: 'stop' });
      await d2.next('stopped');

      for (const key of keys) {
        const state = await outbox.get(key);
        const expectedSeen = events.filter((e) => e.key === key).map((e) => e.messageId);
        expect([...(state?.value.seen ?? [])].sort(), `${key}: every event applied once`).toEqual([...expectedSeen].sort());
      }
      const expected = new Map(events.map((e) => [e.messageId, effectIdempotencyKey(e.key, e.messageId, 0)]));
      for (const [decision, ids] of keysByDecision()) expect([...ids], `${decision} sent under one key`).toEqual([expected.get(decision)]);
      const answered = new Map<string, GatewayCall>();
      for (const call of gateway.calls) if (call.answered && !answered.has(call.idempotencyKey)) answered.set(call.idempotencyKey, call);
      for (const [decision, id] of expected) {
        const effect = await outbox.effect(id);
        expect(effect?.status, `${decision} committed and done`).toBe('done');
        const call = answered.get(id);
        expect(call, `${decision} accepted by the gateway`).toBeDefined();
        // The gateway got the decision as first committed, whoever re-decided the event later.
        expect([call?.payload.by, call?.payload.token]).toEqual([effect?.owner, effect?.token]);
      }
      console.info(
        `${backend}: ${events.length} events, 2 deciders and a dispatcher killed; ${gateway.calls.length} sends for ${expected.size} decisions`,
      );
    });

    it('a lease holder paused (SIGSTOP) past its lease while another process commits: the stale commit and its effects never land', { timeout: 60_000 }, async () => {
      const { outbox, prefix, spawn } = await setUp(backend);
      const key = uniqueName('paused');
      const messageId = `${key}:1`;
      const paused = spawn('paused-worker');
      paused.child.send({ cmd: 'hold-and-commit', key, messageId, ttlMs: 400, workMs: 600 });
      const acquired = await paused.next('acquired');
      paused.child.kill('SIGSTOP');

      // The successor: the event redelivered to another owner, decided and committed while the first is frozen.
      const lock = redisLock(redis, { prefix });
      const held = await acquireLease(lock, key, 'successor', { ttlMs: 5_000, timeoutMs: 10_000, retryDelayMs: 20 });
      expect(held.lease.token).toBeGreaterThan(acquired.token as number);
      const fence = { token: held.lease.token, owner: 'successor' };
      await commitDecision(outbox, { key, fence, message: { id: messageId } }, (state) => ({
        value: { seen: [...(state?.seen ?? []), messageId] },
        effects: [{ payload: { decision: messageId, by: 'successor', token: fence.token } }],
      }));

      paused.child.kill('SIGCONT');
      const committed = await paused.next('committed');
      expect(committed.ok, 'the paused process committed with its old token').toBe(false);
      expect(committed.error).toMatchObject({ code: 'EC_STALE_TOKEN', token: acquired.token, currentToken: fence.token });
      await held.release();

      const sent: Array<Decision & { key: string }> = [];
      const dispatcher = createOutboxDispatcher(outbox, (effect) => void sent.push({ key: effect.idempotencyKey, ...effect.payload }));
      while ((await dispatcher.runOnce()) > 0);
      await drained(outbox);

      expect(sent).toEqual([{ key: effectIdempotencyKey(key, messageId, 0), by: 'successor', decision: messageId, token: fence.token }]);
      expect(await outbox.effect(`${key}:paused-worker:extra`), 'the stale worker’s own effect was never committed').toBeUndefined();
      const state = await outbox.get(key);
      expect(state).toMatchObject({ value: { seen: [messageId] }, token: fence.token, owner: 'successor' });
    });
  });
}
