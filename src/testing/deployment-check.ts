import { checkHistory, WALL_CLOCK, type CheckHistoryOptions, type HistoryReport, type PublishedEvent, type RunRecord } from './history.js';

/**
 * What {@link checkRunLog} and {@link checkSpans} found in a deployment's history: the
 * {@link HistoryReport} of its runs, with the order checked against each key's sequence numbers
 * (when the records carry them) and repeats counted by message id.
 *
 * - `overlaps`: two runs of one key at once, within one consumer (an engine bug) or across two (a
 *   routing window, a lease lost).
 * - `orderViolations`: a key's events that first succeeded out of sequence-number order.
 * - `repeats`: messages that ran successfully more than once (allowed by at-least-once delivery).
 * - `lost` here means "ran, never succeeded in this history" (dead-lettered, or cut short): a
 *   deployment's log does not say what was published.
 */
export interface DeploymentReport extends HistoryReport {
  /** Distinct keys seen. */
  readonly keys: number;
  /** Consumers seen, by name. */
  readonly consumers: readonly string[];
  /** The clock the records were stamped on. */
  readonly clock: string | undefined;
  /** Messages that ran successfully more than once, with the consumers that ran them. */
  readonly repeats: ReadonlyArray<{ readonly messageId: string; readonly key: string; readonly consumers: readonly string[] }>;
  /** Lines or spans that could not be read (malformed JSON, an end without a start…). */
  readonly skipped: number;
  /** Lines the writers reported dropped (a full buffer). */
  readonly dropped: number;
  /** Whether the history breaks exclusivity or order: overlaps or order violations. */
  readonly violated: boolean;
}

/** Options of {@link checkRunLog} and {@link checkSpans}. */
export type DeploymentCheckOptions = Pick<CheckHistoryOptions, 'endOfHistory' | 'maxListedOverlaps'>;

/** Records parsed from run logs or spans, and what could not be read. */
export interface ParsedRuns {
  readonly runs: readonly RunRecord[];
  readonly skipped: number;
  readonly dropped: number;
}

type Json = Record<string, unknown>;

const linesOf = (input: string | Iterable<string>): Iterable<string> => (typeof input === 'string' ? input.split('\n') : input);

function parseLine(line: string): Json | undefined {
  const text = line.trim();
  if (text === '') return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
  } catch {
    return undefined;
  }
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/**
 * The runs of one or more run logs written by `runLog` (JSON lines, merged in any order: the
 * lines of several processes may be concatenated). A run whose end line is missing (its process
 * died, or the log was cut) is open.
 */
export function parseRunLog(input: string | Iterable<string>): ParsedRuns {
  const starts = new Map<string, Json>();
  const ends = new Map<string, Json>();
  let skipped = 0;
  let dropped = 0;
  for (const line of linesOf(input)) {
    if (line.trim() === '') continue;
    const entry = parseLine(line);
    const run = entry?.run;
    if (entry?.ev === 'dropped') {
      dropped += num(entry.count) ?? 0;
      continue;
    }
    if (entry === undefined || typeof run !== 'string' || num(entry.t) === undefined) {
      skipped += 1;
      continue;
    }
    if (entry.ev === 'start' && typeof entry.key === 'string' && typeof entry.consumer === 'string' && Array.isArray(entry.messages)) {
      starts.set(run, entry);
    } else if (entry.ev === 'end') ends.set(run, entry);
    else skipped += 1;
  }
  const runs: RunRecord[] = [];
  for (const [run, start] of starts) {
    const end = ends.get(run);
    ends.delete(run);
    const messages = start.messages as Array<{ id?: unknown; seq?: unknown }>;
    for (const message of messages) {
      runs.push({
        consumer: start.consumer as string,
        key: start.key as string,
        messageId: typeof message.id === 'string' ? message.id : '',
        seq: num(message.seq),
        start: start.t as number,
        end: end === undefined ? undefined : Math.max(end.t as number, start.t as number),
        ok: end?.ok === true,
        token: num(start.token),
        clock: typeof start.clock === 'string' ? start.clock : undefined,
        ...(messages.length > 1 ? { run } : {}),
      });
    }
  }
  skipped += ends.size; // ends whose start is not in the logs
  return { runs, skipped, dropped };
}

/** An OTLP JSON attribute value as a JavaScript value. */
function otlpValue(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Json;
  if ('stringValue' in v) return v.stringValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('boolValue' in v) return v.boolValue;
  return undefined;
}

function attributesOf(list: unknown): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (!Array.isArray(list)) return out;
  for (const a of list as Array<{ key?: unknown; value?: unknown }>) if (typeof a.key === 'string') out.set(a.key, otlpValue(a.value));
  return out;
}

/** Microseconds (floored) of an OTLP `…TimeUnixNano`, a decimal string or a number. */
function micros(nanos: unknown): number | undefined {
  if (typeof nanos === 'string' && /^\d+$/.test(nanos)) return Number(BigInt(nanos) / 1000n);
  if (typeof nanos === 'number' && Number.isFinite(nanos)) return Math.floor(nanos / 1000);
  return undefined;
}

/** Options of {@link parseSpans}. */
export interface ParseSpansOptions {
  /** A span attribute holding the event's sequence number (set it in `tracing({ startHook })`), for the order check. */
  readonly seqAttribute?: string;
}

/**
 * The runs in an OTLP JSON trace export (`{ resourceSpans: […] }`, one document or JSON lines of
 * them, as the collector's file exporter writes): every `process <topic>` span of the library's
 * `tracing()` is a run of key `exclusive_consumer.key` (or `.key.hash`) by consumer
 * `messaging.client.id`. A run waiting for its lease starts its span at the wait: the wait
 * (`exclusive_consumer.lock_wait_ms`) is taken off. Span times are wall-clock, so every run is on
 * clock `wall`. A run succeeded when its outcome was `ack` (or, without an outcome, its status
 * is not ERROR).
 */
