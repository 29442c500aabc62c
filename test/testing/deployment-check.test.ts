/**
 * The deployment history checker: run logs (written by runLog) and OTLP trace exports (of
 * tracing()) mapped to run records and checked with checkHistory, on histories with planted
 * overlaps, order breaks and repeats; the CLI's output and exit codes in a child process.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { MixedClocksError, createExclusiveConsumer, hashKey, runLog } from '../../src/index.js';
import { tracing } from '../../src/otel/index.js';
import { checkRunLog, checkSpans, parseRunLog } from '../../src/testing/index.js';
import { publishEvents, resourcesPerTest, sleep, waitFor, type TestEvent } from '../helpers/index.js';
import { exporter, registerSdk } from '../otel/sdk.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'ec-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const { consumers, setup } = resourcesPerTest();

/** A run log of hand-made runs: [consumer, key, seq, start, end, ok?]. */
function log(runs: ReadonlyArray<readonly [string, string, number, number, number | undefined, boolean?]>, clock = 'wall'): string {
  return runs
    .flatMap(([consumer, key, seq, start, end, ok = true], i) => [
      JSON.stringify({ ev: 'start', run: `${consumer}#x:${i}`, consumer, key, messages: [{ id: `m${seq}`, seq }], t: start, clock }),
      ...(end === undefined ? [] : [JSON.stringify({ ev: 'end', run: `${consumer}#x:${i}`, ok, t: end })]),
    ])
    .join('\n');
}

const CLEAN = log([
  ['a', 'k1', 1, 0, 10],
  ['b', 'k1', 2, 10, 20], // touches, does not overlap
  ['a', 'k2', 3, 5, 30],
  ['b', 'k2', 4, 31, 40],
]);

const PLANTED = log([
  ['a', 'k1', 1, 0, 10],
  ['b', 'k1', 2, 5, 15], // overlaps a's run across processes
  ['a', 'k2', 3, 20, 40],
  ['a', 'k2', 4, 30, 50], // overlaps within one consumer
  ['a', 'k3', 5, 100, 110],
  ['b', 'k3', 6, 60, 70], // seq 6 finished before seq 5: order break
  ['a', 'k4', 7, 200, 210],
  ['b', 'k4', 7, 220, 230], // message m7 ran twice: a repeat
]);

describe('checkRunLog()', () => {
  it('reports nothing on a clean history', () => {
    const report = checkRunLog(CLEAN);
    expect(report).toMatchObject({ runs: 4, keys: 2, consumers: ['a', 'b'], overlapCount: 0, orderViolations: [], repeats: [], violated: false, clock: 'wall' });
  });

  it('finds planted overlaps within and across consumers, an order break and a repeat', () => {
    const report = checkRunLog(PLANTED);
    expect(report.overlapCount).toBe(2);
    expect(report.sameConsumerOverlapCount).toBe(1);
    expect(report.overlaps.map((o) => [o.key, o.first.seq, o.second.seq, o.sameConsumer])).toEqual([
      ['k1', 1, 2, false],
      ['k2', 3, 4, true],
    ]);
    expect(report.orderViolations).toEqual([{ key: 'k3', completed: [6, 5] }]);
    expect(report.repeats).toEqual([{ messageId: 'm7', key: 'k4', consumers: ['a', 'b'] }]);
    expect(report.duplicates).toEqual([7]);
    expect(report.violated).toBe(true);
  });

  it('takes lines in any order and from several files, counts an unended run as open and skips what it cannot read', () => {
    const lines = `${PLANTED}\n${log([['c', 'k9', 9, 500, undefined]])}\nnot json\n{"ev":"end","run":"ghost","ok":true,"t":1}\n{"ev":"dropped","count":3,"t":2}`.split('\n').reverse();
    const report = checkRunLog(lines);
    expect(report.overlapCount).toBe(2);
    expect(report.open.map((r) => r.key)).toEqual(['k9']);
    expect(report.skipped).toBe(2);
    expect(report.dropped).toBe(3);
  });

  it('refuses to compare runs stamped on different clocks', () => {
    const mixed = `${log([['a', 'k', 1, 0, 10]], 'wall')}\n${log([['b', 'k', 2, 5, 15]], 'boot:1234')}`;
    expect(() => checkRunLog(mixed)).toThrow(MixedClocksError);
  });

  it('one record per event of a batch run, never an overlap with itself', () => {
    const batch = [
      JSON.stringify({ ev: 'start', run: 'a#1', consumer: 'a', key: 'k', messages: [{ id: 'm1', seq: 1 }, { id: 'm2', seq: 2 }], t: 0, clock: 'wall' }),
      JSON.stringify({ ev: 'end', run: 'a#1', ok: true, t: 10 }),
    ];
    const parsed = parseRunLog(batch);
    expect(parsed.runs.map((r) => [r.messageId, r.run])).toEqual([
      ['m1', 'a#1'],
      ['m2', 'a#1'],
    ]);
    expect(checkRunLog(batch).overlapCount).toBe(0);
  });
});

