/** Printing: a trace as a tree, and metrics as a Prometheus scrape would show them. */
import { SpanKind } from '@opentelemetry/api';
import { hrTimeToMilliseconds } from '@opentelemetry/core';
import { DataPointType, type MetricData } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

/** Attributes worth a glance in the tree (the rest is in the console exporter's dump). */
const SHOWN = [
  'messaging.message.id',
  'messaging.destination.partition.id',
  'messaging.client.id',
  'exclusive_consumer.key.hash',
  'exclusive_consumer.attempt',
  'exclusive_consumer.fencing_token',
  'exclusive_consumer.outcome',
  'decision.event_type',
  'decision.send',
];

/** One trace, children under their parent, in start order. */
export function traceTree(spans: readonly ReadableSpan[]): string {
  const byParent = new Map<string | undefined, ReadableSpan[]>();
  const ids = new Set(spans.map((s) => s.spanContext().spanId));
  for (const s of spans) {
    const parent = s.parentSpanContext?.spanId;
    const key = parent !== undefined && ids.has(parent) ? parent : undefined;
    byParent.set(key, [...(byParent.get(key) ?? []), s]);
  }
  const lines: string[] = [];
  const walk = (parent: string | undefined, depth: number): void => {
    const children = [...(byParent.get(parent) ?? [])].sort((a, b) => hrTimeToMilliseconds(a.startTime) - hrTimeToMilliseconds(b.startTime));
    for (const s of children) {
      const kind = SpanKind[s.kind];
      const attrs = SHOWN.filter((k) => s.attributes[k] !== undefined).map((k) => `${k.replace(/^exclusive_consumer\./, 'ec.')}=${String(s.attributes[k])}`);
      const ms = hrTimeToMilliseconds(s.duration).toFixed(2);
      const indent = depth === 0 ? '' : `${'   '.repeat(depth - 1)}└─ `;
      lines.push(`${indent}${s.name} [${kind}] ${ms} ms${attrs.length > 0 ? `  ${attrs.join(' ')}` : ''}`);
      walk(s.spanContext().spanId, depth + 1);
    }
  };
  walk(undefined, 0);
  return lines.join('\n');
}

/** Prometheus's name for an OpenTelemetry metric (dots to underscores, unit suffix, `_total`). */
export function prometheusName(metric: MetricData): string {
  const base = metric.descriptor.name.replace(/\./g, '_');
  const unit = metric.descriptor.unit === 's' ? '_seconds' : '';
  const total = metric.dataPointType === DataPointType.SUM && metric.isMonotonic ? '_total' : '';
  return `${base}${unit}${total}`;
}

/** The selected metrics as scrape lines, with the labels a dashboard would group by. */
export function scrape(metrics: readonly MetricData[], names: readonly string[]): string {
  const lines: string[] = [];
  const labelsOf = (attributes: Record<string, unknown>): string => {
    const keep = ['messaging_destination_name', 'messaging_consumer_group_name', 'exclusive_consumer_mode', 'error_type', 'exclusive_consumer_violation_source'];
    const labels = Object.entries(attributes)
      .map(([k, v]) => [k.replace(/\./g, '_'), v] as const)
      .filter(([k]) => keep.includes(k))
      .map(([k, v]) => `${k}="${String(v)}"`);
    return labels.length > 0 ? `{${labels.join(',')}}` : '';
  };
  for (const metric of metrics.filter((m) => names.includes(m.descriptor.name))) {
    const name = prometheusName(metric);
    // Sum data points that differ only by labels not shown (the consumer name of gauges).
    const rows = new Map<string, number>();
    for (const point of metric.dataPoints) {
      const labels = labelsOf(point.attributes);
      if (metric.dataPointType === DataPointType.HISTOGRAM) {
        const h = point.value as { count: number; sum?: number };
        rows.set(`${name}_count${labels}`, (rows.get(`${name}_count${labels}`) ?? 0) + h.count);
        rows.set(`${name}_sum${labels}`, (rows.get(`${name}_sum${labels}`) ?? 0) + (h.sum ?? 0));
      } else {
        rows.set(`${name}${labels}`, (rows.get(`${name}${labels}`) ?? 0) + (point.value as number));
      }
    }
    for (const [series, value] of rows) lines.push(`${series} ${Number.isInteger(value) ? value : value.toFixed(4)}`);
  }
  return lines.join('\n');
}
