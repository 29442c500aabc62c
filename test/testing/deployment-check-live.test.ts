/**
 * The deployment checker on a live multi-process run: three consumer processes on the live Pulsar
 * broker, each writing its run log, then `exclusive-consumer check` over the merged logs. In
 * key-shared mode it must report no overlap and no order break; in shared mode (no exclusivity
 * across consumers, the baseline) it must report the overlaps that mode makes.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { pulsarAdmin, pulsarWebSocketTransport } from '../../src/pulsar/index.js';
import { checkRunLog, uniqueName } from '../../src/testing/index.js';
import { forkFixture } from '../helpers/processes.js';
import { publishAll, type Event } from '../pulsar/websocket/fleet.js';
import { skipReason, waitDrained, webUrl } from '../pulsar/websocket/helpers.js';

const skip = skipReason();
const dir = mkdtempSync(join(tmpdir(), 'ec-live-check-'));
const topics: string[] = [];
const run = promisify(execFile);
const fixture = join(__dirname, 'fixtures', 'run-log-consumer.ts');

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (skip !== undefined) return;
  const admin = pulsarAdmin(webUrl);
  await Promise.allSettled(topics.map((t) => admin.deleteTopic(t, { force: true })));
});

async function fleetRun(mode: 'key-shared' | 'shared', keys: number): Promise<string[]> {
  const topic = uniqueName(`checked-${mode}`);
  topics.push(topic);
  await pulsarAdmin(webUrl).createSubscription(topic, 'checked');
  const logs = ['p1', 'p2', 'p3'].map((name) => join(dir, `${topic}-${name}.jsonl`));
  const processes = ['p1', 'p2', 'p3'].map((name, i) =>
    forkFixture(fixture, name, { EC_WEB_URL: webUrl, EC_TOPIC: topic, EC_MODE: mode, EC_NAME: name, EC_LOG: logs[i] as string }),
  );
  await Promise.all(processes.map((p) => p.next('started')));
  const transport = pulsarWebSocketTransport({ url: webUrl });
  try {
    await publishAll(transport, topic, Array.from({ length: 600 }, (_, seq) => ({ key: `k${seq % keys}`, seq })) as Event[]);
  } finally {
    await transport.close();
  }
  await waitDrained(webUrl, topic, 'checked', 60_000);
  for (const p of processes) p.child.send({ cmd: 'stop' });
  await Promise.all(processes.map((p) => p.next('stopped')));
  return logs;
}

const cli = async (...args: string[]): Promise<{ code: number; stdout: string }> => {
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: join(__dirname, '..', '..') });
    return { code: 0, stdout };
  } catch (error) {
    const e = error as { code: number; stdout: string };
    return { code: e.code, stdout: e.stdout };
  }
};

describe.skipIf(skip !== undefined)('exclusive-consumer check on a live three-process run', () => {
  it('key-shared: the merged run logs show no overlap, no order break, every event', async () => {
    const logs = await fleetRun('key-shared', 40);
    const report = checkRunLog(logs.map((l) => readFileSync(l, 'utf8')).join('\n'));
    console.log(`key-shared, 3 processes: ${report.runs} runs, ${report.consumers.join(',')}, overlaps ${report.overlapCount}, repeats ${report.repeats.length}`);
    expect(report.overlaps).toEqual([]);
    expect(report.orderViolations).toEqual([]);
    expect(report.open).toEqual([]);
    expect(report.lost).toEqual([]);
    expect(new Set(report.runs > 0 ? report.consumers : []).size).toBeGreaterThanOrEqual(2);
    expect(report.clock).toBe('wall');
    const { code, stdout } = await cli('check', ...logs);
    expect(stdout).toContain('OK: no overlap, no order violation');
    expect(code).toBe(0);
  }, 120_000);

  it('shared: the overlaps across processes that mode allows are found, and the CLI exits 1', async () => {
    const logs = await fleetRun('shared', 3);
    const report = checkRunLog(logs.map((l) => readFileSync(l, 'utf8')).join('\n'));
    console.log(`shared, 3 processes: ${report.runs} runs, overlaps ${report.overlapCount} (same consumer ${report.sameConsumerOverlapCount})`);
    expect(report.overlapCount).toBeGreaterThan(0);
    // Within one process the engine still runs a key one at a time.
    expect(report.sameConsumerOverlapCount).toBe(0);
    const { code, stdout } = await cli('check', ...logs);
    expect(code).toBe(1);
    expect(stdout).toContain('across consumers');
    expect(stdout).toContain('VIOLATED');
  }, 120_000);
});