describe('runLog()', () => {
  it('writes one start and one end line per run, keys hashed, wall clock by default: a clean history for two consumers', async () => {
    const { broker, topic } = setup('runlog');
    const lines: string[] = [];
    const middleware = runLog<TestEvent>({ write: (l) => lines.push(l), seqOf: (e) => e.seq, keySalt: 's' });
    for (const name of ['c1', 'c2']) {
      const c = createExclusiveConsumer<TestEvent>(topic, (e) => e.key, () => sleep(1), {
        transport: broker.transport(),
        consumerName: name,
        initialPosition: 'earliest',
        middleware: [middleware],
      });
      consumers.push(c);
      await c.start();
    }
    publishEvents(broker, topic, Array.from({ length: 60 }, (_, seq) => ({ key: `k${seq % 6}`, seq })));
    await waitFor('60 ends', () => lines.filter((l) => l.includes('"ev":"end"')).length === 60);
    const start = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(start).toMatchObject({ ev: 'start', clock: 'wall', key: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(lines.some((l) => l.includes('"k0"'))).toBe(false);
    expect(Math.abs((start.t as number) / 1000 - Date.now())).toBeLessThan(60_000);
    const report = checkRunLog(lines);
    expect(report).toMatchObject({ runs: 60, keys: 6, overlapCount: 0, orderViolations: [], repeats: [], violated: false, lost: [] });
    expect(report.overlaps).toEqual([]);
    expect(hashKey('k0', 's')).toHaveLength(16);
  });

  it('appends to a file with a bounded buffer: beyond it lines are dropped and counted, not held', async () => {
    const path = join(dir, 'bounded.jsonl');
    const log = runLog({ path, maxBufferedBytes: 1024, keys: 'raw' });
    const ctx = {
      key: 'k',
      consumer: { consumerName: 'c' },
      events: [{}],
      messages: [{ id: 'm' }],
      message: { id: 'm' },
      fencingToken: undefined,
    } as unknown as Parameters<typeof log>[0];
    // Synchronous bursts: the stream cannot drain between them.
    const runs = Array.from({ length: 200 }, () => log(ctx, async () => undefined));
    await Promise.all(runs);
    expect(log.dropped()).toBeGreaterThan(0);
    // A run once the buffer drained reports the drops before its own lines; a run while it is
    // still full (a slow disk, a busy machine) is dropped too, and the next one tried.
    let before: number;
    do {
      before = log.dropped();
      await sleep(20);
      await log(ctx, async () => undefined);
    } while (log.dropped() > before);
    await log.close();
    const report = checkRunLog(readFileSync(path, 'utf8'));
    expect(report.dropped).toBe(log.dropped());
    expect(report.runs).toBeGreaterThan(0);
    expect(() => runLog({})).toThrow(/path/);
    expect(() => runLog({ path, write: () => undefined })).toThrow(/exactly one/);
    expect(() => runLog({ path, clock: 'local' as 'wall' })).toThrow(/clock/);
  });
});

/** ReadableSpans as an OTLP JSON export (what the collector's file exporter writes). */
function otlp(spans: readonly ReadableSpan[]): object {
  const value = (v: unknown): object =>
    typeof v === 'string' ? { stringValue: v } : Number.isInteger(v) ? { intValue: String(v) } : typeof v === 'number' ? { doubleValue: v } : { boolValue: v };
  const nanos = ([s, ns]: [number, number]): string => (BigInt(s) * 1_000_000_000n + BigInt(ns)).toString();
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'test' } }] },
        scopeSpans: [
          {
            scope: { name: 'exclusive-consumer' },
            spans: spans.map((s) => ({
              name: s.name,
              kind: 5,
              startTimeUnixNano: nanos(s.startTime),
              endTimeUnixNano: nanos(s.endTime),
              attributes: Object.entries(s.attributes).map(([key, v]) => ({ key, value: value(v) })),
              status: { code: s.status.code },
            })),
          },
        ],
      },
    ],
  };
}

