/**
 * The operational assets in ops/ (and the alert example of docs/observability.md) query only
 * metrics the library emits, under the names Prometheus gives them, derived from `Metrics` (the
 * one list the instruments are made from) with the translation docs/observability.md states:
 *
 * 1. characters other than [a-zA-Z0-9_] become `_`;
 * 2. the unit is appended unless the name ends with it: `s` → `seconds`, `ms` → `milliseconds`,
 *    `By` → `bytes`, `1` → `ratio` on gauges only; a `{annotation}` unit is dropped;
 * 3. counters get `_total`; up-down counters and gauges none;
 * 4. histograms are read as `_bucket`, `_sum`, `_count`.
 *
 * A renamed metric, a changed unit or instrument, or a typo in a query makes this fail.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import * as semconv from '../../src/otel/semconv.js';
import { Metrics, type MetricDefinition } from '../../src/otel/semconv.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

const UNIT_SUFFIXES: Readonly<Record<string, string>> = { s: 'seconds', ms: 'milliseconds', By: 'bytes' };

/** The Prometheus name of a metric, before the histogram series suffixes. */
function prometheusName(metric: MetricDefinition): string {
  let name = metric.name.replace(/[^a-zA-Z0-9_]/g, '_');
  let unit = '';
  if (metric.unit === '1') unit = metric.instrument === 'gauge' ? 'ratio' : '';
  else if (/^\{.*\}$/.test(metric.unit)) unit = '';
  else unit = UNIT_SUFFIXES[metric.unit] ?? metric.unit.replace(/[^a-zA-Z0-9]/g, '');
  if (unit !== '' && !name.endsWith(`_${unit}`)) name += `_${unit}`;
  if (metric.instrument === 'counter') name += '_total';
  return name;
}

/** Every series name Prometheus has of the library's metrics. */
function emittedSeries(): Set<string> {
  const out = new Set<string>();
  for (const metric of Object.values(Metrics)) {
    const name = prometheusName(metric);
    if (metric.instrument === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) out.add(name + suffix);
    else out.add(name);
  }
  return out;
}

/** Every attribute the library puts on metrics, as Prometheus labels. */
function labels(): Set<string> {
  const attributes = [
    ...Object.entries(semconv)
      .filter(([name, value]) => name.startsWith('ATTR_') && typeof value === 'string')
      .map(([, value]) => value as string),
    ...Object.values(semconv.MetricAttributes),
  ];
  return new Set(attributes.map((a) => a.replace(/[^a-zA-Z0-9_]/g, '_')));
}

const EMITTED = emittedSeries();
const LABELS = labels();
const OURS = /\b(?:exclusive_consumer|messaging)_[a-zA-Z0-9_]*/g;

/** Identifiers of `expr` in the library's namespaces that are neither an emitted series nor a label. */
function unknownNames(expr: string): string[] {
  // Label values and annotations' text are quoted: not names.
  const code = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return [...code.matchAll(OURS)].map((m) => m[0]).filter((name) => !EMITTED.has(name) && !LABELS.has(name));
}

/** Series names `expr` queries. */
function seriesOf(expr: string): string[] {
  const code = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return [...code.matchAll(OURS)].map((m) => m[0]).filter((name) => EMITTED.has(name));
}

interface Rule {
  readonly alert?: string;
  readonly expr: string;
}

function rulesOf(document: unknown): Rule[] {
  const groups = (document as { groups?: Array<{ rules?: Rule[] }> }).groups ?? [];
  return groups.flatMap((g) => g.rules ?? []);
}

/** Every `expr`/`query`/`definition` string in a Grafana dashboard (panels, nested rows, variables). */
function dashboardQueries(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) dashboardQueries(v, out);
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if ((k === 'expr' || k === 'query' || k === 'definition') && typeof v === 'string') out.push(v);
      else dashboardQueries(v, out);
    }
  }
  return out;
}

describe('the Prometheus names of the metrics', () => {
  it('follow the stated translation', () => {
    expect(prometheusName(Metrics.violations)).toBe('exclusive_consumer_exclusivity_violations_total');
    expect(prometheusName(Metrics.processDuration)).toBe('messaging_process_duration_seconds');
    expect(prometheusName(Metrics.inFlight)).toBe('exclusive_consumer_messages_in_flight');
    expect(prometheusName(Metrics.paused)).toBe('exclusive_consumer_transport_paused_ratio');
    expect(prometheusName(Metrics.lockWaitTime)).toBe('exclusive_consumer_lock_wait_time_seconds_total');
    expect(prometheusName(Metrics.oldestUnsettledAge)).toBe('exclusive_consumer_messages_oldest_unsettled_age_seconds');
    expect(prometheusName({ name: 'x.latency', unit: 'ms', instrument: 'histogram' })).toBe('x_latency_milliseconds');
    expect(prometheusName({ name: 'x.size_bytes', unit: 'By', instrument: 'gauge' })).toBe('x_size_bytes');
    expect(prometheusName({ name: 'x.up', unit: '1', instrument: 'counter' })).toBe('x_up_total');
  });

  it('are all distinct', () => {
    const names = Object.values(Metrics).map(prometheusName);
    expect(new Set(names).size).toBe(names.length);
  });

  it('catch a drifted name, unit or label', () => {
    expect(unknownNames('rate(exclusive_consumer_exclusivity_violation_total[5m])')).toEqual(['exclusive_consumer_exclusivity_violation_total']);
    expect(unknownNames('messaging_process_duration_milliseconds_bucket')).toEqual(['messaging_process_duration_milliseconds_bucket']);
    expect(unknownNames('exclusive_consumer_messages_in_flight_total')).toEqual(['exclusive_consumer_messages_in_flight_total']);
    expect(unknownNames('sum by (messaging_destination) (exclusive_consumer_messages_in_flight)')).toEqual(['messaging_destination']);
    expect(unknownNames('x{messaging_destination_name="exclusive_consumer_nothing"}')).toEqual([]);
  });
});

