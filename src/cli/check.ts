import { isExclusiveConsumerError } from '../errors/base.js';
import { checkRuns, parseRunLog, parseSpans, type DeploymentReport, type ParsedRuns } from '../testing/deployment-check.js';
import type { Overlap, RunRecord } from '../testing/history.js';

export const usage = `Usage: exclusive-consumer check [options] <file…>

Checks a deployment's history for overlapping runs of one key (within and across processes), runs
out of order and repeats. Files are run logs written by runLog() (JSON lines) or OTLP JSON trace
exports of the library's tracing(); several files are merged.

Options:
  --format runlog|otlp   input format (default: detected from the first line)
  --seq-attribute NAME   OTLP: span attribute holding the event's sequence number
  --examples N           examples listed per finding (default 5)
  --json                 print the report as JSON
  -h, --help             this help

Exit codes: 0 clean, 1 violations (overlaps or order), 2 unreadable input or bad usage.
`;

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function detect(text: string): 'runlog' | 'otlp' {
  const first = text.trimStart();
  return first.startsWith('{') && /^\{\s*"resourceSpans"/.test(first) ? 'otlp' : 'runlog';
}

const fmtRun = (r: RunRecord): string =>
  `${r.consumer} message ${r.messageId || '?'}${r.seq === undefined ? '' : ` seq ${r.seq}`}${r.token === undefined ? '' : ` token ${r.token}`} ` +
  `[${r.start} … ${r.end ?? 'open'}]`;

const overlapMicros = (o: Overlap): string => {
  const until = Math.min(o.first.end ?? Infinity, o.second.end ?? Infinity);
  return Number.isFinite(until) ? `${until - o.second.start} µs` : 'open';
};

/** The text report. */
function render(report: DeploymentReport, examples: number): string {
  const out: string[] = [];
  const across = report.overlaps.filter((o) => !o.sameConsumer);
  out.push(
    `${report.runs} runs of ${report.keys} keys by ${report.consumers.length} consumers (${report.consumers.join(', ')}), clock ${report.clock ?? 'unnamed'}`,
  );
  out.push(
    `overlaps: ${report.overlapCount} (${report.sameConsumerOverlapCount} within one consumer, ${report.overlapCount - report.sameConsumerOverlapCount} across consumers)`,
  );
  const perKey = new Map<string, number>();
  for (const o of report.overlaps) perKey.set(o.key, (perKey.get(o.key) ?? 0) + 1);
  if (perKey.size > 0) {
    const top = [...perKey].sort((a, b) => b[1] - a[1]).slice(0, examples);
    out.push(`  keys with most overlaps: ${top.map(([k, n]) => `${k} (${n})`).join(', ')}`);
  }
  for (const o of [...report.overlaps.filter((o) => o.sameConsumer), ...across].slice(0, examples)) {
    out.push(`  key ${o.key}, ${o.sameConsumer ? 'same consumer' : 'across consumers'}, ${overlapMicros(o)}:`);
    out.push(`    first:  ${fmtRun(o.first)}`);
    out.push(`    second: ${fmtRun(o.second)}`);
  }
  out.push(`order violations: ${report.orderViolations.length} keys`);
  for (const v of report.orderViolations.slice(0, examples)) {
    const shown = v.completed.slice(0, 20).join(', ');
    out.push(`  key ${v.key}: sequence numbers first succeeded in the order ${shown}${v.completed.length > 20 ? ', …' : ''}`);
  }
  out.push(`repeats: ${report.repeats.length} messages ran successfully more than once (allowed by at-least-once)`);
  for (const r of report.repeats.slice(0, examples)) out.push(`  message ${r.messageId} of key ${r.key}: by ${r.consumers.join(', ')}`);
  if (report.open.length > 0) out.push(`open runs (never ended in the logs): ${report.open.length}`);
  for (const r of report.open.slice(0, examples)) out.push(`  key ${r.key}: ${fmtRun(r)}`);
  if (report.lost.length > 0) out.push(`never succeeded in these logs: ${report.lost.length} events (dead-lettered, failed, or cut short)`);
  if (report.skipped > 0) out.push(`skipped: ${report.skipped} unreadable lines or spans`);
  if (report.dropped > 0) out.push(`dropped by the writers: ${report.dropped} lines (the history is incomplete)`);
  out.push(report.violated ? 'VIOLATED: exclusivity or order broken' : 'OK: no overlap, no order violation');
  return `${out.join('\n')}\n`;
}

/** `check <file…>` with `read` reading a file: the exit code and what to print. */
export function check(args: readonly string[], read: (path: string) => string): Result {
  const files: string[] = [];
  let format: 'runlog' | 'otlp' | undefined;
  let seqAttribute: string | undefined;
  let examples = 5;
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const value = (): string | undefined => args[++i];
    if (arg === '--json') json = true;
    else if (arg === '-h' || arg === '--help') return { code: 0, stdout: usage, stderr: '' };
    else if (arg === '--format') {
      const f = value();
      if (f !== 'runlog' && f !== 'otlp') return { code: 2, stdout: '', stderr: `--format must be runlog or otlp, got ${String(f)}\n${usage}` };
      format = f;
    } else if (arg === '--seq-attribute') seqAttribute = value();
    else if (arg === '--examples') {
      examples = Number(value());
      if (!Number.isInteger(examples) || examples < 0) return { code: 2, stdout: '', stderr: `--examples must be an integer ≥ 0\n${usage}` };
    } else if (arg.startsWith('-')) return { code: 2, stdout: '', stderr: `Unknown option ${arg}\n${usage}` };
    else files.push(arg);
  }
  if (files.length === 0) return { code: 2, stdout: '', stderr: `No file given\n${usage}` };

  let report: DeploymentReport;
  try {
    const parts: ParsedRuns[] = files.map((file) => {
      const text = read(file);
      return (format ?? detect(text)) === 'otlp' ? parseSpans(text, seqAttribute === undefined ? {} : { seqAttribute }) : parseRunLog(text);
    });
    const merged: ParsedRuns = {
      runs: parts.flatMap((p) => p.runs),
      skipped: parts.reduce((n, p) => n + p.skipped, 0),
      dropped: parts.reduce((n, p) => n + p.dropped, 0),
    };
    if (merged.runs.length === 0) return { code: 2, stdout: '', stderr: `No runs found in ${files.join(', ')} (${merged.skipped} lines skipped)\n` };
    report = checkRuns(merged);
  } catch (error) {
    const e = error as Error;
    const why = isExclusiveConsumerError(e) ? `${e.message} (${e.code})` : e.message;
    return { code: 2, stdout: '', stderr: `exclusive-consumer check: ${why}\n` };
  }
  const code = report.violated ? 1 : 0;
  return { code, stdout: json ? `${JSON.stringify(report, null, 2)}\n` : render(report, examples), stderr: '' };
}
