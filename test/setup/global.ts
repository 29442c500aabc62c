/**
 * Starts the real services the integration tests need, so that `npm test` on a fresh machine needs
 * nothing else: a Redis on 127.0.0.1:6379 (started with `redis-server` if none answers), a
 * 3-master Redis Cluster on loopback ports, an Apache Pulsar standalone broker
 * (`scripts/pulsar/pulsar.sh`), and a PostgreSQL on 127.0.0.1:5432 (the machine's cluster, started
 * with `pg_ctlcluster` if none answers). Each is stopped afterwards if this setup started it, except
 * PostgreSQL, which is the machine's service: the setup only drops the database it created.
 *
 * Environment:
 * - `EC_REDIS_URL`: use this Redis instead of 127.0.0.1:6379.
 * - `EC_POSTGRES_URL`: use this PostgreSQL (a URL to a database the setup may create databases
 *   from) instead of `postgres://postgres@127.0.0.1:5432/postgres`; nothing is started.
 * - `EC_PULSAR_WEB_URL` (and `EC_PULSAR_SERVICE_URL`): use an existing broker; nothing is started.
 * - `EC_SKIP_PULSAR=1`: do not start Pulsar (its tests skip, saying so).
 * - `EC_REDIS_CLUSTER_PORTS=7101,7102,7103`: ports of the cluster nodes this setup starts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `redis://host:port` of a standalone Redis. */
    redisUrl: string;
    /** Seed nodes of a 3-master Redis Cluster, or empty when it could not start (tests skip). */
    redisClusterNodes: ReadonlyArray<{ host: string; port: number }>;
    /** Pulsar admin/WebSocket base URL (`http://127.0.0.1:8080`), or '' when unavailable. */
    pulsarWebUrl: string;
    /** Pulsar binary protocol URL (`pulsar://127.0.0.1:6650`), or ''. */
    pulsarServiceUrl: string;
    /** Why Pulsar is unavailable, when it is. */
    pulsarUnavailable: string;
    /** `postgres://…/<database>` of a database created for this run and dropped after it. */
    postgresUrl: string;
  }
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLUSTER_PORTS = (process.env.EC_REDIS_CLUSTER_PORTS ?? '7101,7102,7103').split(',').map(Number);

function ping(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function ensureRedis(): Promise<{ url: string; started: ChildProcess | undefined }> {
  const url = process.env.EC_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const { hostname, port } = new URL(url);
  if (await ping(hostname, Number(port))) return { url, started: undefined };
  if (process.env.EC_REDIS_URL !== undefined) throw new Error(`EC_REDIS_URL=${url} does not answer PING`);
  const child = spawn('redis-server', ['--port', port, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  await waitUntil(`redis-server on ${port}`, () => ping(hostname, Number(port)), 10_000);
  return { url, started: child };
}

async function startCluster(): Promise<{ nodes: Array<{ host: string; port: number }>; stop: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'ec-redis-cluster-'));
  const children: ChildProcess[] = [];
  const stop = () => {
    for (const child of children) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of CLUSTER_PORTS) {
      if (await ping('127.0.0.1', port)) throw new Error(`port ${port} is already taken by a Redis`);
      const nodeDir = join(dir, String(port));
      mkdirSync(nodeDir);
      children.push(
        spawn(
          'redis-server',
          ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
            '--dir', nodeDir, '--save', '', '--appendonly', 'no'],
          { stdio: 'ignore' },
        ),
      );
    }
    for (const port of CLUSTER_PORTS) await waitUntil(`cluster node ${port}`, () => ping('127.0.0.1', port), 10_000);
    const create = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...CLUSTER_PORTS.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    await waitUntil(
      'cluster_state:ok',
      async () =>
        CLUSTER_PORTS.every((port) =>
          spawnSync('redis-cli', ['-p', String(port), 'cluster', 'info'], { encoding: 'utf8' }).stdout.includes('cluster_state:ok'),
        ),
      20_000,
    );
    return { nodes: CLUSTER_PORTS.map((port) => ({ host: '127.0.0.1', port })), stop };
  } catch (error) {
    stop();
    throw error;
  }
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return response.ok;
  } catch {
    return false;
  }
}

