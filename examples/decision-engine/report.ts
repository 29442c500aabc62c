/** The tables and the conclusions, all computed from the measured results. */
import type { ScenarioResult } from './scenario.js';

const int = (x: number): string => Math.round(x).toLocaleString('en-US');
const ms = (x: number): string => (Number.isNaN(x) ? '–' : x < 10 ? `${x.toFixed(1)} ms` : `${int(x)} ms`);
const plural = (n: number, one: string, many = `${one}s`): string => `${int(n)} ${n === 1 ? one : many}`;

function render(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** The headline table. */
export function table(results: readonly ScenarioResult[]): string {
  return render(
    [
      'mode',
      'events/s',
      'exclusivity violations',
      'duplicate sends',
      'stale commits rejected',
      'p50 latency',
      'p99 latency',
      'fast-key p99 wait',
    ],
    results.map((r) => [
      r.spec.label,
      int(r.eventsPerSecond),
      int(r.violations),
      int(r.duplicateSends),
      r.staleRejected === undefined ? '– (no fence)' : int(r.staleRejected),
      ms(r.latencyP50),
      ms(r.latencyP99),
      ms(r.fastWaitP99),
    ]),
  );
}

/** What the decisions came to, and what it cost in handler runs. */
export function details(results: readonly ScenarioResult[]): string {
  return render(
    [
      'mode',
      'shoppers to message',
      'messages sent',
      'gateway calls',
      'repeats deduped',
      'missed shoppers',
      'states missing events',
      'extra handler runs',
      'retries',
      'dead-lettered',
    ],
    results.map((r) => [
      r.spec.label,
      int(r.shouldMessage),
      int(r.sends),
      int(r.gatewayCalls),
      int(r.repeatsDeduped),
      int(r.missedSends),
      int(r.lostUpdates),
      int(r.redundantRuns),
      int(r.retries),
      int(r.deadLettered),
    ]),
  );
}

/** A few plain sentences, each one derived from the numbers above it. */
export function conclusions(results: readonly ScenarioResult[]): string[] {
  const out: string[] = [];
  const by = (label: string): ScenarioResult | undefined => results.find((r) => r.spec.label === label);
  const names = (rs: readonly ScenarioResult[]): string => rs.map((r) => r.spec.label).join('; ') || 'none';

  const clean = results.filter((r) => r.duplicateSends === 0);
  out.push(`Zero duplicate sends: ${names(clean)}.`);
  const dispatched = results.filter((r) => r.dispatch !== undefined);
  if (dispatched.length > 0) {
    const sum = (f: (r: ScenarioResult) => number): number => dispatched.reduce((n, r) => n + f(r), 0);
    const twice = dispatched.filter((r) => r.duplicateSends > 0);
    out.push(
      `Fault phase (${names(dispatched)}): the outbox's first dispatcher died with ${plural(sum((r) => r.dispatch!.inFlightAtCrash), 'send')} ` +
        `the gateway had accepted but it never recorded, and the gateway refused ${plural(sum((r) => r.dispatch!.refused), 'first attempt')}; ` +
        `the second dispatcher sent them again under the same idempotency keys (${plural(sum((r) => r.repeatsDeduped), 'repeat')} ` +
        `deduplicated by the gateway, ${plural(sum((r) => r.dispatch!.retried), 'retry', 'retries')}), and ` +
        (twice.length === 0 ? 'no shopper got a second message.' : `${names(twice)} still messaged a shopper twice.`),
    );
  }
  for (const r of results.filter((x) => x.duplicateSends > 0)) {
    out.push(
      `Split brain in ${r.spec.label}: ${plural(r.shoppersMessagedTwice, 'shopper')} got ${plural(r.duplicateSends, 'extra message')}; ` +
        `${plural(r.lostUpdates, 'shopper state')} lost concurrent updates` +
        (r.missedSends > 0 ? `, so ${plural(r.missedSends, 'shopper')} who should have been messaged never were.` : '.'),
    );
  }

  for (const r of results.filter((x) => x.violations > 0 && x.duplicateSends === 0)) {
    const stale = r.staleRejected ?? 0;
    out.push(
      `${r.spec.label}: the exclusivity counter saw ${plural(r.violations, 'overlapping run')} of one shopper, yet no duplicate send: ` +
        (stale > 0
          ? `the outbox rejected ${plural(stale, 'stale commit')}, and a rejected commit sends nothing.`
          : 'every write was a fenced read-modify-write, so the later run saw the earlier decision.'),
    );
  }
  const exclusive = results.filter((r) => r.violations === 0);
  out.push(`No overlapping runs of one shopper at all, through the scale-up: ${names(exclusive)}.`);

  const fencedRows = results.filter((r) => r.staleRejected !== undefined);
  const whole = fencedRows.filter((r) => r.lostUpdates === 0 && r.missedSends === 0 && r.duplicateSends === 0);
  if (whole.length > 0) {
    out.push(
      `Exactly one message to every shopper who earned one, and every event in every shopper's state: ${names(whole)}.`,
    );
  }
  for (const r of fencedRows.filter((x) => x.lostUpdates > 0 || x.missedSends > 0)) {
    out.push(
      `${r.spec.label}: ${plural(r.lostUpdates, 'shopper state')} miss an event and ${plural(r.missedSends, 'shopper')} went unmessaged ` +
        `(${plural(r.onlyFencedOff, 'event')} ended only in fenced-off runs).`,
    );
  }

  const failover = by('failover');
  const serial = by('failover, serial');
  if (failover !== undefined && serial !== undefined) {
    const ratio = serial.fastWaitP99 / failover.fastWaitP99;
    out.push(
      `Head-of-line blocking: with one event at a time per consumer, the other shoppers waited ${ms(serial.fastWaitP99)} (p99) ` +
        `before their handler started, against ${ms(failover.fastWaitP99)} with per-key concurrency on the same partitions ` +
        `(${ratio >= 1 ? `${ratio.toFixed(0)}×` : `${ratio.toFixed(2)}×`}), at ${int(serial.eventsPerSecond)} events/s ` +
        `against ${int(failover.eventsPerSecond)}.`,
    );
  }
  for (const r of results.filter((x) => x.spec.mode === 'failover' && x.redundantRuns - x.retries > 0)) {
    out.push(
      `${r.spec.label}: ${plural(r.redundantRuns - r.retries, 'event')} ran a second time after the partition hand-over ` +
        `(the broker rewinds unacknowledged messages to the new consumer while the old one still works through them).`,
    );
  }
  const locked = by('shared-locked');
  const keyShared = by('key-shared');
  if (locked !== undefined && keyShared !== undefined) {
    out.push(
      `Waiting for locks: shared-locked latency p50 ${ms(locked.latencyP50)}, p99 ${ms(locked.latencyP99)}, ` +
        `against ${ms(keyShared.latencyP50)} and ${ms(keyShared.latencyP99)} for key-shared, where the broker routes each shopper to one consumer.`,
    );
  }
  // Publishing is paced: a mode that keeps up ends soon after the last publish.
  out.push(
    `Done after the last publish: ` +
      results
        .map((r, i) => {
          const window = i === 0 || r.spec.workload.publishMs !== results[0]!.spec.workload.publishMs;
          return `${r.spec.label} ${ms(r.drainMs)}${window ? ` (of a ${ms(r.publishedInMs)} publish at ${int(r.offeredPerSecond)} events/s)` : ''}`;
        })
        .join(', ') +
      '.',
  );
  for (const r of results.filter((x) => x.drainMs > x.publishedInMs)) {
    out.push(
      `${r.spec.label} took longer to catch up than the events took to publish: it handled ${int(r.eventsPerSecond)} events/s ` +
        `of the ${int(r.offeredPerSecond)} offered.`,
    );
  }
  for (const r of results.filter((x) => x.failures.size > 0)) {
    const reasons = [...r.failures].map(([name, count]) => `${int(count)} × ${name}`).join(', ');
    out.push(
      `${r.spec.label}: failed handler attempts: ${reasons} (a stale token makes the consumer give the ` +
        `shopper's messages back to the broker; other failures are retried in place).`,
    );
  }
  return out;
}
