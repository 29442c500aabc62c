/**
 * A Redis restarted without persistence in the middle of a run, on a dedicated `redis-server` this
 * test spawns on a free port (never the shared 6379).
 *
 * What a restart without persistence loses is everything on that server: leases AND fence counters
 * AND any fenced state stored there. Fencing cannot protect state that is gone, so this test puts the
 * two where a real deployment that cares would: leases and counters on the restarted Redis (a cache
 * without persistence), fenced state on the Redis that survives (here the shared test Redis, with a
 * key prefix of its own), the store given the leases' Redis as `tokenCounter`. It then checks that:
 *
 * - while the server is down, lock operations fail with a retriable `TransportError`;
 * - after the restart they work again, and the counter that went back to 0 hands out a used token
 *   at most once: its first write is rejected, the store raises the counter to the highest token it
 *   has seen, and every later lease gets a new token;
 * - a write with a token minted before the restart is rejected once a higher one was accepted;
 * - no token was ever accepted twice, and accepted tokens increase with the record's version.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStaleTokenError, isTransportError, type StaleTokenError } from '../../src/index.js';
import { type Lease } from '../../src/adapters.js';
import { redisFencedStore, redisLock } from '../../src/redis/index.js';
import { uniqueName } from '../../src/testing/index.js';
import { deletePrefix, redisUrl, sleep, testPrefix, waitFor } from './helpers.js';
import { freePort } from '../helpers/index.js';

let port = 0;
let server: ChildProcess | undefined;

async function startServer(): Promise<void> {
  server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const probe = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined); // refused until the server listens
  try {
    await waitFor(`redis-server on ${port}`, async () => {
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        probe.disconnect();
        return false;
      }
    }, 10_000);
  } finally {
    probe.disconnect();
  }
}

async function stopServer(): Promise<void> {
  const child = server;
  server = undefined;
  if (child === undefined || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** A client that fails fast while the server is down and reconnects quickly once it is back. */
async function fastFailing(): Promise<Redis> {
  const client = new Redis({ port, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 50 });
  // Connection errors while the server is down are expected here; commands report them.
  client.on('error', () => undefined);
  // Without an offline queue, commands sent before the connection is ready fail at once.
  await new Promise((resolve) => client.once('ready', resolve));
  return client;
}

const statePrefix = testPrefix('restart');
let state: Redis;

beforeAll(async () => {
  port = await freePort();
  await startServer();
  state = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
});
afterAll(async () => {
  await stopServer();
  await deletePrefix(state, statePrefix);
  state.disconnect();
});

interface Accepted {
  readonly token: number;
  readonly owner: string;
  readonly version: number;
  readonly afterRestart: boolean;
}