function startPulsar(): { webUrl: string; serviceUrl: string; unavailable: string; stop: () => void } {
  const external = process.env.EC_PULSAR_WEB_URL;
  if (external !== undefined) {
    return {
      webUrl: external,
      serviceUrl: process.env.EC_PULSAR_SERVICE_URL ?? 'pulsar://127.0.0.1:6650',
      unavailable: '',
      stop: () => undefined,
    };
  }
  const none = (why: string) => ({ webUrl: '', serviceUrl: '', unavailable: why, stop: () => undefined });
  if (process.env.EC_SKIP_PULSAR === '1') return none('EC_SKIP_PULSAR=1');
  const script = join(root, 'scripts', 'pulsar', 'pulsar.sh');
  const already = spawnSync(script, ['status'], { encoding: 'utf8' }).status === 0;
  const started = already ? undefined : spawnSync(script, ['start'], { encoding: 'utf8', timeout: 600_000 });
  if (started !== undefined && started.status !== 0) {
    throw new Error(`Could not start Pulsar (scripts/pulsar/pulsar.sh start):\n${started.stdout}\n${started.stderr}`);
  }
  return {
    webUrl: `http://127.0.0.1:${process.env.PULSAR_WEB_PORT ?? '8080'}`,
    serviceUrl: `pulsar://127.0.0.1:${process.env.PULSAR_BROKER_PORT ?? '6650'}`,
    unavailable: '',
    stop: () => {
      if (!already) spawnSync(script, ['stop'], { stdio: 'ignore', timeout: 60_000 });
    },
  };
}

async function postgresAnswers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The machine's PostgreSQL version, from `/etc/postgresql/<version>/main` (Debian layout). */
function postgresVersion(): string {
  const dir = '/etc/postgresql';
  const versions = existsSync(dir) ? readdirSync(dir).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions[0] === undefined) throw new Error('No PostgreSQL answers and none is installed under /etc/postgresql; set EC_POSTGRES_URL');
  return versions[0];
}

async function ensurePostgres(): Promise<{ url: string; drop: () => Promise<void> }> {
  const given = process.env.EC_POSTGRES_URL;
  const adminUrl = given ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  if (!(await postgresAnswers(adminUrl))) {
    if (given !== undefined) throw new Error(`EC_POSTGRES_URL=${given} does not answer`);
    const version = postgresVersion();
    const started = spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start'], { encoding: 'utf8', timeout: 60_000 });
    if (started.status !== 0) throw new Error(`pg_ctlcluster ${version} main start failed: ${started.stdout}${started.stderr}`);
    await waitUntil(`PostgreSQL ${version} on ${new URL(adminUrl).host}`, () => postgresAnswers(adminUrl), 30_000);
  }
  // A database of this run's own: tests create tables freely and nothing outlives the run.
  const database = `ec_test_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${database}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        // FORCE: a fault test's killed process may leave a connection the server has not noticed yet.
        await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redis = await ensureRedis();
  const cluster = await startCluster();
  const pulsar = startPulsar();
  if (pulsar.webUrl !== '' && !(await httpOk(`${pulsar.webUrl}/admin/v2/namespaces/public/default`))) {
    throw new Error(`Pulsar at ${pulsar.webUrl} does not answer its admin API`);
  }
  // Last: the database it creates is dropped only by the teardown this function returns.
  const postgres = await ensurePostgres();
  project.provide('redisUrl', redis.url);
  project.provide('redisClusterNodes', cluster.nodes);
  project.provide('pulsarWebUrl', pulsar.webUrl);
  project.provide('pulsarServiceUrl', pulsar.serviceUrl);
  project.provide('pulsarUnavailable', pulsar.unavailable);
  project.provide('postgresUrl', postgres.url);
  return async () => {
    pulsar.stop();
    cluster.stop();
    redis.started?.kill('SIGTERM');
    await postgres.drop();
  };
}