export function parseSpans(input: string | Iterable<string> | object, options: ParseSpansOptions = {}): ParsedRuns {
  const documents: unknown[] = [];
  let skipped = 0;
  if (typeof input === 'object' && !(Symbol.iterator in input)) documents.push(input);
  else {
    const text = typeof input === 'string' ? input : [...(input as Iterable<string>)].join('\n');
    const whole = parseLine(text.includes('\n') ? text.replace(/\n/g, ' ') : text);
    if (whole !== undefined && 'resourceSpans' in whole) documents.push(whole);
    else
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue;
        const doc = parseLine(line);
        if (doc === undefined) skipped += 1;
        else documents.push(doc);
      }
  }
  const runs: RunRecord[] = [];
  for (const doc of documents) {
    for (const rs of ((doc as Json).resourceSpans as Json[] | undefined) ?? []) {
      const resource = attributesOf((rs.resource as Json | undefined)?.attributes);
      for (const ss of (rs.scopeSpans as Json[] | undefined) ?? []) {
        for (const span of (ss.spans as Json[] | undefined) ?? []) {
          const a = attributesOf(span.attributes);
          if (a.get('messaging.operation.type') !== 'process' || typeof span.name !== 'string' || !span.name.startsWith('process ')) continue;
          const key = a.get('exclusive_consumer.key') ?? a.get('exclusive_consumer.key.hash');
          const consumer = a.get('messaging.client.id') ?? resource.get('service.instance.id');
          const start = micros(span.startTimeUnixNano);
          const end = micros(span.endTimeUnixNano);
          if (typeof key !== 'string' || typeof consumer !== 'string' || start === undefined) {
            skipped += 1;
            continue;
          }
          const waitMs = num(a.get('exclusive_consumer.lock_wait_ms')) ?? 0;
          const ran = start + Math.floor(waitMs * 1000);
          const status = (span.status as Json | undefined)?.code;
          const failed = status === 2 || status === 'STATUS_CODE_ERROR';
          const outcome = a.get('exclusive_consumer.outcome');
          const seq = options.seqAttribute === undefined ? undefined : num(a.get(options.seqAttribute));
          const token = num(a.get('exclusive_consumer.fencing_token'));
          runs.push({
            consumer,
            key,
            messageId: String(a.get('messaging.message.id') ?? ''),
            seq,
            start: end === undefined ? ran : Math.min(ran, end),
            end,
            ok: end !== undefined && (outcome === undefined ? !failed : outcome === 'ack'),
            token,
            clock: WALL_CLOCK,
          });
        }
      }
    }
  }
  return { runs, skipped, dropped: 0 };
}

/**
 * Check parsed runs as a deployment's history: {@link checkHistory} with each key's events expected
 * to first succeed in sequence-number order (for records that carry one), and repeats by message id.
 *
 * @throws MixedClocksError when the records were stamped on different clocks (monotonic stamps of
 * two machines, or monotonic and wall-clock stamps): write every run log with `clock: 'wall'`, or
 * check each machine's logs on their own.
 */
export function checkRuns(parsed: ParsedRuns, options: DeploymentCheckOptions = {}): DeploymentReport {
  const { runs } = parsed;
  // Each key's sequence numbers in ascending order stand for the publish order.
  const seqs = new Map<number, string>();
  for (const r of runs) if (r.seq !== undefined && !seqs.has(r.seq)) seqs.set(r.seq, r.key);
  const published: PublishedEvent[] = [...seqs].sort((a, b) => a[0] - b[0]).map(([seq, key]) => ({ key, seq }));
  const report = checkHistory(runs, { ...options, ...(published.length > 0 ? { published } : {}) });

  const okBy = new Map<string, { key: string; consumers: string[] }>();
  for (const r of runs) {
    if (!r.ok || r.messageId === '' || (options.endOfHistory !== undefined && (r.end ?? Infinity) > options.endOfHistory)) continue;
    const seen = okBy.get(r.messageId);
    if (seen === undefined) okBy.set(r.messageId, { key: r.key, consumers: [r.consumer] });
    else seen.consumers.push(r.consumer);
  }
  const repeats = [...okBy].filter(([, v]) => v.consumers.length > 1).map(([messageId, v]) => ({ messageId, ...v }));
  return {
    ...report,
    keys: new Set(runs.map((r) => r.key)).size,
    consumers: [...new Set(runs.map((r) => r.consumer))].sort(),
    clock: runs[0]?.clock,
    repeats,
    skipped: parsed.skipped,
    dropped: parsed.dropped,
    violated: report.overlapCount > 0 || report.orderViolations.length > 0,
  };
}

/**
 * Check the run logs `runLog` wrote (their text, or their lines; several processes' logs merged):
 * overlapping runs of one key within and across processes, runs out of order, repeats.
 *
 * @example
 * ```ts
 * const report = checkRunLog(readFileSync('runs-a.jsonl', 'utf8') + readFileSync('runs-b.jsonl', 'utf8'));
 * expect(report.overlaps).toEqual([]);
 * ```
 */
export function checkRunLog(input: string | Iterable<string>, options: DeploymentCheckOptions = {}): DeploymentReport {
  return checkRuns(parseRunLog(input), options);
}

/** Check an OTLP JSON trace export of the library's `process` spans (see {@link parseSpans}). */
export function checkSpans(input: string | Iterable<string> | object, options: DeploymentCheckOptions & ParseSpansOptions = {}): DeploymentReport {
  return checkRuns(parseSpans(input, options), options);
}