describe('ops/', () => {
  const alerts = parse(read('ops/alerts.yaml')) as unknown;
  const rules = rulesOf(alerts);
  const dashboard = JSON.parse(read('ops/grafana-dashboard.json')) as unknown;
  const queries = dashboardQueries(dashboard);

  it('alerts.yaml: every rule queries emitted metrics only, and the expected alerts are there', () => {
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      expect(typeof rule.expr, rule.alert).toBe('string');
      expect(unknownNames(rule.expr), rule.alert).toEqual([]);
      expect(seriesOf(rule.expr).length, `${rule.alert} queries none of the library's metrics`).toBeGreaterThan(0);
    }
    const queried = new Set(rules.flatMap((r) => seriesOf(r.expr)));
    // Violations, stale tokens, lease losses, dead letters, stuck handlers, lag and backlog; the
    // outbox's dead letters, backlog and stalls.
    for (const metric of [
      Metrics.violations,
      Metrics.staleWrites,
      Metrics.leasesLost,
      Metrics.deadLettered,
      Metrics.stuck,
      Metrics.oldestUnsettledAge,
      Metrics.subscriptionBacklog,
      Metrics.drainingHashes,
      Metrics.outboxDeadLettered,
      Metrics.outboxPending,
      Metrics.outboxSent,
    ]) {
      expect(queried, metric.name).toContain(prometheusName(metric));
    }
    const names = rules.map((r) => r.alert);
    expect(new Set(names).size).toBe(names.length);
    for (const alert of ['OutboxDeadLetters', 'OutboxBacklog', 'OutboxStalled']) expect(names).toContain(alert);
  });

  it('grafana-dashboard.json: every query of every panel and variable is on emitted metrics', () => {
    expect(queries.length).toBeGreaterThan(10);
    for (const query of queries) expect(unknownNames(query), query).toEqual([]);
    // Every metric the library emits has a panel.
    const shown = new Set(queries.flatMap(seriesOf).map((s) => s.replace(/_(bucket|sum|count)$/, '')));
    for (const metric of Object.values(Metrics)) expect(shown, metric.name).toContain(prometheusName(metric));
    // Panels have unique ids and a Prometheus data source.
    const panels = (dashboard as { panels: Array<{ id: number; type: string; datasource?: { type: string } }> }).panels;
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels.filter((p) => p.type !== 'row')) expect(p.datasource?.type).toBe('prometheus');
  });

  it('prometheus.yml loads the alert rules and scrapes the collector the collector config exposes', () => {
    const prometheus = parse(read('ops/prometheus.yml')) as { rule_files: string[]; scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }> };
    expect(prometheus.rule_files).toContain('alerts.yaml');
    const collector = parse(read('ops/otel-collector.yaml')) as {
      receivers: Record<string, unknown>;
      exporters: { prometheus: { endpoint: string; add_metric_suffixes: boolean } };
      service: { pipelines: { metrics: { receivers: string[]; exporters: string[] } } };
    };
    expect(collector.service.pipelines.metrics.receivers).toContain('otlp');
    expect(collector.service.pipelines.metrics.exporters).toContain('prometheus');
    // The names above assume the suffixes.
    expect(collector.exporters.prometheus.add_metric_suffixes).toBe(true);
    const port = collector.exporters.prometheus.endpoint.split(':').pop();
    expect(prometheus.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets)).some((t) => t.endsWith(`:${port}`))).toBe(true);
  });

  it("docs/observability.md: the alert examples and the names it quotes are the library's", () => {
    const doc = read('docs/observability.md');
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    const docRules = blocks.flatMap((b) => parseAllDocuments(b).flatMap((d) => rulesOf(d.toJS())));
    expect(docRules.length).toBeGreaterThan(0);
    for (const rule of docRules) expect(unknownNames(rule.expr), rule.alert).toEqual([]);
    // Prometheus names quoted in the text.
    const quoted = [...doc.matchAll(/`((?:exclusive_consumer|messaging)_[a-z0-9_]+)`/g)].map((m) => m[1] as string);
    for (const name of quoted) expect(unknownNames(name), name).toEqual([]);
  });
});
