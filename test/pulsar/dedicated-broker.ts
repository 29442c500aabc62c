/**
 * A dedicated Pulsar standalone for tests that restart their broker: its own data directory and
 * free ports, started and stopped through scripts/pulsar/pulsar.sh, so that the shared dev broker
 * is never disturbed.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/index.js';

const script = join(__dirname, '../../scripts/pulsar/pulsar.sh');

/** CI must run every scenario: there a broker that cannot start is a failure, not a skip. */
export const inCi = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';

export interface DedicatedBroker {
  /** Admin and WebSocket base URL. */
  readonly url: string;
  /** Binary protocol URL. */
  readonly serviceUrl: string;
  readonly env: NodeJS.ProcessEnv;
  readonly dir: string;
}

/** Run a pulsar.sh command against `broker`. */
export function brokerCommand(broker: DedicatedBroker, command: 'start' | 'stop' | 'restart'): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(script, [command], { env: broker.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** Start a dedicated broker; resolves with it, or with why it did not start (then nothing is left running). */
export async function startDedicatedBroker(prefix: string): Promise<DedicatedBroker | { failure: string }> {
  const [brokerPort, webPort, bookiePort] = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const env = {
    ...process.env,
    PULSAR_DATA_DIR: dir,
    PULSAR_BROKER_PORT: String(brokerPort),
    PULSAR_WEB_PORT: String(webPort),
    PULSAR_BOOKIE_PORT: String(bookiePort),
    PULSAR_START_TIMEOUT: '150',
    PULSAR_STOP_TIMEOUT: '20',
  };
  const broker = { url: `http://127.0.0.1:${webPort}`, serviceUrl: `pulsar://127.0.0.1:${brokerPort}`, env, dir };
  const started = await brokerCommand(broker, 'start');
  if (started.code === 0) return broker;
  await brokerCommand(broker, 'stop');
  rmSync(dir, { recursive: true, force: true });
  return { failure: `the dedicated broker did not start (pulsar.sh start exited ${started.code}): ${started.output.slice(-600)}` };
}

/** Stop a dedicated broker and delete its data. */
export async function stopDedicatedBroker(broker: DedicatedBroker): Promise<void> {
  await brokerCommand(broker, 'stop');
  rmSync(broker.dir, { recursive: true, force: true });
}