describe('Redis restarted without persistence mid-run', () => {
  it('operations fail typed and recover; the counter is raised past every token seen; stale writes stay rejected', { timeout: 30_000 }, async () => {
    const leases = await fastFailing();
    const lock = redisLock(leases, { prefix: statePrefix });
    const store = redisFencedStore<string>(state, { prefix: statePrefix, tokenCounter: leases });
    const key = uniqueName('restart');

    // A holder that will pause through the restart and write at the very end.
    const stale = (await lock.tryAcquire(key, 'paused-holder', 60_000)) as Lease;
    await lock.release(stale);

    let restarted = false;
    let stop = false;
    const accepted: Accepted[] = [];
    const minted: Array<{ token: number; afterRestart: boolean }> = [];
    const rejected: Array<{ token: number; currentToken: number; afterRestart: boolean }> = [];
    const failures: unknown[] = [];

    const workerLoop = async (owner: string): Promise<void> => {
      while (!stop) {
        let lease: Lease | undefined;
        try {
          lease = await lock.tryAcquire(key, owner, 2_000);
        } catch (error) {
          failures.push(error);
          await sleep(20);
          continue;
        }
        if (lease === undefined) {
          await sleep(2);
          continue;
        }
        const afterRestart = restarted;
        minted.push({ token: lease.token, afterRestart });
        try {
          const record = await store.put(key, `by ${owner}`, { token: lease.token, owner });
          accepted.push({ token: lease.token, owner, version: record.version, afterRestart });
        } catch (error) {
          if (isStaleTokenError(error)) {
            rejected.push({ token: error.token, currentToken: error.currentToken, afterRestart });
          } else failures.push(error);
        }
        await sleep(1);
        await lock.release(lease).catch((error: unknown) => failures.push(error));
      }
    };

    const workers = ['w1', 'w2', 'w3'].map(workerLoop);
    await waitFor('some writes before the restart', () => accepted.length >= 20, 10_000);
    await stopServer();
    const failuresBefore = failures.length;
    await waitFor('failures while Redis is down', () => failures.length > failuresBefore + 5, 5_000);
    // Set before the new server starts: the workers' client reconnects on its own, possibly before
    // `startServer` returns, and every token minted from now on comes from the new server.
    restarted = true;
    const acceptedBefore = accepted.length;
    await startServer();
    await waitFor('writes after the restart', () => accepted.length >= acceptedBefore + 20, 10_000);
    stop = true;
    await Promise.all(workers);

    // While the server was down: typed, retriable failures with the client's error as cause.
    expect(failures.length).toBeGreaterThan(0);
    for (const failure of failures) {
      expect(isTransportError(failure), String(failure)).toBe(true);
      expect((failure as { retriable: boolean }).retriable).toBe(true);
      expect((failure as Error).cause).toBeDefined();
    }

    const highestBefore = Math.max(...accepted.filter((a) => !a.afterRestart).map((a) => a.token));
    const mintedAfter = minted.filter((m) => m.afterRestart).map((m) => m.token);
    // The counter went back: the first lease after the restart reused a token…
    expect(mintedAfter[0]).toBeLessThanOrEqual(highestBefore);
    // …its write was rejected, which raised the counter: every later lease has a token never seen.
    const reused = mintedAfter.filter((t) => t <= highestBefore);
    expect(reused.length).toBeGreaterThanOrEqual(1);
    expect(reused.length).toBeLessThanOrEqual(3); // at most the leases granted before the first rejection
    expect(rejected.filter((r) => r.afterRestart).every((r) => r.currentToken >= highestBefore)).toBe(true);
    expect(mintedAfter.slice(reused.length).every((t) => t > highestBefore)).toBe(true);

    // No duplicate accepted write: tokens are unique and increase with the version.
    const byVersion = [...accepted].sort((a, b) => a.version - b.version);
    expect(new Set(byVersion.map((a) => a.token)).size).toBe(byVersion.length);
    byVersion.forEach((a, i) => {
      if (i > 0) expect(a.token).toBeGreaterThan(byVersion[i - 1]!.token);
    });

    // The holder of a token minted before the restart wakes up and writes: rejected.
    const error = await store.put(key, 'by paused-holder', { token: stale.token, owner: 'paused-holder' }).catch((e: unknown) => e);
    expect(isStaleTokenError(error)).toBe(true);
    expect((error as StaleTokenError).currentToken).toBe(byVersion.at(-1)!.token);
    expect((await store.get(key))?.token).toBe(byVersion.at(-1)!.token);
    console.info(
      `restart: ${accepted.length} writes accepted (${accepted.length - acceptedBefore} after the restart), ` +
        `${failures.length} typed failures while down, tokens reused after the restart: [${reused.join(', ')}] ` +
        `(highest before: ${highestBefore}), first new token: ${mintedAfter[reused.length]}`,
    );
    leases.disconnect();
  });

  it("without raising the counter (tokenCounter 'none'), a counter that went back keeps handing out used tokens", async () => {
    const leases = await fastFailing();
    const lock = redisLock(leases, { prefix: statePrefix });
    const key = uniqueName('no-raise');
    const write = async (store: ReturnType<typeof redisFencedStore<string>>, owner: string) => {
      const lease = (await lock.tryAcquire(key, owner, 2_000)) as Lease;
      try {
        await store.put(key, owner, { token: lease.token, owner });
        return { token: lease.token, ok: true };
      } catch (error) {
        if (!isStaleTokenError(error)) throw error;
        return { token: lease.token, ok: false };
      } finally {
        await lock.release(lease);
      }
    };
    const raising = redisFencedStore<string>(state, { prefix: statePrefix, tokenCounter: leases });
    const silent = redisFencedStore<string>(state, { prefix: statePrefix, tokenCounter: 'none' });
    for (let i = 0; i < 5; i++) expect((await write(raising, `before-${i}`)).ok).toBe(true);

    await stopServer();
    await startServer();
    await waitFor('the client reconnected', async () => (await leases.ping().catch(() => '')) === 'PONG', 5_000);

    const without = [];
    for (let i = 0; i < 4; i++) without.push(await write(silent, `silent-${i}`));
    expect(without.map((w) => w.token)).toEqual([1, 2, 3, 4]);
    expect(without.every((w) => !w.ok)).toBe(true);

    const withRaise = [await write(raising, 'raising-0'), await write(raising, 'raising-1')];
    expect(withRaise[0]).toEqual({ token: 5, ok: false });
    expect(withRaise[1]).toEqual({ token: 6, ok: true });
    leases.disconnect();
  });
});