describe('checkSpans()', () => {
  it("maps the tracing middleware's process spans to runs: a clean run, then a planted overlap", async () => {
    registerSdk();
    exporter.reset();
    const { broker, topic } = setup('spans');
    for (const name of ['c1', 'c2']) {
      const c = createExclusiveConsumer<TestEvent>(topic, (e) => e.key, () => sleep(1), {
        transport: broker.transport(),
        consumerName: name,
        initialPosition: 'earliest',
        middleware: [tracing({ keys: 'raw' })],
      });
      consumers.push(c);
      await c.start();
    }
    publishEvents(broker, topic, Array.from({ length: 40 }, (_, seq) => ({ key: `k${seq % 4}`, seq })));
    await waitFor('40 spans', () => exporter.getFinishedSpans().filter((s) => s.name.startsWith('process ')).length === 40);
    const spans = exporter.getFinishedSpans();
    const clean = checkSpans(otlp(spans));
    expect(clean).toMatchObject({ runs: 40, keys: 4, overlapCount: 0, repeats: [], clock: 'wall', violated: false });
    expect(clean.consumers.length).toBeGreaterThanOrEqual(1);

    // Plant: the same spans again as another consumer, shifted by half a run: overlaps and repeats.
    const first = spans[0] as ReadableSpan;
    const twin = { ...first, attributes: { ...first.attributes, 'messaging.client.id': 'intruder' } } as ReadableSpan;
    const planted = checkSpans(JSON.stringify(otlp([...spans, twin])));
    expect(planted.overlapCount).toBeGreaterThanOrEqual(1);
    expect(planted.overlaps.some((o) => o.second.consumer === 'intruder' || o.first.consumer === 'intruder')).toBe(true);
    expect(planted.repeats.map((r) => r.messageId)).toContain(first.attributes['messaging.message.id']);
    expect(planted.violated).toBe(true);
  });

  it('takes the lease wait off the span, reads the outcome, and skips spans that are not runs', () => {
    const span = (client: string, startMs: number, endMs: number, extra: Record<string, unknown>[] = []) => ({
      name: 'process t',
      startTimeUnixNano: String(BigInt(startMs) * 1_000_000n),
      endTimeUnixNano: String(BigInt(endMs) * 1_000_000n),
      attributes: [
        { key: 'messaging.operation.type', value: { stringValue: 'process' } },
        { key: 'messaging.client.id', value: { stringValue: client } },
        { key: 'messaging.message.id', value: { stringValue: `${client}-m` } },
        { key: 'exclusive_consumer.key.hash', value: { stringValue: 'h1' } },
        ...extra,
      ],
      status: { code: 0 },
    });
    const doc = {
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                span('a', 0, 100),
                // Waited 100 ms for the lease a held: its run starts at 100, touching a's end.
                span('b', 0, 150, [{ key: 'exclusive_consumer.lock_wait_ms', value: { doubleValue: 100 } }, { key: 'exclusive_consumer.outcome', value: { stringValue: 'retry' } }]),
                { name: 'send t', attributes: [], startTimeUnixNano: '0', endTimeUnixNano: '1' },
              ],
            },
          ],
        },
      ],
    };
    const report = checkSpans(doc);
    expect(report.runs).toBe(2);
    expect(report.overlapCount).toBe(0);
    // One JSON document per line, as the collector's file exporter writes.
    const lines = `${JSON.stringify(doc)}\n${JSON.stringify(doc)}`;
    expect(checkSpans(lines).runs).toBe(4);
  });
});

describe('npx exclusive-consumer check', () => {
  const cli = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: join(__dirname, '..', '..') });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('exits 0 on a clean history, 1 with examples on violations, 2 on unusable input; --json prints the report', async () => {
    const clean = join(dir, 'clean.jsonl');
    const planted = join(dir, 'planted.jsonl');
    const mixed = join(dir, 'mixed.jsonl');
    writeFileSync(clean, CLEAN);
    writeFileSync(planted, PLANTED);
    writeFileSync(mixed, log([['a', 'k', 1, 0, 10]], 'boot:1'));
    const ok = await cli('check', clean);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('OK: no overlap');
    const bad = await cli('check', planted);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('overlaps: 2 (1 within one consumer, 1 across consumers)');
    expect(bad.stdout).toContain('key k1, across consumers, 5 µs');
    expect(bad.stdout).toContain('key k3: sequence numbers first succeeded in the order 6, 5');
    expect(bad.stdout).toContain('message m7 of key k4: by a, b');
    const json = await cli('check', '--json', planted);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ overlapCount: 2, violated: true });
    // Two files merged: a clean one and one whose clock differs.
    const clocks = await cli('check', clean, mixed);
    expect(clocks.code).toBe(2);
    expect(clocks.stderr).toContain('EC_MIXED_CLOCKS');
    expect((await cli('check')).code).toBe(2);
    expect((await cli('check', join(dir, 'missing.jsonl'))).code).toBe(2);
    expect((await cli('nonsense')).code).toBe(2);
    // An OTLP export is detected.
    const spans = join(dir, 'spans.json');
    writeFileSync(spans, JSON.stringify({ resourceSpans: [] }));
    expect((await cli('check', spans)).stderr).toContain('No runs found');
  });
});
