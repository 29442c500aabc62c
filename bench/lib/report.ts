/** Result model of the bench, and its rendering as a markdown table. */
import { arch, cpus, release, totalmem, type as osType } from 'node:os';
import { formatBytes, formatRate, type Summary } from './util.js';

export type Unit = 'events/s' | 'ratio' | 'share' | 'bytes' | 'ms' | 'count';

export interface Row {
  /** Short stable id, e.g. `core.a`, `core.a/c`. */
  readonly id: string;
  /** What the figure is, for humans. */
  readonly figure: string;
  readonly unit: Unit;
  readonly value: Summary;
  /** e.g. `≥ 1,000,000 events/s`; absent for figures given for information. */
  readonly target?: string;
  /** Whether the target is met; absent when there is no target. */
  readonly pass?: boolean;
  readonly note?: string;
}

export interface ScenarioResult {
  readonly name: string;
  readonly title: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly rows: readonly Row[];
  readonly notes: readonly string[];
  readonly durationMs: number;
}

export interface BenchReport {
  readonly date: string;
  readonly machine: {
    readonly cpu: string;
    readonly cores: number;
    readonly memory: string;
    readonly os: string;
  };
  readonly node: string;
  readonly v8: string;
  readonly command: string;
  readonly quick: boolean;
  readonly rounds: number;
  readonly durationMs: number;
  /** 1-minute load average when the bench started and when it ended (other processes add noise). */
  readonly loadAverage: { readonly start: number; readonly end: number };
  readonly scenarios: readonly ScenarioResult[];
  /** Every row with a target, and whether all passed. */
  readonly passed: boolean;
}

export function machineInfo(): BenchReport['machine'] {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memory: formatBytes(totalmem()),
    os: `${osType()} ${release()} ${arch()}`,
  };
}

export function formatValue(unit: Unit, value: number): string {
  if (!Number.isFinite(value)) return 'error';
  switch (unit) {
    case 'events/s':
      return formatRate(value).replace('/s', ' ev/s');
    case 'ratio':
      return `${value.toFixed(2)}×`;
    case 'share':
      return `${(value * 100).toFixed(1)}%`;
    case 'bytes':
      return formatBytes(value);
    case 'ms':
      return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${value.toFixed(value >= 100 ? 0 : 1)} ms`;
    case 'count':
      return Number.isInteger(value) ? value.toLocaleString('en-US') : value.toFixed(1);
  }
}

function verdict(row: Row): string {
  if (row.pass === undefined) return 'info';
  return row.pass ? '**PASS**' : '**FAIL**';
}

export function renderMarkdown(report: BenchReport): string {
  const lines: string[] = [];
  lines.push('# exclusive-consumer benchmark results', '');
  lines.push(`- Date: ${report.date}`);
  lines.push(`- Machine: ${report.machine.cpu}, ${report.machine.cores} cores, ${report.machine.memory} RAM, ${report.machine.os}`);
  lines.push(`- Node ${report.node} (V8 ${report.v8})`);
  lines.push(`- Command: \`${report.command}\`${report.quick ? ' (quick smoke run: small sizes, not comparable to targets)' : ''}`);
  lines.push(`- Rounds per comparison: ${report.rounds} (contenders interleaved, order reversed every other round, forced GC before each run); figures are medians, min and max over rounds`);
  lines.push(
    `- Total time: ${(report.durationMs / 1000).toFixed(1)} s; 1-min load average ${report.loadAverage.start.toFixed(2)} at start, ${report.loadAverage.end.toFixed(2)} at end (on ${report.machine.cores} cores; the bench itself accounts for about 1)`,
  );
  const withTargets = report.scenarios.flatMap((s) => s.rows).filter((r) => r.pass !== undefined);
  const passed = withTargets.filter((r) => r.pass).length;
  lines.push(`- Targets: ${passed}/${withTargets.length} pass`, '');
  for (const s of report.scenarios) {
    lines.push(`## ${s.title}`, '');
    const params = Object.entries(s.params)
      .map(([k, v]) => `${k}=${typeof v === 'number' ? v.toLocaleString('en-US') : String(v)}`)
      .join(', ');
    lines.push(`Parameters: ${params}; took ${(s.durationMs / 1000).toFixed(1)} s.`, '');
    lines.push('| Figure | Median | Min | Max | Target | Result |');
    lines.push('| --- | ---: | ---: | ---: | --- | --- |');
    for (const r of s.rows) {
      const cells = [
        r.note === undefined ? r.figure : `${r.figure} <br><sub>${r.note}</sub>`,
        formatValue(r.unit, r.value.median),
        r.value.samples.length > 1 ? formatValue(r.unit, r.value.min) : '',
        r.value.samples.length > 1 ? formatValue(r.unit, r.value.max) : '',
        r.target ?? '',
        verdict(r),
      ];
      lines.push(`| ${cells.join(' | ')} |`);
    }
    lines.push('');
    for (const n of s.notes) lines.push(`- ${n}`);
    if (s.notes.length > 0) lines.push('');
  }
  return lines.join('\n');
}
