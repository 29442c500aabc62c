/** What a scenario module exports, and the interleaved-rounds driver the comparisons share. */
import type { Row, ScenarioResult, Unit } from './report.js';
import { gc, summarize } from './util.js';

export interface ScenarioContext {
  /** Smaller sizes and fewer rounds, for a smoke run. */
  readonly quick: boolean;
  /** Rounds of each interleaved comparison. */
  readonly rounds: number;
  log(message: string): void;
}

export interface Scenario {
  /** Name for `--only`. */
  readonly name: string;
  readonly title: string;
  run(ctx: ScenarioContext): Promise<ScenarioResult>;
}

/** What one run of one contender measured (every figure a number; NaN when the run failed). */
export type Measures = Readonly<Record<string, number>>;

/**
 * Run every contender once per round, interleaved, in the given order in even rounds and in reverse
 * in odd ones (A B C, C B A, A B C…: each contender's mean position is the same, and contenders
 * listed next to each other always run back to back, which keeps their paired ratios tight), with a
 * forced GC before each run. A run that throws is
 * logged and recorded as NaN figures (shown as `error`), so one broken contender does not lose the
 * others' figures.
 */
export async function interleave<K extends string>(
  ctx: ScenarioContext,
  names: readonly K[],
  run: (name: K, round: number) => Promise<Measures>,
  describe: (name: K, m: Measures) => string,
): Promise<Record<K, Measures[]>> {
  const results = {} as Record<K, Measures[]>;
  for (const name of names) results[name] = [];
  for (let round = 0; round < ctx.rounds; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[round % 2 === 0 ? i : names.length - 1 - i]!;
      gc();
      let m: Measures;
      try {
        m = await run(name, round);
      } catch (error) {
        ctx.log(`  round ${round + 1} ${name}: ERROR ${error instanceof Error ? error.message : String(error)}`);
        m = {};
      }
      results[name].push(m);
      if (Object.keys(m).length > 0) ctx.log(`  round ${round + 1} ${name}: ${describe(name, m)}`);
    }
  }
  return results;
}

/** Figure `key` of every round (NaN for a failed run). */
export function series(runs: readonly Measures[], key: string): number[] {
  return runs.map((m) => m[key] ?? Number.NaN);
}

/** Per-round ratio of two series measured in the same rounds (paired, so slow phases cancel out). */
export function pairedRatio(numerator: readonly number[], denominator: readonly number[]): number[] {
  return numerator.map((n, i) => n / (denominator[i] ?? Number.NaN));
}

/** A row; its summary ignores failed (NaN) samples, and a row with no valid sample fails. */
export function row(
  id: string,
  figure: string,
  unit: Unit,
  samples: readonly number[],
  target?: { readonly text: string; readonly ok: (median: number) => boolean },
  note?: string,
): Row {
  const valid = samples.filter((s) => Number.isFinite(s));
  const failed = samples.length - valid.length;
  const value = summarize(valid);
  const notes = [note, failed > 0 ? `${failed} of ${samples.length} runs failed` : undefined].filter(
    (n): n is string => n !== undefined,
  );
  return {
    id,
    figure,
    unit,
    value,
    ...(target === undefined
      ? {}
      : { target: target.text, pass: valid.length > 0 && failed === 0 && target.ok(value.median) }),
    ...(notes.length === 0 ? {} : { note: notes.join('; ') }),
  };
}
